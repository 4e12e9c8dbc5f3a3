/**
 * `npm run demo`: the main job, end to end, for a newcomer.
 *   1. starts the two HAPI test servers (or reuses running ones),
 *   2. seeds a realistic data set on the source,
 *   3. runs a continuous migration (`fhir-migrate run`) with the dashboard at a printed URL,
 *   4. keeps writing new and updated resources to the source every few seconds,
 *   5. on Ctrl-C: stops writing, lets the pipeline catch up, stops it, prints the full reconciliation and
 *      stops the servers it started.
 * Options: --port <n> (dashboard, default 8080; 0 = any free port), --patients <n> (default 40),
 * --seconds <n> (stop by itself after n seconds, as if Ctrl-C was pressed). FHIR_SOURCE_URL and FHIR_DEST_URL
 * name servers to use instead of the harness's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { seededTypes, seedTag, seedTagSystem } from '../data/generator.ts';
import { seedData } from '../data/loader.ts';
import { repoRoot } from '../harness/paths.ts';
import { readRunning, startServers, stopServers } from '../harness/servers.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.FHIR_MIGRATE_DEMO_PORT ?? '8080' },
    patients: { type: 'string', default: '40' },
    seconds: { type: 'string' },
  },
});
const bin = join(repoRoot, 'cli', 'bin', 'fhir-migrate.js');
const say = (line: string) => process.stdout.write(`[demo] ${line}\n`);

interface Written {
  created: number;
  updated: number;
  lastAt: number;
}

/** A live source: every 3 s two new patients with an observation each, and one update to a seeded patient. */
function startWriter(baseUrl: string, seed: number, patients: string[]): { stop(): Promise<Written> } {
  const written: Written = { created: 0, updated: 0, lastAt: 0 };
  let running = true;
  let tick = 0;
  const loop = (async () => {
    while (running) {
      await sleep(3000);
      if (!running) break;
      tick++;
      const meta = { tag: [seedTag(seed)] };
      const entries: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        const id = `demo-${seed}-${tick}-${i}`;
        entries.push({
          resource: {
            resourceType: 'Patient',
            id,
            meta,
            name: [{ family: 'Démo', given: [`Live ${tick}.${i}`] }],
            gender: 'unknown',
          },
          request: { method: 'PUT', url: `Patient/${id}` },
        });
        entries.push({
          resource: {
            resourceType: 'Observation',
            id: `${id}-obs`,
            meta,
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
            subject: { reference: `Patient/${id}` },
            valueQuantity: {
              value: 60 + tick,
              unit: 'beats/minute',
              system: 'http://unitsofmeasure.org',
              code: '/min',
            },
          },
          request: { method: 'PUT', url: `Observation/${id}-obs` },
        });
      }
      const target = patients[tick % patients.length];
      try {
        if (target) {
          const current = (await (
            await fetch(`${baseUrl}/Patient/${target}`, { headers: { accept: 'application/fhir+json' } })
          ).json()) as Record<string, unknown>;
          entries.push({
            resource: {
              ...current,
              telecom: [{ system: 'phone', value: `+1-555-${String(tick).padStart(4, '0')}`, use: 'home' }],
            },
            request: { method: 'PUT', url: `Patient/${target}` },
          });
        }
        const res = await fetch(baseUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
          body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
        written.created += 4;
        written.updated += target ? 1 : 0;
        written.lastAt = Date.now();
      } catch (err) {
        say(
          `a write to the source failed (the demo keeps going): ${err instanceof Error ? err.message : err}`,
        );
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return written;
    },
  };
}

function runCli(args: string[], env: Record<string, string> = {}, inherit = false): ChildProcess {
  return spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, FHIR_MIGRATE_LOG_LEVEL: 'warn', ...env },
    stdio: inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in the terminal reaches the demo, which then stops the pipeline in order.
    detached: true,
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

async function caughtUpTo(apiUrl: string, instant: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const s = (await (await fetch(`${apiUrl}api/migrations/default`)).json()) as {
        watermark?: string;
        running?: unknown[];
      };
      if (s.watermark && Date.parse(s.watermark) > instant && (s.running?.length ?? 0) === 0) return true;
    } catch {
      // the API is restarting or busy; try again
    }
    await sleep(1000);
  }
  return false;
}

