/**
 * The `rest` import dialect on staged files: the product's own REST importer (batch Bundles of id-preserving
 * PUTs) applied to the files a tool run staged, and the search for the destination's knee — throughput over
 * concurrency × bundle size.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { createRestImporter } from '@fhir-migrate/shared/adapters/fhir-http/dialects/import-rest.ts';
import { type NdjsonLine, readNdjsonLines } from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';

export interface StagedFile {
  type: string;
  path: string;
}

/** Every staged NDJSON file under a run's staging folder (`objects/<migration>/<chunk>/<Type>-NNNN.ndjson`). */
export async function stagedFilesOf(stagingDir: string): Promise<StagedFile[]> {
  const root = join(stagingDir, 'objects');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ndjson'))
    .map((e) => ({ type: e.name.replace(/-\d+\.ndjson$/, ''), path: join(e.parentPath, e.name) }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

export interface RestRun {
  concurrency: number;
  bundleSize: number;
  resources: number;
  ms: number;
  resourcesPerSec: number;
}

/**
 * Applies the files through the REST importer. With `idSuffix`, every line's id gets the suffix, so that a
 * knee probe writes new resources (an unchanged PUT is a no-op for HAPI and would flatter the figure);
 * `limit` caps the lines taken from each type.
 */
export async function applyRest(
  destinationUrl: string,
  files: readonly StagedFile[],
  settings: { concurrency: number; bundleSize: number; idSuffix?: string; limitPerType?: number },
): Promise<RestRun> {
  const client = createFhirClient({ baseUrl: destinationUrl, timeoutMs: 300_000 });
  const importer = createRestImporter(client, {
    concurrency: settings.concurrency,
    bundleSize: settings.bundleSize,
  });
  const taken = new Map<string, number>();
  let resources = 0;
  const started = Date.now();
  try {
    for (const file of files) {
      async function* lines(): AsyncGenerator<NdjsonLine> {
        for await (const line of readNdjsonLines(createReadStream(file.path))) {
          const count = taken.get(file.type) ?? 0;
          if (settings.limitPerType !== undefined && count >= settings.limitPerType) return;
          taken.set(file.type, count + 1);
          yield settings.idSuffix ? { ...line, text: withIdSuffix(line.text, settings.idSuffix) } : line;
        }
      }
      const result = await importer.applyFile(file.type, lines());
      if (result.failed.length > 0)
        throw new Error(
          `REST import refused ${result.failed.length} resources of ${file.path}, first: ${JSON.stringify(result.failed[0])}`,
        );
      resources += result.imported;
    }
  } finally {
    await client.close();
  }
  const ms = Date.now() - started;
  return { ...settings, resources, ms, resourcesPerSec: resources / (ms / 1000) };
}

function withIdSuffix(text: string, suffix: string): string {
  const resource = JSON.parse(text) as { id: string };
  resource.id = `${resource.id}${suffix}`.slice(0, 64);
  return JSON.stringify(resource);
}
