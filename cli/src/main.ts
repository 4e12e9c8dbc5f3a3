/**
 * fhir-migrate — continuously migrate FHIR R4 data between FHIR servers.
 *   run | service <name> | status [--watch] | plan | verify | cutover | dlq list|replay
 */

import { existsSync, writeFileSync } from 'node:fs';
import { listAllDeadLetters, replayDeadLetters } from '@fhir-migrate/shared/application/dead-letters.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { ConfigError, loadConfig } from '@fhir-migrate/shared/config/load.ts';
import { DeadLetterError } from '@fhir-migrate/shared/ports/bus.ts';
import { startTelemetry } from '@fhir-migrate/shared/runtime/telemetry.ts';
import { Command, InvalidArgumentError } from 'commander';
import {
  renderDeadLetters,
  serveApiOnly,
  storesFrom,
  verifyFlags,
  watchStatus,
  withBus,
  withStores,
} from './commands.ts';
import { createLogger, fhirClientFor } from './compose.ts';
import { cutoverCommand } from './cutover.ts';
import { addConfigFlags, flagSettings } from './flags.ts';
import { dryRunPlan } from './plan.ts';
import { type PipelineService, runPipeline } from './run.ts';
import { renderSummary } from './status.ts';
import { openTarget } from './target.ts';
import { verifyCommand } from './verify.ts';

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
  const result = await withTelemetry('run', () =>
    runPipeline(config, log, {
      services: ['planner', 'exporter', 'importer', 'verifier'],
      untilCaughtUp: options.untilCaughtUp === true,
      serviceOptions: testFaults(),
      api: true,
    }),
  );
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
    await withTelemetry(name, () => serveApiOnly(options));
    return;
  }
  const config = configFrom(options);
  const result = await withTelemetry(name, () =>
    runPipeline(config, log, {
      services: [name as PipelineService],
      untilCaughtUp: false,
      progress: false,
      serviceOptions: testFaults(),
    }),
  );
  log.info({ reason: result.reason }, 'service stopped');
  process.exitCode = result.exitCode === 130 ? 0 : result.exitCode;
});

/** Runs `work` with telemetry started for `service` (when configured), flushed before returning. */
async function withTelemetry<T>(service: string, work: () => Promise<T>): Promise<T> {
  const telemetry = await startTelemetry({
    serviceName: service,
    onError: (message, err) => log.warn(err === undefined ? {} : { reason: reasonOf(err) }, message),
  });
  try {
    return await work();
  } finally {
    await telemetry.shutdown();
  }
}

/**
 * Fault injection for tests, off unless asked for:
 * - FHIR_MIGRATE_TEST_FAIL_FIRST_DELIVERY=1: every handler throws on a message's first delivery, so every
 *   message is redelivered once;
 * - FHIR_MIGRATE_TEST_DEAD_LETTER=<service>:<topic> with FHIR_MIGRATE_TEST_MARKER=<file>: the first message
 *   that service receives on that topic is dead-lettered (once: the marker file records that it happened).
 */
function testFaults() {
  const failFirst = process.env.FHIR_MIGRATE_TEST_FAIL_FIRST_DELIVERY === '1';
  const deadLetter = process.env.FHIR_MIGRATE_TEST_DEAD_LETTER;
  const marker = process.env.FHIR_MIGRATE_TEST_MARKER;
  if (!failFirst && !deadLetter) return {};
  if (deadLetter && !marker)
    throw new ConfigError(['FHIR_MIGRATE_TEST_DEAD_LETTER needs FHIR_MIGRATE_TEST_MARKER']);
  log.warn({ failFirst, deadLetter }, 'test fault injection on');
  return {
    beforeHandle: (service: string, topic: string, id: string, deliveryCount: number) => {
      if (failFirst && deliveryCount === 1)
        throw new Error(`injected test fault: first delivery of ${id} on ${topic}`);
      if (deadLetter === `${service}:${topic}` && marker && !existsSync(marker)) {
        writeFileSync(marker, id);
        throw new DeadLetterError(`injected test fault: ${id} on ${topic} dead-lettered for ${service}`);
      }
    },
  };
}

