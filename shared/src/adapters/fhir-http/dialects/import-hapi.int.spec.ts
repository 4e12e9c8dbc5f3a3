import { describe, expect, it } from 'vitest';
import { type LoopbackHandler, useLoopbackClients } from '../test-support/loopback-server.ts';
import { createImportDialect } from './factory.ts';

const setup = useLoopbackClients();

/** HAPI's poll reply: an OperationOutcome served as ISO-8859-1 (as HAPI 8.8 does). */
function latin1Outcome(status: number, issues: { severity: string; diagnostics?: string }[]) {
  return (res: Parameters<LoopbackHandler>[1]) =>
    res
      .writeHead(status, { 'content-type': 'application/json+fhir;charset=ISO-8859-1' })
      .end(
        Buffer.from(JSON.stringify({ resourceType: 'OperationOutcome', issue: issues }, null, 2), 'latin1'),
      );
}

describe('HAPI $import dialect against a loopback fake server (protocol paths, not a FHIR server)', () => {
  it('submits a Parameters body with Prefer: respond-async and returns the poll URL', async () => {
    const { server, client } = await setup((_req, res) =>
      res
        .writeHead(202, { 'content-location': 'http://127.0.0.1:1/fhir/$import-poll-status?_jobId=abc' })
        .end(),
    );
    const dialect = createImportDialect('hapi', client, { maxBatchResourceCount: 200 });
    const { jobUrl } = await dialect.submit([{ type: 'Patient', url: 'http://files/p.ndjson' }]);
    expect(jobUrl).toBe('http://127.0.0.1:1/fhir/$import-poll-status?_jobId=abc');
    const sent = server.requests[0];
    expect(sent).toMatchObject({ method: 'POST', url: '/fhir/$import' });
    expect(sent?.headers).toMatchObject({ prefer: 'respond-async', 'content-type': 'application/fhir+json' });
    expect(JSON.parse(sent?.body ?? '').parameter).toContainEqual({
      name: 'input',
      part: [
        { name: 'type', valueCode: 'Patient' },
        { name: 'url', valueUri: 'http://files/p.ndjson' },
      ],
    });
  });

  it('does not resubmit after a 500 (a second job could start)', async () => {
    const { server, client } = await setup((_req, res) => res.writeHead(500).end());
    await expect(
      createImportDialect('hapi', client).submit([{ type: 'Patient', url: 'http://f/p' }]),
    ).rejects.toMatchObject({
      status: 500,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('polls: running, completed with a per-file report decoded from ISO-8859-1, failed with report, cancelled', async () => {
    const report =
      'Bulk Import Report\n------------------------------------------\nStart Time      : 2026-11-26 13:21:48.411\nDuration        : 1143ms\nStorage Actions : 3 (2/sec)\n------------------------------------------\nSource: http://files/M\u00fcller.ndjson\n  Outcomes:\n    * SUCCESSFUL_UPDATE_AS_CREATE: 2\n    * SUCCESSFUL_UPDATE_NO_CHANGE: 1\n';
    const failedReport =
      'Bulk Import Report\nSource: http://files/o.ndjson\n  Outcomes:\n    * FAILURE: 1\n    * SUCCESSFUL_UPDATE_AS_CREATE: 4\n  Errors:\n    * HAPI-0931: Invalid reference\n';
    const { server, client } = await setup((req, res) => {
      const job = new URL(req.url ?? '', 'http://x').searchParams.get('_jobId');
      if (job === 'running') {
        res
          .writeHead(202, {
            'retry-after': '120',
            'x-progress': 'Job was created at 2026-11-26T13:21:48.411+00:00 and is in IN_PROGRESS state.',
          })
          .end();
      } else if (job === 'done') {
        latin1Outcome(200, [{ severity: 'information', diagnostics: JSON.stringify({ reportMsg: report }) }])(
          res,
        );
      } else if (job === 'failed') {
        latin1Outcome(500, [
          {
            severity: 'error',
            diagnostics:
              'Job is in FAILED state with 0 error count. Last error: HAPI-2673: Job completed with at least one failure',
          },
          { severity: 'error', diagnostics: JSON.stringify({ reportMsg: failedReport }, null, 2) },
        ])(res);
      } else {
        latin1Outcome(404, [{ severity: 'information', diagnostics: 'Job was cancelled.' }])(res);
      }
    });
    const dialect = createImportDialect('hapi', client);
    const poll = (job: string) => dialect.poll(`${server.url}/fhir/$import-poll-status?_jobId=${job}`);

    expect(await poll('running')).toEqual({
      state: 'running',
      retryAfterMs: 120_000,
      progress: 'Job was created at 2026-11-26T13:21:48.411+00:00 and is in IN_PROGRESS state.',
    });
    const done = await poll('done');
    expect(done.state === 'completed' && done.report.files).toEqual([
      {
        url: 'http://files/Müller.ndjson',
        outcomes: { SUCCESSFUL_UPDATE_AS_CREATE: 2, SUCCESSFUL_UPDATE_NO_CHANGE: 1 },
        succeeded: 3,
        failed: 0,
        errors: [],
      },
    ]);
    const failed = await poll('failed');
    expect(failed).toMatchObject({
      state: 'failed',
      reason:
        'import job failed (HTTP 500): Job is in FAILED state with 0 error count. Last error: HAPI-2673: Job completed with at least one failure',
      report: {
        files: [
          { url: 'http://files/o.ndjson', succeeded: 4, failed: 1, errors: ['HAPI-0931: Invalid reference'] },
        ],
      },
    });
    expect(await poll('cancelled')).toEqual({
      state: 'failed',
      reason: 'import job not found or cancelled: Job was cancelled.',
    });
    expect(server.requests.filter((r) => r.url.includes('failed'))).toHaveLength(1);
  });

  it('refuses to poll a job URL on another origin', async () => {
    const { client } = await setup((_req, res) => res.writeHead(200).end());
    await expect(
      createImportDialect('hapi', client).poll('http://169.254.169.254/$import-poll-status?_jobId=x'),
    ).rejects.toThrow(/refusing to fetch/);
  });
});
