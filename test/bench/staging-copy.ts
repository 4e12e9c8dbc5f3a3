/**
 * The staging copy: one large NDJSON export file, generated on the fly by a loopback HTTP server in this
 * process (nothing is written to disk or committed), pulled by a child process through the exporter's
 * download → check → stage path, and — side by side — by a plain download to a file.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';

export interface CopyRun {
  bytes: number;
  lines: number;
  ms: number;
  mbPerSec: number;
  peakRssMb: number;
}

export interface StagingCopyResult {
  fileMB: number;
  tool: CopyRun;
  raw: CopyRun;
}

/**
 * An Observation of about 1 KB, lastUpdated inside January 2026 (the window the child stages). A template,
 * not JSON.stringify: the generator must outrun the copy it feeds.
 */
function observationLine(n: number): string {
  const mm = String(n % 60).padStart(2, '0');
  const ms = String(n % 1000).padStart(3, '0');
  return `{"resourceType":"Observation","id":"bench-${n}","meta":{"versionId":"1","lastUpdated":"2026-01-15T10:${mm}:00.${ms}Z"},"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"subject":{"reference":"Patient/bench-${n % 10_000}"},"encounter":{"reference":"Encounter/bench-${n % 50_000}"},"effectiveDateTime":"2026-01-15T10:00:00Z","issued":"2026-01-15T10:05:00.000Z","performer":[{"reference":"Practitioner/bench-${n % 50}"}],"valueQuantity":{"value":${60 + (n % 40)},"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],"note":[{"text":"Measured at rest, seated, after five minutes. Synthetic benchmark data, not a patient."}],"referenceRange":[{"low":{"value":50,"unit":"/min"},"high":{"value":100,"unit":"/min"},"text":"50-100"}]}\n`;
}

/** Serves `totalBytes` (rounded up to a whole line) of NDJSON at /fhir/Binary/bench, honouring back-pressure. */
async function startGenerator(totalBytes: number): Promise<{ server: Server; baseUrl: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/fhir/Binary/bench') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/fhir+ndjson' });
    let sent = 0;
    let n = 0;
    const pump = () => {
      while (sent < totalBytes) {
        const lines: string[] = [];
        for (let i = 0; i < 256; i++) lines.push(observationLine(n++));
        const chunk = Buffer.from(lines.join(''), 'utf8');
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir` };
}

function runChild(mode: 'raw' | 'tool', baseUrl: string, dir: string): Promise<CopyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'test', 'bench', 'staging-copy-child.ts'),
        mode,
        baseUrl,
        `${baseUrl}/Binary/bench`,
        dir,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`staging copy (${mode}) exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      const r = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Omit<CopyRun, 'mbPerSec'>;
      resolve({ ...r, mbPerSec: r.bytes / 1e6 / (r.ms / 1000) });
    });
  });
}

export async function runStagingCopy(totalMB: number): Promise<StagingCopyResult> {
  const { server, baseUrl } = await startGenerator(totalMB * 1e6);
  const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-bench-staging-'));
  try {
    const raw = await runChild('raw', baseUrl, join(dir, 'raw'));
    await rm(join(dir, 'raw'), { recursive: true, force: true });
    const tool = await runChild('tool', baseUrl, join(dir, 'tool'));
    if (tool.bytes !== raw.bytes)
      throw new Error(`the staged file holds ${tool.bytes} bytes, the plain download ${raw.bytes}`);
    return { fileMB: raw.bytes / 1e6, tool, raw };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}
