/** CLI flags shared by `run`, `service` and `plan`, mapped onto configuration paths. */
import type { Command } from 'commander';

const flagPaths: {
  flag: string;
  option: string;
  path: string[];
  parse?: (v: string) => unknown;
  help: string;
}[] = [
  { flag: '--source <url>', option: 'source', path: ['source', 'url'], help: 'source FHIR base URL' },
  {
    flag: '--destination <url>',
    option: 'destination',
    path: ['destination', 'url'],
    help: 'destination FHIR base URL',
  },
  {
    flag: '--state <file>',
    option: 'state',
    path: ['state'],
    help: 'SQLite state file (ledger + bus), default fhir-migrate.sqlite',
  },
  {
    flag: '--staging-dir <dir>',
    option: 'stagingDir',
    path: ['stagingDir'],
    help: 'folder for staged export files (default <state>.staging)',
  },
  {
    flag: '--migration-id <id>',
    option: 'migrationId',
    path: ['migrationId'],
    help: 'migration id within the state file (default "default")',
  },
  {
    flag: '--chunk-duration <duration>',
    option: 'chunkDuration',
    path: ['chunkDuration'],
    help: 'window length, e.g. 30d, 12h, 5m, 2s (default 30d)',
  },
  {
    flag: '--chunk-limit <n>',
    option: 'chunkLimit',
    path: ['chunkLimit'],
    parse: Number,
    help: 'split windows holding more resources than this',
  },
  {
    flag: '--safety-lag <duration>',
    option: 'safetyLag',
    path: ['safetyLag'],
    help: 'never plan past now minus this (default 60s)',
  },
  {
    flag: '--poll-interval <duration>',
    option: 'pollInterval',
    path: ['pollInterval'],
    help: 'look for new data this often once caught up (default 5m)',
  },
  {
    flag: '--start-date <instant>',
    option: 'startDate',
    path: ['startDate'],
    help: 'first window start (default: earliest lastUpdated on the source)',
  },
  {
    flag: '--resource-types <list>',
    option: 'resourceTypes',
    path: ['resourceTypes'],
    parse: (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    help: 'comma list of types (default: all)',
  },
  {
    flag: '--export-dialect <name>',
    option: 'exportDialect',
    path: ['source', 'exportDialect'],
    help: 'hapi | bulkdata',
  },
  {
    flag: '--import-dialect <name>',
    option: 'importDialect',
    path: ['destination', 'importDialect'],
    help: 'hapi ($import) | rest (batch PUTs)',
  },
  {
    flag: '--deep-check-count <n>',
    option: 'deepCheckCount',
    path: ['deepCheckCount'],
    parse: Number,
    help: 'resources compared per chunk (default 10)',
  },
  {
    flag: '--max-concurrent-imports <n>',
    option: 'maxConcurrentImports',
    path: ['maxConcurrentImports'],
    parse: Number,
    help: 'accepted, not used yet: chunks are imported one at a time, in window order (default 5)',
  },
  {
    flag: '--export-ahead <n>',
    option: 'exportAhead',
    path: ['exportAhead'],
    parse: Number,
    help: 'chunks exported ahead of the one importing (default 1)',
  },
  {
    flag: '--max-attempts <n>',
    option: 'maxAttempts',
    path: ['maxAttempts'],
    parse: Number,
    help: 'tries per chunk step (export, import) before the chunk fails and the migration halts (default 5)',
  },
  {
    flag: '--request-timeout <duration>',
    option: 'requestTimeout',
    path: ['requestTimeout'],
    help: 'per-try timeout of a request to a FHIR server, and longest pause inside a download (default 60s)',
  },
  {
    flag: '--job-timeout <duration>',
    option: 'jobTimeout',
    path: ['jobTimeout'],
    help: 'cancel an $export or $import job still running after this long; counts as a failed try (default 24h)',
  },
  {
    flag: '--api-port <n>',
    option: 'apiPort',
    path: ['apiPort'],
    parse: Number,
    help: 'port of the status API and dashboard (default 8080; 0 = any free port)',
  },
  {
    flag: '--api-host <address>',
    option: 'apiHost',
    path: ['apiHost'],
    help: 'address the API listens on (default 127.0.0.1)',
  },
  {
    flag: '--api-key <key>',
    option: 'apiKey',
    path: ['apiKey'],
    help: "bearer token for the API's mutating routes (prefer env FHIR_MIGRATE_API_KEY: flags show in ps)",
  },
];

export function addConfigFlags(command: Command): Command {
  command.option('--config <file>', 'YAML configuration file');
  for (const f of flagPaths) command.option(f.flag, f.help);
  command.option('--no-api', 'run: do not serve the status API and dashboard');
  return command;
}

export function flagSettings(
  options: Record<string, unknown>,
): { path: string[]; value: unknown; flag: string }[] {
  const out: { path: string[]; value: unknown; flag: string }[] = [];
  if (options.api === false) out.push({ path: ['serveApi'], value: false, flag: '--no-api' });
  for (const f of flagPaths) {
    const raw = options[f.option];
    if (typeof raw !== 'string') continue;
    const parsed = f.parse ? f.parse(raw) : raw;
    out.push({
      path: f.path,
      value: typeof parsed === 'number' && Number.isNaN(parsed) ? raw : parsed,
      flag: f.flag.split(' ')[0] as string,
    });
  }
  return out;
}
