import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The regression corpus is replayed before any random run; a failing entry stops the suite.
    globalSetup: ['test/global-setup.ts'],
    // The deeper tier (`npm run test:deep`) has no time budget: its explorations at depth 5 take
    // one to two minutes each on a loaded machine, so only the default tier's tests time out at 60 s.
    testTimeout: process.env['DMAPROP_DEEP'] === '1' ? 600_000 : 60_000,
    // The same for a file's setup (`beforeAll`): `bench.test.ts` runs one quick bench there, which
    // measured Spin too where it is installed and outgrew vitest's 10 s on a loaded machine.
    hookTimeout: process.env['DMAPROP_DEEP'] === '1' ? 600_000 : 60_000,
    // The suite is CPU-bound property checking and the main process is idle: use every core
    // (vitest's default leaves one free, which halves throughput on a 2-core CI machine).
    maxWorkers: availableParallelism(),
    // Test files share their worker's module cache: no test changes module state, and loading the
    // models and fast-check once per worker instead of once per file saves about 14 s of CPU.
    isolate: false,
  },
});
