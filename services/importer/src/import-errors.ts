/**
 * A bulk import that partly succeeded, on a server that writes the resources it refused to error files
 * (AHDS): the chunk's result from the report and those files. The refused resources are recorded with
 * their staged file and line, and the rest counts as imported, instead of re-applying the whole chunk
 * through REST (which on AHDS would also write a new version of every resource).
 *
 * The answer is undefined, and REST decides, unless everything adds up: every staged file is in the
 * report, each file's stored + failed equals its lines, and its error files name exactly as many
 * resources as the report says failed.
 */
import type {
  ImportErrorLine,
  ImportReport,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import type { ResourceIssue, StagedFile } from '@fhir-migrate/shared/contracts/events.ts';

export interface ErrorFilesResult {
  imported: Record<string, number>;
  failed: Record<string, number>;
  failures: ResourceIssue[];
}

/** The staged file an input URL stands for: its path ends with the file's key (query strings ignored). */
function fileOf(inputUrl: string, files: readonly StagedFile[]): StagedFile | undefined {
  let path: string;
  try {
    path = decodeURIComponent(new URL(inputUrl).pathname);
  } catch {
    return undefined;
  }
  return files.find((f) => path.endsWith(`/${f.key}`));
}

export async function resultFromErrorFiles(
  report: ImportReport,
  files: readonly StagedFile[],
  readErrors: (errorFileUrl: string) => Promise<ImportErrorLine[]>,
): Promise<ErrorFilesResult | undefined> {
  const result: ErrorFilesResult = { imported: {}, failed: {}, failures: [] };
  const reported = new Set<string>();
  for (const entry of report.files) {
    const file = fileOf(entry.url, files);
    if (!file || reported.has(file.key) || entry.succeeded + entry.failed !== file.lines) return undefined;
    reported.add(file.key);
    result.imported[file.type] = (result.imported[file.type] ?? 0) + entry.succeeded;
    if (entry.failed === 0) continue;
    const errors: ImportErrorLine[] = [];
    for (const url of entry.errorFiles ?? []) errors.push(...(await readErrors(url)));
    if (errors.length !== entry.failed) return undefined;
    result.failed[file.type] = (result.failed[file.type] ?? 0) + entry.failed;
    for (const error of errors)
      result.failures.push({
        type: file.type,
        file: file.key,
        ...(error.line !== undefined && error.line > 0 ? { line: error.line } : {}),
        reason:
          error.line !== undefined && error.line <= 0
            ? `${error.reason} (line ${error.line} as the destination counts)`
            : error.reason,
      });
  }
  if (files.some((f) => f.lines > 0 && !reported.has(f.key))) return undefined;
  return result;
}
