/**
 * Transport faults from Toxiproxy between the CLI and both HAPI servers: latency, a slow link, connections
 * cut in the middle of an NDJSON download, and replies that stall. Each run must end with every seeded
 * resource on the destination, equal to the source, nothing extra.
 */
import { describe, expect, it } from 'vitest';
import { runFault, useFaultyPaths } from './fault-run.ts';

describe('transport faults (Toxiproxy)', () => {
  const { paths, common } = useFaultyPaths();

  it('latency of 200 ± 100 ms on every reply from both servers', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'latency 200 ± 100 ms, both servers',
      inject: async () => {
        for (const path of [paths.source, paths.destination])
          await path.proxy.addToxic({
            name: 'latency',
            type: 'latency',
            stream: 'downstream',
            toxicity: 1,
            attributes: { latency: 200, jitter: 100 },
          });
        return () => paths.source.shim.seen.length + paths.destination.shim.seen.length;
      },
      detail: (o) => `every request delayed; exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBeGreaterThan(10);
  });

  it('bandwidth of 16 KB/s from the source', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'bandwidth 16 KB/s from the source',
      inject: async () => {
        await paths.source.proxy.addToxic({
          name: 'slow',
          type: 'bandwidth',
          stream: 'downstream',
          toxicity: 1,
          attributes: { rate: 16 },
        });
        return () => paths.source.shim.seen.length;
      },
      detail: (o) => `every source reply throttled; exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
  });

  it('connections cut after 600 bytes in the middle of the first two NDJSON downloads', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'connection cut mid-download (NDJSON truncated)',
      inject: async () => {
        // The cut is armed just before a Binary is forwarded and disarmed when its reply is over.
        const cut = paths.source.shim.add({
          name: 'cut Binary downloads',
          match: (r) => r.method === 'GET' && /\/Binary\//.test(r.path),
          times: 2,
          before: async () => {
            await paths.source.proxy.addToxic({
              name: 'cut',
              type: 'limit_data',
              stream: 'downstream',
              toxicity: 1,
              attributes: { bytes: 600 },
            });
          },
          after: () => {
            paths.source.proxy
              .getToxic('cut')
              .then((t) => t.remove())
              .catch(() => undefined);
          },
        });
        return () => cut.hits;
      },
      detail: (o) =>
        `${o.retries} downloads broke off and were fetched again from the first byte; exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(2);
    expect(outcome.retries).toBeGreaterThanOrEqual(1);
  });

  it('the destination stalls for 8 s while the import is polled (timeout toxic), with a 3 s request timeout', async () => {
    let stalls = 0;
    const outcome = await runFault({
      ...common(),
      fault: 'destination stalls 8 s (replies dropped)',
      args: ['--request-timeout', '3s'],
      inject: async () => {
        paths.destination.shim.add({
          name: 'stall while importing',
          match: (r) => r.method === 'GET' && /\$import-poll-status|_jobId=|bulkstatus/i.test(r.path),
          before: async () => {
            stalls++;
            await paths.destination.proxy.addToxic({
              name: 'stall',
              type: 'timeout',
              stream: 'downstream',
              toxicity: 1,
              attributes: { timeout: 0 },
            });
            setTimeout(() => {
              paths.destination.proxy
                .getToxic('stall')
                .then((t) => t.remove())
                .catch(() => undefined);
            }, 8_000);
          },
        });
        return () => stalls;
      },
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(1);
    expect(outcome.retries).toBeGreaterThanOrEqual(1);
  });
});
