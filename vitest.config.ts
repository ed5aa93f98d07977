import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The regression corpus is replayed before any random run; a failing entry stops the suite.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    // The suite is CPU-bound property checking and the main process is idle: use every core
    // (vitest's default leaves one free, which halves throughput on a 2-core CI machine).
    maxWorkers: availableParallelism(),
  },
});
