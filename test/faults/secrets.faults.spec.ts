/**
 * Secrets never leak: a migration runs with an OAuth2 client secret and the access token it buys (source,
 * which refuses requests without that token), a bearer token (destination), an API key, and SAS
 * signatures in manifest URLs; the servers are made to echo credentials back in an error. Then everything
 * the run produced is searched for each secret: the CLI's output and logs, the SQLite state file (ledger
 * and bus, read as raw bytes), the staged files, `status --json`, and every read route of the API and the
 * dashboard page.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationArgs, seedScenario } from '../e2e/scenario.ts';
import { runCli, startCli } from '../harness/fhir-migrate.ts';
import { measureDamage, recordRow, useFaultyPaths } from './fault-run.ts';

const secrets = {
  clientSecret: 'cs-7f3a9c1e5b2d4f60a8e1',
  sourceToken: 'at-51d2e8b7c4a94f0e9b3c',
  destinationToken: 'dt-0c6b2a9e7f1d48e3a5b7',
  apiKey: 'ak-9e8d7c6b5a4f3e2d1c0b',
  sasSignature: 'sg4Kq9ZxW2vB7nR1tY6uP3oL8mJ5',
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('secrets', () => {
  const { sourceUrl, destinationUrl, paths } = useFaultyPaths();

  it('appear nowhere in what a run produced: output, logs, ledger and bus, staging, status, API, dashboard', async () => {
    const started = Date.now();
    const { source, destination } = paths;
    // The source answers only with the access token; the shim is also its OAuth2 token endpoint.
    const tokenUrl = `http://127.0.0.1:${source.shim.port}/oauth/token`;
    source.shim.add({
      name: 'token endpoint',
      match: (r) => r.method === 'POST' && r.path === '/oauth/token',
      times: 1000,
      action: {
        kind: 'status',
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ access_token: secrets.sourceToken, token_type: 'Bearer', expires_in: 3600 }),
      },
    });
    const refused = source.shim.add({
      name: 'no token, no data',
      match: (r) => r.authorization !== `Bearer ${secrets.sourceToken}`,
      times: 100_000,
      action: { kind: 'status', status: 401, body: '{"resourceType":"OperationOutcome"}' },
    });
    // Manifest file URLs carry a SAS query, like Azure Storage's.
    source.shim.add({
      name: 'SAS in manifest',
      match: (r) => r.method === 'GET' && /(\$|%24)export-poll-status/.test(r.path),
      times: 1000,
      action: {
        kind: 'rewrite',
        rewrite: (body) =>
          body.includes('"output"')
            ? body.replace(
                /("url"\s*:\s*"[^"?]+)"/g,
                `$1?sv=2024-05-04&se=2030-01-01T00%3A00%3A00Z&sp=r&sig=${secrets.sasSignature}"`,
              )
            : body,
      },
    });
    // …which the shim takes off again before HAPI sees it (HAPI refuses unknown parameters on a read).
    source.shim.forwardPath((path) => path.replace(/\?sv=[^#]*$/, ''));
    // The first download of a file breaks off, so its URL (with the SAS) goes through the error path.
    source.shim.add({
      name: 'cut',
      match: (r) => /\/Binary\//.test(r.path),
      action: { kind: 'cut', afterBytes: 200 },
    });
    // A destination that echoes credentials in an error: the $import job "fails" with them in its text.
    destination.shim.add({
      name: 'echo secrets',
      match: (r) => r.method === 'GET' && /(\$|%24)import-poll-status/.test(r.path),
      action: {
        kind: 'status',
        status: 500,
        body: JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'exception',
              diagnostics: `Job failed: request had Authorization: Bearer ${secrets.destinationToken}, file ?sig=${secrets.sasSignature}, token=${secrets.sourceToken}`,
            },
          ],
        }),
      },
    });

    const s = await seedScenario(sourceUrl, { patients: 4, waves: 1, waveGapMs: 0 });
    const configFile = join(s.dir, 'config.yaml');
    writeFileSync(
      configFile,
      [
        'source:',
        '  auth:',
        '    type: client-credentials',
        `    tokenUrl: ${tokenUrl}`,
        '    clientId: fhir-migrate',
        `    clientSecret: ${secrets.clientSecret}`,
        '',
      ].join('\n'),
    );
    const env = {
      FHIR_MIGRATE_DESTINATION_BEARER_TOKEN: secrets.destinationToken,
      FHIR_MIGRATE_API_KEY: secrets.apiKey,
      FHIR_MIGRATE_LOG_LEVEL: 'debug',
    };
    const run = await runCli(
      [
        'run',
        '--until-caught-up',
        '--config',
        configFile,
        ...migrationArgs(s, source.url, destination.url, [
          '--chunk-duration',
          '1h',
          '--deep-check-count',
          '5',
        ]),
      ],
      env,
    );
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    // The source really was closed to requests without the token (the token endpoint's own call aside).
    expect(refused.hits).toBe(0);
    expect(source.shim.seen.filter((r) => r.path === '/oauth/token').length).toBeGreaterThanOrEqual(1);

    const produced: { where: string; text: string }[] = [
      { where: 'run stdout', text: run.stdout },
      { where: 'run stderr (debug logs)', text: run.stderr },
      { where: 'state file (ledger and bus)', text: readFileSync(s.state).toString('latin1') },
    ];
    for (const file of filesUnder(`${s.state}.staging`))
      produced.push({ where: `staged ${file}`, text: readFileSync(file).toString('latin1') });
    const status = await runCli(['status', '--state', s.state, '--json']);
    produced.push({ where: 'status --json', text: status.stdout + status.stderr });

    // The API and dashboard over the same state file, read on every read route.
    const api = startCli(['service', 'api', '--state', s.state, '--port', '0'], env);
    try {
      let base: string | undefined;
      const deadline = Date.now() + 30_000;
      let stderr = '';
      api.child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      while (!base && Date.now() < deadline) {
        base = /dashboard and API at (http:\/\/\S+)/.exec(stderr)?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!base) throw new Error(`the API did not start: ${stderr}`);
      const get = async (path: string) => {
        const res = await fetch(new URL(path, base));
        expect(res.status, path).toBe(200);
        const text = await res.text();
        produced.push({ where: `GET ${path}`, text: `${JSON.stringify([...res.headers])}\n${text}` });
        return text;
      };
      await get('/');
      await get('/openapi.json');
      await get('/api/info');
      await get('/api/migrations/default');
      await get('/api/migrations/default/timeline');
      await get('/api/migrations/default/failures');
      await get('/api/migrations/default/verifications');
      await get('/api/dead-letters');
      const chunksText = await get('/api/migrations/default/chunks');
      const chunks = JSON.parse(chunksText) as { items?: { chunkId: string }[] };
      if (!chunks.items) throw new Error(`chunks route answered ${chunksText.slice(0, 500)}`);
      const ids = chunks.items.map((c) => c.chunkId);
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) await get(`/api/migrations/default/chunks/${id}/events`);
    } finally {
      api.child.kill('SIGTERM');
      await api.done;
    }

    // The leaks the run had every chance to make did happen in the places we look: the import failure
    // reason and the download retry are there (redacted), so the search below is not vacuous.
    const everything = produced.map((p) => p.text).join('\n');
    expect(everything).toContain('Job failed: request had Authorization: Bearer');
    expect(everything).toMatch(/downloading it again/);
    expect(everything).toContain('sig=');

    // Signed staging URLs are capabilities too (24 h): their tokens must not be written down either.
    const stagingToken = /\/staging\/[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/;
    const leaks = produced.flatMap((p) => [
      ...Object.entries(secrets)
        .filter(([, secret]) => p.text.includes(secret))
        .map(([name]) => `${name} in ${p.where}`),
      ...(stagingToken.test(p.text) ? [`a signed staging URL in ${p.where}`] : []),
    ]);
    const damage = await measureDamage(sourceUrl, destinationUrl, s);
    recordRow({
      fault: 'secrets in everything a run produced',
      injected: Object.keys(secrets).length,
      outcome: leaks.length === 0 && damage.lost.length === 0 ? 'clean' : 'failed',
      detail:
        leaks.length === 0
          ? `${Object.keys(secrets).length} secrets and signed staging URLs searched in ${produced.length} outputs (${Math.round(everything.length / 1024)} KiB): none found`
          : `leaked: ${leaks.join('; ')}`,
      lost: damage.lost.length,
      duplicated: damage.duplicated.length,
      seconds: (Date.now() - started) / 1000,
    });
    expect(leaks).toEqual([]);
    expect(damage).toMatchObject({ lost: [], duplicated: [] });
  });
});
