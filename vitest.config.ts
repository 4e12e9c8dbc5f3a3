import { defineConfig, type TestUserConfig } from 'vitest/config';

// In CI a JSON report is written too, so that .ci/run can print a plain "N passed, N failed" line.
const reporters: NonNullable<TestUserConfig['reporters']> = process.env.CI
  ? ['default', ['json', { outputFile: '.test-results/vitest.json' }]]
  : ['default'];

export default defineConfig({
  test: {
    reporters,
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'shared/src/**/*.unit.spec.ts',
            'services/*/src/**/*.unit.spec.ts',
            'test/**/*.unit.spec.ts',
          ],
        },
      },
      {
        test: {
          // Real SQLite files, local HTTP servers, emulators: no FHIR servers needed.
          name: 'int',
          include: [
            'shared/src/**/*.int.spec.ts',
            'services/*/src/**/*.int.spec.ts',
            'cli/src/**/*.int.spec.ts',
            'test/**/*.int.spec.ts',
          ],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: [
            'test/smoke/**/*.e2e.spec.ts',
            'test/e2e/**/*.e2e.spec.ts',
            'shared/src/**/*.e2e.spec.ts',
            'services/*/src/**/*.e2e.spec.ts',
          ],
          // Starts the HAPI source and destination servers once for all end-to-end files (or reuses running ones),
          // and the storage and Cosmos DB emulators (about a second each) for the Azure-stores pipeline.
          globalSetup: [
            'test/harness/global-setup.ts',
            'test/harness/azurite.ts',
            'test/harness/cosmos-emulator.ts',
          ],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          // `npm run test:azure`: the Azure adapters against emulators started from npm (Azurite, cosmosdb-server).
          name: 'azure',
          include: ['shared/src/**/*.azure.spec.ts', 'test/**/*.azure.spec.ts'],
          globalSetup: ['test/harness/azurite.ts', 'test/harness/cosmos-emulator.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // `npm run test:faults`: Toxiproxy and a loopback HTTP shim between the CLI and both HAPI servers.
          name: 'faults',
          include: ['test/faults/**/*.faults.spec.ts'],
          globalSetup: ['test/harness/global-setup.ts', 'test/faults/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
