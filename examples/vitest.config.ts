import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// dmaprop's checks are CPU-bound: one worker per core (vitest's default leaves one idle).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, maxWorkers: availableParallelism() },
});
