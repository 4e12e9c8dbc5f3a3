import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { hapiJarPath, hapiProjectDir, hapiStampPath } from './paths.ts';

/** sha256 over the launcher's pom.xml and every file under src/, in a stable order. */
export async function hapiSourceHash(): Promise<string> {
  const files = ['pom.xml', ...(await listFiles(join(hapiProjectDir, 'src')))].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file).update('\0');
    hash.update(await readFile(join(hapiProjectDir, file))).update('\0');
  }
  return hash.digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(hapiProjectDir, join(e.parentPath, e.name)));
}

export interface BuildResult {
  jar: string;
  built: boolean;
  seconds: number;
}

/**
 * Builds the HAPI test server jar with Maven unless a jar built from the same sources exists.
 * Maven's output goes to stderr so that callers' stdout stays clean.
 */
export async function ensureHapiJar(options: { force?: boolean } = {}): Promise<BuildResult> {
  const started = Date.now();
  const hash = await hapiSourceHash();
  if (!options.force && existsSync(hapiJarPath) && existsSync(hapiStampPath)) {
    const stamp = (await readFile(hapiStampPath, 'utf8')).trim();
    if (stamp === hash) return { jar: hapiJarPath, built: false, seconds: 0 };
  }
  process.stderr.write(
    `[hapi] building ${relative(process.cwd(), hapiJarPath)} with Maven (sources changed or no jar)\n`,
  );
  await run('mvn', ['-B', '-q', '-DskipTests', '-Dmaven.test.skip=true', 'package'], hapiProjectDir);
  if (!existsSync(hapiJarPath)) throw new Error(`Maven finished but ${hapiJarPath} is missing`);
  await writeFile(hapiStampPath, `${hash}\n`);
  return { jar: hapiJarPath, built: true, seconds: (Date.now() - started) / 1000 };
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `'${command}' is not installed or not on PATH; the HAPI test server needs Java 17+ and Maven`,
            )
          : err,
      );
    });
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} ${args.join(' ')} failed in ${cwd} (exit ${code ?? signal})`));
    });
  });
}
