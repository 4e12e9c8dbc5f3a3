/**
 * fhir-migrate — continuously migrate FHIR R4 data between FHIR servers.
 *   run | service <name> | status | plan
 */

import { existsSync } from 'node:fs';
import { buildApp } from '@fhir-migrate/api/src/app.ts';
import { createAuthProvider } from '@fhir-migrate/shared/adapters/fhir-http/auth-factory.ts';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { openSqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { ConfigError, loadConfig } from '@fhir-migrate/shared/config/load.ts';
import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from './compose.ts';
import { addConfigFlags, flagSettings } from './flags.ts';
import { dryRunPlan } from './plan.ts';
import { type PipelineService, runPipeline } from './run.ts';
import { renderSummary } from './status.ts';

const log = createLogger();
const program = new Command('fhir-migrate').description(
  'Continuously migrate FHIR R4 data from a source FHIR server to a destination.',
);

function configFrom(options: Record<string, unknown>) {
  const { config, warnings } = loadConfig({
    ...(typeof options.config === 'string' ? { configFile: options.config } : {}),
    flags: flagSettings(options),
  });
  for (const w of warnings) log.warn(w);
  return config;
}

addConfigFlags(
  program
    .command('run')
    .description('run planner, exporter, importer and verifier in this process')
    .option('--until-caught-up', 'exit once every window up to now − safetyLag is imported and verified'),
).action(async (options: Record<string, unknown>) => {
  const config = configFrom(options);
  const result = await runPipeline(config, log, {
    services: ['planner', 'exporter', 'importer', 'verifier'],
    untilCaughtUp: options.untilCaughtUp === true,
    serviceOptions: testFaults(),
  });
  process.stderr.write(`${renderSummary(result.summary)}\n${result.reason}\n`);
  process.exitCode = result.exitCode;
});

const serviceNames = ['planner', 'exporter', 'importer', 'verifier', 'api'] as const;
addConfigFlags(
  program
    .command('service')
    .description('run one service; several processes sharing one --state file form the pipeline')
    .argument('<name>', serviceNames.join(' | '), (v) => {
      if (!(serviceNames as readonly string[]).includes(v))
        throw new InvalidArgumentError(`expected one of ${serviceNames.join(', ')}`);
      return v;
    })
    .option('--port <n>', 'api: port to listen on (default 8080)')
    .option('--host <address>', 'api: address to listen on (default 127.0.0.1)'),
).action(async (name: string, options: Record<string, unknown>) => {
  if (name === 'api') {
    const state = String(options.state ?? process.env.FHIR_MIGRATE_STATE ?? 'fhir-migrate.sqlite');
    const db = openSqliteDatabase(state);
    const app = buildApp({ ledger: createSqliteLedger(db) });
    const address = await app.listen({
      port: Number(options.port ?? 8080),
      host: String(options.host ?? '127.0.0.1'),
    });
    log.info({ address }, 'api listening');
    return;
  }
  const config = configFrom(options);
  const result = await runPipeline(config, log, {
    services: [name as PipelineService],
    untilCaughtUp: false,
    progress: false,
    serviceOptions: testFaults(),
  });
  log.info({ reason: result.reason }, 'service stopped');
  process.exitCode = result.exitCode === 130 ? 0 : result.exitCode;
});

/**
 * Fault injection for tests, off unless asked for: FHIR_MIGRATE_TEST_FAIL_FIRST_DELIVERY=1 makes every
 * handler throw on a message's first delivery, so every message is redelivered once.
 */
function testFaults() {
  if (process.env.FHIR_MIGRATE_TEST_FAIL_FIRST_DELIVERY !== '1') return {};
  log.warn('test fault injection on: every first delivery fails');
  return {
    beforeHandle: (topic: string, id: string, deliveryCount: number) => {
      if (deliveryCount === 1) throw new Error(`injected test fault: first delivery of ${id} on ${topic}`);
    },
  };
}

program
  .command('status')
  .description('the migration summary from a state file')
  .option('--state <file>', 'SQLite state file', process.env.FHIR_MIGRATE_STATE ?? 'fhir-migrate.sqlite')
  .option('--migration-id <id>', 'migration id', process.env.FHIR_MIGRATE_MIGRATION_ID ?? 'default')
  .option('--json', 'print JSON')
  .action(async (options: { state: string; migrationId: string; json?: boolean }) => {
    if (!existsSync(options.state)) throw new ConfigError([`state file ${options.state} does not exist`]);
    const db = openSqliteDatabase(options.state);
    try {
      const summary = await summarize(createSqliteLedger(db), options.migrationId, new Date());
      process.stdout.write(
        options.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderSummary(summary)}\n`,
      );
      if (summary.halted.length > 0) process.exitCode = 2;
    } finally {
      db.close();
    }
  });

addConfigFlags(
  program
    .command('plan')
    .description('dry run: the windows and their counts, nothing written')
    .option('--json', 'print JSON'),
).action(async (options: Record<string, unknown>) => {
  const config = configFrom(options);
  const source = createFhirClient({
    baseUrl: config.source.url,
    auth: createAuthProvider(config.source.auth),
    userAgent: 'fhir-migrate',
  });
  try {
    const plan = await dryRunPlan({ config, source }, new Date());
    if (options.json) {
      process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
      return;
    }
    if (!plan.startAt) {
      process.stdout.write('the source holds no resources of the configured types\n');
      return;
    }
    process.stdout.write(
      `first window starts ${plan.startAt}\n${'since'.padEnd(26)}${'till'.padEnd(26)}${'count'.padStart(10)}  splits\n`,
    );
    for (const w of plan.windows)
      process.stdout.write(
        `${w.since.padEnd(26)}${w.till.padEnd(26)}${String(w.count).padStart(10)}  ${w.splits}\n`,
      );
    const total = plan.windows.reduce((n, w) => n + w.count, 0);
    process.stdout.write(
      `${plan.windows.length} windows, ${plan.windows.filter((w) => w.count > 0).length} non-empty, ${total} resources\n`,
    );
  } finally {
    await source.close();
  }
});

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`fhir-migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
