/**
 * Parser of HAPI's "Bulk Import Report" (GenerateReportReductionStep), which `$import-poll-status` returns
 * inside an OperationOutcome's diagnostics, usually wrapped as the JSON `{"reportMsg":"…"}`:
 *
 *   Bulk Import Report
 *   ------------------------------------------
 *   Start Time      : 2026-11-26 13:22:08.389
 *   Duration        : 1234ms
 *   Storage Actions : 12 (10/sec)
 *   ------------------------------------------
 *   Source: http://files/0.ndjson
 *     Outcomes:
 *       * FAILURE: 1
 *       * SUCCESSFUL_UPDATE_AS_CREATE: 12
 *     Errors:
 *       * HAPI-0931: Invalid reference found at path 'Observation.subject'. …
 */
import { redactText } from '../redact.ts';
import type { ImportFileReport, ImportReport } from './types.ts';

const reportHeading = 'Bulk Import Report';

/**
 * The report text inside a diagnostics string: the `reportMsg` of a JSON wrapper, or the text itself when it
 * is a bare report. Undefined when the string holds no report.
 */
export function extractReportText(diagnostics: string): string | undefined {
  const trimmed = diagnostics.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (typeof parsed === 'object' && parsed !== null && 'reportMsg' in parsed) {
        const msg = parsed.reportMsg;
        if (typeof msg === 'string' && msg.includes(reportHeading)) return msg;
      }
    } catch {
      // not JSON: fall through to the bare-text check
    }
  }
  return trimmed.includes(reportHeading) ? trimmed.slice(trimmed.indexOf(reportHeading)) : undefined;
}

/**
 * Per-source outcome counts. `succeeded` sums the SUCCESSFUL_* codes (SUCCESSFUL_UPDATE_NO_CHANGE included);
 * `failed` sums every other code (FAILURE, …), or counts the listed errors when there are more of those.
 * Error lines that wrap are joined to their item.
 */
export function parseBulkImportReport(text: string): ImportReport {
  const files: ImportFileReport[] = [];
  let current: ImportFileReport | undefined;
  let section: 'none' | 'outcomes' | 'errors' = 'none';
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trimEnd();
    const source = /^Source:\s*(.*)$/.exec(line);
    if (source) {
      current = { url: source[1] ?? '', outcomes: {}, succeeded: 0, failed: 0, errors: [] };
      files.push(current);
      section = 'none';
      continue;
    }
    if (!current) continue;
    if (/^\s+Outcomes:$/.test(line)) {
      section = 'outcomes';
      continue;
    }
    if (/^\s+Errors:$/.test(line)) {
      section = 'errors';
      continue;
    }
    const item = /^\s+\*\s?(.*)$/.exec(line);
    if (section === 'outcomes' && item) {
      const count = /^([A-Z][A-Z0-9_]*):\s*(\d+)$/.exec(item[1] ?? '');
      if (count?.[1] && count[2]) {
        current.outcomes[count[1]] = (current.outcomes[count[1]] ?? 0) + Number(count[2]);
      }
    } else if (section === 'errors' && item) {
      current.errors.push(redactText(item[1] ?? ''));
    } else if (section === 'errors' && line.trim() !== '' && current.errors.length > 0) {
      const last = current.errors.length - 1;
      current.errors[last] = `${current.errors[last]}\n${redactText(line.trim())}`;
    }
  }
  for (const file of files) {
    let unsuccessful = 0;
    for (const [code, count] of Object.entries(file.outcomes)) {
      if (code.startsWith('SUCCESSFUL')) file.succeeded += count;
      else unsuccessful += count;
    }
    // HAPI counts a failed entry as a FAILURE outcome and also lists its error: count it once.
    file.failed = Math.max(unsuccessful, file.errors.length);
  }
  return { files, raw: redactText(text) };
}
