/**
 * Run as its own process by the benchmark, so that its peak RSS is the copy's alone:
 *   tsx test/bench/staging-copy-child.ts <raw|tool> <fhir base url> <file url> <staging dir>
 * `tool` pulls the file through the exporter's own path (download → per-line check → staging put with
 * hash); `raw` pipes the same download straight to a file, the side-by-side baseline. Prints one JSON line.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stageExport } from '@fhir-migrate/exporter/src/stage-files.ts';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { createExportDialect } from '@fhir-migrate/shared/adapters/fhir-http/dialects/factory.ts';
import { createFsStaging } from '@fhir-migrate/shared/adapters/staging-fs/staging-fs.ts';
import { configSchema } from '@fhir-migrate/shared/config/schema.ts';
import pino from 'pino';

const [mode, baseUrl, fileUrl, dir] = process.argv.slice(2);
if ((mode !== 'raw' && mode !== 'tool') || !baseUrl || !fileUrl || !dir)
  throw new Error('usage: staging-copy-child.ts <raw|tool> <fhir base url> <file url> <staging dir>');

const client = createFhirClient({ baseUrl, timeoutMs: 600_000 });
const exportDialect = createExportDialect('hapi', client);
const started = process.hrtime.bigint();
let bytes = 0;
let lines = 0;
if (mode === 'raw') {
  await mkdir(dir, { recursive: true });
  const body = await exportDialect.openFile(fileUrl);
  await pipeline(
    body,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(join(dir, 'raw.ndjson')),
  );
} else {
  const staging = await createFsStaging({ root: dir });
  const config = configSchema.parse({ source: { url: baseUrl }, destination: { url: baseUrl } });
  const result = await stageExport(
    { config, staging, exportDialect, log: pino({ level: 'warn' }, pino.destination(2)) },
    'chunk-000001',
    { since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z' },
    {
      transactionTime: '2026-02-01T00:00:00Z',
      requiresAccessToken: false,
      output: [{ type: 'Observation', url: fileUrl }],
      deleted: [],
      error: [],
    },
  );
  await staging.close();
  if (result.rejected.length > 0)
    throw new Error(
      `the staging copy refused ${result.rejected.length} lines, first: ${JSON.stringify(result.rejected[0])}`,
    );
  bytes = result.files.reduce((n, f) => n + f.bytes, 0);
  lines = result.staged.Observation ?? 0;
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
await client.close();
process.stdout.write(
  `${JSON.stringify({ mode, bytes, lines, ms, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
