/**
 * The dashboard in headless chromium while a real migration runs: the page served by `run --api-port`
 * shows the migration, its figures advance without a reload, the per-type table lists the seeded types, a
 * wrong API key is refused with the problem detail and a surface check started from the page reports back.
 * Leaves a screenshot in test/artifacts/dashboard.png.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, inject, it } from 'vitest';
import { seededTypes } from '../data/generator.ts';
import { launchBrowser } from '../harness/browser.ts';
import { startCli } from '../harness/fhir-migrate.ts';
import { repoRoot } from '../harness/paths.ts';
import { migrationArgs, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');
const artifacts = join(repoRoot, 'test', 'artifacts');
const apiKey = 'dashboard-e2e-key';

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

interface Figures {
  watermark: string;
  chunksDone: number;
  chunksTotal: number;
  exported: number;
  imported: number;
  updated: string;
}

/** The progress figures as the page shows them. */
async function figures(page: Page): Promise<Figures> {
  const text = async (selector: string) => (await page.textContent(selector))?.trim() ?? '';
  const count = async (selector: string) => Number((await text(selector)).replace(/,/g, '')) || 0;
  return {
    watermark: await text('#watermark'),
    chunksDone: await count('#chunks-done'),
    chunksTotal: await count('#chunks-total'),
    exported: await count('#res-exported'),
    imported: await count('#res-imported'),
    updated: (await page.getAttribute('html', 'data-updated')) ?? '',
  };
}

const progressOf = ({ watermark, chunksDone, chunksTotal, exported, imported }: Figures) =>
  JSON.stringify({ watermark, chunksDone, chunksTotal, exported, imported });

describe('the dashboard', () => {
  it('shows a running migration advancing, live, in a real browser', async () => {
    const s = await seedScenario(sourceUrl, { patients: 30, waves: 3, waveGapMs: 3000 });
    const port = await freePort();
    const run = startCli(
      [
        'run',
        ...migrationArgs(s, sourceUrl, destinationUrl, [
          '--chunk-duration',
          '2s',
          '--poll-interval',
          '2s',
          '--api-port',
          String(port),
        ]),
      ],
      { FHIR_MIGRATE_API_KEY: apiKey },
    );
    const url = `http://127.0.0.1:${port}/`;
    let browser: Browser | undefined;
    const pageErrors: string[] = [];
    try {
      await waitFor('the API answering', 60_000, async () =>
        (await fetch(`${url}api/info`)).ok ? true : undefined,
      );
      browser = await launchBrowser();
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(url);
      await page.waitForSelector('html[data-state="ready"]', { timeout: 30_000 });
      const info = (await (await fetch(`${url}api/info`)).json()) as { migrationId: string };
      await expect.poll(() => page.textContent('#migration-id')).toBe(info.migrationId);
      expect(await page.textContent('#source-url')).toBe(sourceUrl);
      // Anything set on the window survives only if the page updates in place (no reload).
      await page.evaluate("window.e2eMarker = 'still here'");

      const first = await figures(page);
      const changed = await waitFor('the progress figures changing', 120_000, async () => {
        const now = await figures(page);
        return progressOf(now) !== progressOf(first) ? now : undefined;
      });
      console.log(`[e2e dashboard] ${progressOf(first)} → ${progressOf(changed)}`);

      // Until every seeded resource is imported and every chunk done, as the page says.
      const done = await waitFor('the page showing the migration caught up', 240_000, async () => {
        const now = await figures(page);
        return now.imported >= s.report.totalCurrent &&
          now.chunksDone === now.chunksTotal &&
          now.chunksTotal > 0
          ? now
          : undefined;
      });
      // The page says what the API says (a resource updated after its window was exported may be carried twice).
      const summary = (await (await fetch(`${url}api/migrations/${info.migrationId}`)).json()) as {
        resources: { imported: number };
      };
      expect(done.imported).toBe(summary.resources.imported);
      expect(done.updated > first.updated).toBe(true);
      expect(await page.evaluate('window.e2eMarker')).toBe('still here');

      const types = await page.$$eval('#per-type tbody th', (cells) => cells.map((c) => c.textContent));
      expect(types).toEqual(expect.arrayContaining([...seededTypes]));
      expect(await page.$$eval('#chart-imported path.series', (paths) => paths.length)).toBe(1);

      // Controls: a wrong key is refused with the API's problem detail; the right one starts a surface check.
      await page.fill('#api-key', 'not-the-key');
      await page.click('#btn-surface');
      await expect
        .poll(() => page.textContent('#control-message'), { timeout: 10_000 })
        .toMatch(/refused: .*401/);
      await page.fill('#api-key', apiKey);
      await page.click('#btn-surface');
      await expect
        .poll(() => page.textContent('#control-message'), { timeout: 10_000 })
        .toMatch(/Surface check requested/);
      expect(page.url()).not.toContain(apiKey);
      await waitFor('the surface check reaching the per-type table', 120_000, async () => {
        const caption = await page.textContent('#per-type-caption');
        return caption?.includes('counted by the surface check') ? true : undefined;
      });
      const patientRow = await page.$$eval('#per-type tbody tr', (rows) =>
        rows
          .find((r) => r.querySelector('th')?.textContent === 'Patient')
          ?.querySelectorAll('td')[3]
          ?.textContent?.trim(),
      );
      expect(patientRow).toMatch(/^[\d,]+$/); // a source count, not a dash

      // Drill-down: a chunk's event history opens in place.
      await page.click('#chunks tbody button[data-chunk]');
      await page.waitForSelector('[data-chunk-panel] tbody tr td:nth-child(3)');
      expect(await page.$$eval('[data-chunk-panel] tbody tr td:nth-child(3)', (c) => c[0]?.textContent)).toBe(
        'ChunkPlanned',
      );

      mkdirSync(artifacts, { recursive: true });
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await browser?.close();
      run.child.kill('SIGINT');
      const ended = await run.done;
      expect(ended.stderr).not.toMatch(/HALTED/);
    }
  });
});
