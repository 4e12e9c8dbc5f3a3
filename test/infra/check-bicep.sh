#!/usr/bin/env bash
# `npm run infra:check`: a syntax check of infra/*.bicep and the workbook (see check-bicep.py for what it
# does not check). pycep-parser is installed once into .test-servers/venv-infra from PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.test-servers/venv-infra
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pycep' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pycep-parser==0.7.1'
fi
exec "$venv/bin/python" test/infra/check-bicep.py
