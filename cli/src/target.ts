/**
 * What `verify` compares: the two servers from flags, environment or YAML — or, given only a state file,
 * the servers that migration recorded when it started. With a state file the runs are recorded there and
 * source resources newer than the migration's watermark count as pending, not missing.
 */
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { loadConfig } from '@fhir-migrate/shared/config/load.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import { storesFrom } from './commands.ts';
import { createLogger, fhirClientFor } from './compose.ts';
import { flagSettings } from './flags.ts';
import { openStores, type Stores } from './stores.ts';
import { type VerifyTarget, workDirFor } from './verify.ts';

const log = createLogger();

export async function openTarget(
  options: Record<string, unknown>,
): Promise<{ target: VerifyTarget; close(): Promise<void> }> {
  const statePath =
    typeof options.state === 'string' ? options.state : (process.env.FHIR_MIGRATE_STATE ?? undefined);
  const storesConfig = storesFrom(options);
  let stores: Stores | undefined;
  let ledger: Ledger | undefined;
  const flags = flagSettings(options);
  const migrationId = storesConfig.migrationId;
  let watermark: string | undefined;
  // A migration's ledger: a state file that was named, or the configured Cosmos DB.
  if (statePath || storesConfig.ledger === 'cosmos') {
    stores = await openStores(storesConfig, log, { mustExist: true });
    ledger = stores.ledger;
    const summary = await summarize(ledger, migrationId, new Date());
    watermark = summary.watermark;
    // The servers this migration recorded, unless flags or the environment name others.
    const fromState: [string[], string | undefined, string, string[]][] = [
      [['source', 'url'], summary.sourceUrl, 'source', ['FHIR_MIGRATE_SOURCE_URL', 'AZURE_SourceUri']],
      [
        ['destination', 'url'],
        summary.destinationUrl,
        'destination',
        ['FHIR_MIGRATE_DESTINATION_URL', 'AZURE_DestinationUri'],
      ],
    ];
    for (const [path, url, option, envNames] of fromState)
      if (url && options[option] === undefined && !envNames.some((n) => process.env[n]))
        flags.unshift({ path, value: url, flag: `--state (recorded ${option})` });
  }
  try {
    const { config, warnings } = loadConfig({
      ...(typeof options.config === 'string' ? { configFile: options.config } : {}),
      flags,
    });
    for (const w of warnings) log.warn(w);
    const source = fhirClientFor(config, 'source', log, 'fhir-migrate verify');
    const destination = fhirClientFor(config, 'destination', log, 'fhir-migrate verify');
    return {
      target: {
        source,
        destination,
        ...(ledger ? { ledger } : {}),
        migrationId,
        defaults: {
          resourceTypes: config.resourceTypes,
          surfaceCheckResources: config.surfaceCheckResources,
          deepCheckCount: config.deepCheckCount,
          ...(watermark ? { asOf: watermark } : {}),
        },
        workDir: workDirFor(statePath),
      },
      async close() {
        await source.close();
        await destination.close();
        await stores?.close();
      },
    };
  } catch (err) {
    await stores?.close();
    throw err;
  }
}
