/**
 * The servers' own floor: one `$export` of the whole dataset from the source, then one `$import` of the
 * export's file URLs straight into the destination — no tool, no staging, status polled every 100 ms so
 * that the figure is the servers' time and not a poller's.
 */
import { FhirHttpError, kickOff, pollUntilDone } from '../harness/fhir-http.ts';

export interface FloorResult {
  exportMs: number;
  importMs: number;
  totalMs: number;
  files: number;
  /** Resources the destination's $import report says it stored. */
  stored: number;
}

interface Manifest {
  output: { type: string; url: string }[];
  error?: unknown[];
}

export async function runFloor(
  sourceUrl: string,
  destinationUrl: string,
  types: readonly string[],
): Promise<FloorResult> {
  const started = Date.now();
  const exportStatus = await kickOff(`${sourceUrl}/$export?_type=${types.join(',')}`, { method: 'GET' });
  const exported = await pollUntilDone(exportStatus, { timeoutMs: 3_600_000, maxWaitMs: 100 });
  if (exported.status !== 200) throw new FhirHttpError(exportStatus, exported.status, exported.body);
  const exportDone = Date.now();
  const manifest = JSON.parse(exported.body) as Manifest;
  if ((manifest.error ?? []).length > 0)
    throw new Error(`the floor's $export reported errors: ${JSON.stringify(manifest.error).slice(0, 500)}`);
  const parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
      ...manifest.output.map((o) => ({
        name: 'input',
        part: [
          { name: 'type', valueCode: o.type },
          { name: 'url', valueUri: o.url },
        ],
      })),
    ],
  };
  const importStatus = await kickOff(`${destinationUrl}/$import`, {
    method: 'POST',
    body: JSON.stringify(parameters),
  });
  const imported = await pollUntilDone(importStatus, { timeoutMs: 3_600_000, maxWaitMs: 100 });
  if (imported.status !== 200) throw new FhirHttpError(importStatus, imported.status, imported.body);
  const done = Date.now();
  return {
    exportMs: exportDone - started,
    importMs: done - exportDone,
    totalMs: done - started,
    files: manifest.output.length,
    stored: storedCount(imported.body),
  };
}

/** HAPI's $import report: "Storage Actions : 9503 (123/sec)" inside the OperationOutcome's diagnostics. */
function storedCount(body: string): number {
  const match = /Storage Actions\s*:\s*(\d+)/.exec(JSON.parse(body)?.issue?.[0]?.diagnostics ?? '');
  if (!match)
    throw new Error(`the floor's $import report has no 'Storage Actions' count: ${body.slice(0, 300)}`);
  return Number(match[1]);
}
