/**
 * Test-server control: `build`, `start [--keep-data]`, `stop`, `status`.
 * Used by `npm run hapi:build`, `npm run test-servers:start` and `npm run test-servers:stop`.
 */
import { parseArgs } from 'node:util';
import { ensureHapiJar } from './jar.ts';
import { readRunning, rssMb, startServers, stopServers } from './servers.ts';

const usage = 'usage: tsx test/harness/cli.ts <build [--force] | start [--keep-data] | stop | status>';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      'keep-data': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(usage);
    return;
  }
  switch (command) {
    case 'build': {
      const result = await ensureHapiJar({ force: values.force });
      console.log(
        result.built ? `built ${result.jar} in ${result.seconds.toFixed(0)}s` : `up to date: ${result.jar}`,
      );
      return;
    }
    case 'start': {
      const servers = await startServers({ keepData: values['keep-data'] });
      for (const s of Object.values(servers)) {
        const rss = rssMb(s.pid);
        console.log(
          `${s.role.padEnd(11)} ${s.baseUrl}  pid ${s.pid}  up in ${s.startupSeconds.toFixed(1)}s  rss ${rss?.toFixed(0) ?? '?'} MB  log ${s.logFile}`,
        );
      }
      return;
    }
    case 'stop': {
      const stopped = await stopServers();
      console.log(stopped.length > 0 ? `stopped: ${stopped.join(', ')}` : 'no test servers were running');
      return;
    }
    case 'status': {
      for (const role of ['source', 'destination'] as const) {
        const s = await readRunning(role);
        console.log(
          s
            ? `${role.padEnd(11)} ${s.baseUrl}  pid ${s.pid}  rss ${rssMb(s.pid)?.toFixed(0) ?? '?'} MB`
            : `${role.padEnd(11)} not running`,
        );
      }
      return;
    }
    default:
      throw new Error(`unknown command '${command}'\n${usage}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