async function main(): Promise<void> {
  const started = Date.now();
  const running = { source: await readRunning('source'), destination: await readRunning('destination') };
  const alreadyRunning = running.source !== undefined && running.destination !== undefined;
  say(
    alreadyRunning
      ? 'reusing the running HAPI test servers'
      : 'starting the HAPI source and destination servers (about 90 s on 2 cores)…',
  );
  const servers =
    running.source && running.destination
      ? { source: running.source, destination: running.destination }
      : await startServers();
  const sourceUrl = servers.source.baseUrl;
  const destinationUrl = servers.destination.baseUrl;
  say(`source ${sourceUrl}, destination ${destinationUrl}`);

  const seed = Number(`9${String(Date.now()).slice(-6)}`);
  const startDate = new Date(Date.now() - 1000).toISOString();
  say(
    `seeding the source: ${values.patients} patients with encounters, observations, conditions, medications, allergies…`,
  );
  const report = await seedData({
    baseUrl: sourceUrl,
    seed,
    patients: Number(values.patients),
    waves: 3,
    waveGapMs: 1500,
  });
  say(`seeded ${report.totalCurrent} resources (tag ${seedTagSystem}|seed-${seed})`);

  const stateDir = join(repoRoot, '.demo');
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const state = join(stateDir, 'state.sqlite');
  const apiKey = randomBytes(18).toString('base64url');
  const run = runCli(
    [
      'run',
      '--source',
      sourceUrl,
      '--destination',
      destinationUrl,
      '--state',
      state,
      '--start-date',
      startDate,
      '--resource-types',
      seededTypes.join(','),
      '--chunk-duration',
      '2s',
      '--safety-lag',
      '2s',
      '--poll-interval',
      '5s',
      '--api-port',
      String(values.port),
    ],
    { FHIR_MIGRATE_API_KEY: apiKey },
  );
  let runOutput = '';
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      runOutput += d.toString();
      const url = /dashboard and API at (http:\/\/\S+\/)/.exec(runOutput)?.[1];
      if (url) resolve(url);
    };
    run.stderr?.on('data', onData);
    run.once('exit', (code) =>
      reject(
        new Error(
          `fhir-migrate run exited (${code}) before serving the dashboard:\n${runOutput.slice(-2000)}`,
        ),
      ),
    );
  });
  run.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    for (const line of text.split('\n'))
      if (line.startsWith('[fhir-migrate]')) process.stdout.write(`${line}\n`);
  });
  say(`dashboard: ${apiUrl}   (API key for pause/resume/stop/verify: ${apiKey})`);
  say(`status in a terminal: node cli/bin/fhir-migrate.js status --state ${state} --watch`);
  say('writing new and updated resources to the source every 3 s — press Ctrl-C to stop and reconcile');
  const writer = startWriter(sourceUrl, seed, report.currentIds.Patient ?? []);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (values.seconds) setTimeout(resolve, Number(values.seconds) * 1000);
    run.once('exit', () => resolve());
  });
  process.once('SIGINT', () => {
    say('second Ctrl-C: stopping at once');
    run.kill('SIGINT');
    process.exit(130);
  });
  say('stopping the writer…');
  const written = await writer.stop();
  say(`wrote ${written.created} new and ${written.updated} updated resources while migrating`);
  if (run.exitCode === null) {
    say('letting the pipeline catch up with the last writes…');
    const ok = await caughtUpTo(apiUrl, written.lastAt || started, 120_000);
    if (!ok)
      say(
        'the pipeline did not catch up within 2 minutes; reconciling anyway (newer resources count as pending)',
      );
    run.kill('SIGINT');
  }
  const runCode = await exited(run);
  say(`fhir-migrate run stopped (exit ${runCode})`);

  say('full reconciliation of the demo data on both servers:');
  const verify = runCli(
    ['verify', '--state', state, '--full', '--deep', '5', '--filter', `_tag=${seedTagSystem}|seed-${seed}`],
    {},
    true,
  );
  const verifyCode = await exited(verify);
  if (!alreadyRunning) {
    say('stopping the HAPI servers the demo started');
    await stopServers();
  } else say('leaving the HAPI servers running (they were running before the demo)');
  say(
    `done in ${Math.round((Date.now() - started) / 1000)} s — reconciliation ${verifyCode === 0 ? 'CLEAN' : 'NOT CLEAN'}`,
  );
  process.exitCode = verifyCode === 0 && (runCode === 0 || runCode === 130) ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`[demo] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
