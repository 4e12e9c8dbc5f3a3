"""Parses every Bicep file under infra/ with pycep-parser (a Python Bicep grammar), and infra/workbook.json.

The Bicep CLI (compiler and linter) is published on NuGet, which this machine cannot reach, so this is the
check that can run here: syntax only. It catches unbalanced braces, bad decorators, malformed expressions
and loops; it does not check types, resource schemas, API versions or lint rules.
"""
import json
import pathlib
import sys

from pycep import BicepParser  # noqa: E402  (installed by test/infra/check-bicep.sh)

root = pathlib.Path(__file__).resolve().parents[2] / "infra"
files = sorted(root.rglob("*.bicep"))
failures = []
resources = 0
parser = BicepParser()
for path in files:
    try:
        tree = parser.parse(file_path=path)
        resources += len((tree or {}).get("resources", {}) or {})
    except Exception as error:  # the parser raises lark errors with line and column
        failures.append(f"{path.relative_to(root.parent)}: {str(error).splitlines()[0][:300]}")
try:
    json.loads((root / "workbook.json").read_text())
except Exception as error:
    failures.append(f"infra/workbook.json: {error}")

for failure in failures:
    print(f"  FAILED {failure}")
print(f"infra check: {len(files)} Bicep files parsed ({resources} resources), workbook.json parsed, {len(failures)} failures")
sys.exit(1 if failures else 0)
