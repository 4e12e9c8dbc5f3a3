/**
 * The exporter's download → check → stage path, on a real staging folder, with an in-memory export dialect
 * standing in for the source (HAPI cannot produce bad lines or `deleted` files on demand).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type {
  ExportDialect,
  ExportManifest,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import { createFsStaging, type FsStaging } from '@fhir-migrate/shared/adapters/staging-fs/staging-fs.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stageExport } from './stage-files.ts';

const window = { since: '2025-01-01T00:00:00.000Z', till: '2025-01-02T00:00:00.000Z' };
const inWindow = '2025-01-01T10:00:00.123+00:00';

const files: Record<string, string> = {
  'http://src/Binary/p': [
    `{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"${inWindow}"},"extension":[{"url":"x","valueDecimal":1.50000000000000000000}]}`,
    '{"resourceType":"Patient","id":"p2","meta":{"lastUpdated":"2025-01-05T00:00:00Z"}}',
    '{"resourceType":"Patient","id":"p3",',
    `{"resourceType":"Observation","id":"o9","meta":{"lastUpdated":"${inWindow}"}}`,
    '',
    `{"resourceType":"Patient","id":"p4","meta":{"lastUpdated":"${inWindow}"}}`,
  ].join('\n'),
  'http://src/Binary/e': '',
  'http://src/Binary/d': [
    '{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient/gone1"}},{"request":{"method":"DELETE","url":"Observation/gone2"}}]}',
  ].join('\n'),
};

const manifest: ExportManifest = {
  transactionTime: '2025-01-03T00:00:00Z',
  requiresAccessToken: false,
  output: [
    { type: 'Patient', url: 'http://src/Binary/p' },
    { type: 'Encounter', url: 'http://src/Binary/e' },
  ],
  deleted: [{ type: 'Bundle', url: 'http://src/Binary/d' }],
  error: [],
};

const inMemoryDialect: ExportDialect = {
  name: 'bulkdata',
  kickOff: async () => ({ statusUrl: 'http://src/status/1' }),
  poll: async () => ({ state: 'completed', manifest }),
  openFile: async (url: string) => Readable.from([Buffer.from(files[url] ?? '')]),
  cancel: async () => {},
} as ExportDialect;

describe('staging an export (in-memory export dialect, real staging folder)', () => {
  let dir: string;
  let staging: FsStaging;
  let ctx: PipelineContext;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-stage-'));
    staging = await createFsStaging({ root: dir });
    ctx = {
      config: { migrationId: 'm1' },
      staging,
      exportDialect: inMemoryDialect,
      log: pino({ level: 'silent' }),
    } as unknown as PipelineContext;
  });
  afterEach(async () => {
    await staging.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stages valid lines byte for byte and records every refused line with its file and line', async () => {
    const result = await stageExport(ctx, 'chunk-000001', window, manifest);
    expect(result.exported).toEqual({ Patient: 6, Encounter: 0 });
    expect(result.staged).toEqual({ Patient: 3, Encounter: 0 });
    expect(result.outOfWindow).toBe(1);
    const key = 'm1/chunk-000001/Patient-0001.ndjson';
    expect(result.rejected.map((r) => ({ line: r.line, reason: r.reason, file: r.file }))).toEqual([
      { line: 3, reason: 'invalid-json', file: key },
      { line: 4, reason: 'wrong-type', file: key },
      { line: 5, reason: 'invalid-json', file: key },
    ]);
    const text = (await (await staging.get(key)).toArray()).join('');
    expect(text).toContain('"valueDecimal":1.50000000000000000000');
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).id),
    ).toEqual(['p1', 'p2', 'p4']);
    expect(result.files[0]).toMatchObject({ type: 'Patient', key, lines: 3, bytes: Buffer.byteLength(text) });
  });

  it("reads the manifest's deleted files into deletions", async () => {
    const result = await stageExport(ctx, 'chunk-000001', window, manifest);
    expect(result.deletions).toEqual([
      { type: 'Patient', id: 'gone1' },
      { type: 'Observation', id: 'gone2' },
    ]);
  });

  it('a redelivered stage replaces what an interrupted attempt left', async () => {
    await staging.put('m1/chunk-000001/Stale-9999.ndjson', Readable.from([Buffer.from('{}\n')]));
    await stageExport(ctx, 'chunk-000001', window, manifest);
    const keys = (await staging.list('m1/chunk-000001/')).map((o) => o.key);
    expect(keys).toEqual(['m1/chunk-000001/Encounter-0002.ndjson', 'm1/chunk-000001/Patient-0001.ndjson']);
  });

  it('names files after their export job: another export of the chunk gets other names (an AHDS $import body must differ), a redelivery the same', async () => {
    const first = await stageExport(
      ctx,
      'chunk-000001',
      window,
      manifest,
      'https://src/_operations/export/41',
    );
    const again = await stageExport(
      ctx,
      'chunk-000001',
      window,
      manifest,
      'https://src/_operations/export/41',
    );
    expect(again.files.map((f) => f.key)).toEqual(first.files.map((f) => f.key));
    expect(first.files[0]?.key).toMatch(/^m1\/chunk-000001\/job-[0-9a-f]{16}\/Patient-0001\.ndjson$/);
    const second = await stageExport(
      ctx,
      'chunk-000001',
      window,
      manifest,
      'https://src/_operations/export/42',
    );
    const secondKeys = second.files.map((f) => f.key);
    expect(secondKeys.some((k) => first.files.some((f) => f.key === k))).toBe(false);
    // Only the latest export's files remain under the chunk.
    expect((await staging.list('m1/chunk-000001/')).map((o) => o.key)).toEqual(secondKeys.sort());
  });

  it('downloads a file again from its first byte when the transfer breaks off, and stages it once', async () => {
    let opened = 0;
    const whole = files['http://src/Binary/p'] as string;
    ctx.exportDialect = {
      ...inMemoryDialect,
      openFile: async (url: string) => {
        if (url !== 'http://src/Binary/p') return inMemoryDialect.openFile(url);
        opened++;
        if (opened > 2) return Readable.from([Buffer.from(whole)]);
        // The first two transfers die after half the file, the way a reset connection ends a body.
        return Readable.from(
          (async function* () {
            yield Buffer.from(whole.slice(0, whole.length / 2));
            throw Object.assign(new Error('terminated'), { cause: { code: 'UND_ERR_SOCKET' } });
          })(),
        );
      },
    } as ExportDialect;
    const result = await stageExport(ctx, 'chunk-000001', window, manifest);
    expect(opened).toBe(3);
    expect(result.staged).toEqual({ Patient: 3, Encounter: 0 });
    // The same lines are refused as in a clean download, once each: nothing from the broken tries is kept.
    expect(result.rejected.map((r) => r.line)).toEqual([2, 3, 4].map((n) => n + 1));
    let staged = '';
    for await (const c of await staging.get('m1/chunk-000001/Patient-0001.ndjson')) staged += c.toString();
    expect(staged.split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('gives up after the last try, naming the file', async () => {
    ctx.exportDialect = {
      ...inMemoryDialect,
      openFile: async () =>
        Readable.from(
          (async function* () {
            yield Buffer.from('{"resourceType":"Patient"');
            throw Object.assign(new Error('terminated'), { cause: { code: 'UND_ERR_SOCKET' } });
          })(),
        ),
    } as ExportDialect;
    await expect(stageExport(ctx, 'chunk-000001', window, manifest)).rejects.toThrow(
      /export file m1\/chunk-000001\/Patient-0001.ndjson \(http:\/\/src\/Binary\/p\) broke off 4 times, last: .*terminated/,
    );
  });
});