program
  .command('status')
  .description('the migration summary from the ledger (the state file, or the configured Cosmos DB)')
  .option('--config <file>', 'YAML configuration file (for a ledger other than the state file)')
  .option('--state <file>', 'SQLite state file (default fhir-migrate.sqlite, or FHIR_MIGRATE_STATE)')
  .option('--migration-id <id>', 'migration id (default "default", or FHIR_MIGRATE_MIGRATION_ID)')
  .option('--json', 'print JSON')
  .option('--watch [seconds]', 'redraw every few seconds (default 2) until Ctrl-C')
  .action(async (options: { json?: boolean; watch?: boolean | string } & Record<string, unknown>) => {
    const config = storesFrom(options);
    await withStores(config, async ({ ledger }) => {
      if (options.watch !== undefined && options.watch !== false) {
        const seconds = options.watch === true ? 2 : Number(options.watch);
        if (!(seconds >= 0.5)) throw new ConfigError([`--watch ${options.watch}: expected seconds ≥ 0.5`]);
        await watchStatus(ledger, config.migrationId, seconds);
        return;
      }
      const summary = await summarize(ledger, config.migrationId, new Date());
      process.stdout.write(
        options.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderSummary(summary)}\n`,
      );
      if (summary.halted.length > 0) process.exitCode = 2;
    });
  });

addConfigFlags(
  program
    .command('plan')
    .description('dry run: the windows and their counts, nothing written')
    .option('--json', 'print JSON'),
).action(async (options: Record<string, unknown>) => {
  const config = configFrom(options);
  const source = fhirClientFor(config, 'source', log);
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

addConfigFlags(
  program
    .command('verify')
    .description(
      'compare source and destination: surface counts always, --deep N sampled resources, --full every resource',
    )
    .option(
      '--deep <n>',
      'sample n resources per type (reproducible with --seed) and compare them canonically',
    )
    .option('--seed <n>', "sampling seed for --deep (default: today's date)")
    .option('--full', 'full reconciliation: every (type, id, content hash) on both servers')
    .option('--fix', 'with --full: copy missing and differing resources from the source')
    .option(
      '--delete-extra',
      'with --full --fix: also delete destination resources that are gone from the source',
    )
    .option(
      '--types <list>',
      "comma list of types to check (default: the migration's types, else all on the source)",
    )
    .option('--filter <query>', 'search parameters applied on both servers, e.g. _tag=system|code')
    .option('--json', 'print the complete report as JSON'),
).action(async (options: Record<string, unknown>) => {
  const flags = verifyFlags(options);
  const opened = await openTarget(options);
  try {
    process.exitCode = await verifyCommand(opened.target, flags);
  } finally {
    await opened.close();
  }
});

addConfigFlags(
  program
    .command('cutover')
    .description(
      'wait until the source is quiet, drain the last chunks, reconcile in full and print a go/no-go report',
    )
    .option('--quiet-period <duration>', 'no source writes for this long before draining (default 2m)')
    .option(
      '--max-wait <duration>',
      'give up (no-go) if the source is not quiet within this (default 1h)',
      '1h',
    )
    .option('--filter <query>', 'scope the quiet check and the reconciliation, e.g. _tag=system|code')
    .option('--json', 'print the report as JSON'),
).action(async (options: Record<string, unknown>) => {
  const config = configFrom(options);
  process.exitCode = await cutoverCommand(config, log, {
    ...(typeof options.quietPeriod === 'string' ? { quietPeriod: options.quietPeriod } : {}),
    maxWait: String(options.maxWait ?? '1h'),
    json: options.json === true,
    ...(typeof options.filter === 'string' ? { filter: options.filter } : {}),
  });
});

const dlq = program.command('dlq').description('dead-lettered bus messages: list and replay');
dlq
  .command('list')
  .description('every dead letter of every subscription, with its reason')
  .option('--config <file>', 'YAML configuration file (for a bus other than the state file)')
  .option('--state <file>', 'SQLite state file (default fhir-migrate.sqlite, or FHIR_MIGRATE_STATE)')
  .option('--migration-id <id>', "only this migration's messages")
  .option('--json', 'print JSON')
  .action(async (options: { migrationId?: string; json?: boolean } & Record<string, unknown>) => {
    await withBus(storesFrom(options), async (bus) => {
      process.stdout.write(
        `${renderDeadLetters(await listAllDeadLetters(bus, options.migrationId), options.json === true)}\n`,
      );
    });
  });
dlq
  .command('replay')
  .description('move dead letters back to their subscriptions (safe to repeat: handlers are idempotent)')
  .option('--config <file>', 'YAML configuration file (for a bus other than the state file)')
  .option('--state <file>', 'SQLite state file (default fhir-migrate.sqlite, or FHIR_MIGRATE_STATE)')
  .option('--id <id...>', 'message ids to replay')
  .option('--all', 'replay every dead letter')
  .option('--migration-id <id>', "with --all: only this migration's messages")
  .action(
    async (options: { id?: string[]; all?: boolean; migrationId?: string } & Record<string, unknown>) => {
      if (!options.all && !options.id?.length)
        throw new ConfigError(['dlq replay: give --id <id…> or --all']);
      if (options.all && options.id?.length)
        throw new ConfigError(['dlq replay: give either --id or --all, not both']);
      await withBus(storesFrom(options), async (bus) => {
        const result = options.all
          ? await replayDeadLetters(bus, { all: true }, options.migrationId)
          : await replayDeadLetters(bus, { ids: options.id ?? [] });
        for (const d of result.replayed)
          process.stdout.write(`replayed ${d.id} (${d.topic} → ${d.subscription})\n`);
        process.stdout.write(`${result.replayed.length} replayed\n`);
        if (result.notFound.length > 0) {
          process.stderr.write(`not dead letters (already replayed?): ${result.notFound.join(', ')}\n`);
          process.exitCode = 1;
        }
      });
    },
  );

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`fhir-migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
