import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
          name: 'e2e',
          include: ['test/smoke/**/*.e2e.spec.ts', 'test/e2e/**/*.e2e.spec.ts'],
          // Starts the HAPI source and destination servers once for all end-to-end files (or reuses running ones).
          globalSetup: ['test/harness/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
