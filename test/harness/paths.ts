import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute paths the test harness works with; everything it writes lives under `.test-servers/`. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const hapiProjectDir = join(repoRoot, 'test', 'hapi');
export const hapiJarPath = join(hapiProjectDir, 'target', 'hapi-test-server.jar');
export const hapiStampPath = join(hapiProjectDir, 'target', 'hapi-test-server.source-sha256');
export const stateDir = join(repoRoot, '.test-servers');
