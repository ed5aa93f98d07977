/**
 * `dmaprop check --jobs N` (`src/check-pool.ts`) runs each design check whole on a worker thread:
 * the report is the sequential one (the same results in the same order; only times differ), an
 * interruption ends it as it ends the sequential run, and a bad count is bad usage. The workers run
 * the compiled code (dist/, built by `npm test` before the suite).
 */
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli-io.js';

async function run(argv: string[], extra: Partial<CliIo> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (text) => (out += text), err: (text) => (err += text), ...extra });
  return { code, out, err };
}

/** The JSON report without what depends on the clock or the thread (times, a crash's stack). */
const strip = (text: string): unknown =>
  JSON.parse(text, (key, value: unknown) => (key === 'elapsedMs' || key === 'stack' ? null : value)) as unknown;

// A flawed design caught in a few runs (its counterexamples cross threads), one not caught in
// these runs, and a sound one.
const argv = ['check', '--design', 'vfio/noiommu', 'xen/lookup', 'xen/map', '--seed', '1', '--runs', '20'];

describe('check --jobs', () => {
  test('the same report as one thread, in the same order (the human one is printed from the same results)', async () => {
    const one = await run([...argv, '--json']);
    const two = await run([...argv, '--json', '--jobs', '2']);
    expect(two.code).toBe(one.code);
    expect(strip(two.out)).toEqual(strip(one.out));
    const results = (strip(two.out) as { results: { design: string }[] }).results.map((result) => result.design);
    expect(results).toEqual(['vfio/noiommu', 'xen/lookup', 'xen/map']);
  });

  test('Ctrl-C stops the checks running and reports what was found, as one thread does', async () => {
    let polls = 0;
    const stopped = await run([...argv, '--jobs', '2'], { shouldStop: () => ++polls > 3 });
    expect(stopped.code).toBe(130);
    expect(stopped.out).toMatch(/interrupted: [0-3] of 3 design checks ran/);
  });

  test('a count that is not a whole number from 1 to 64, or auto, is bad usage', async () => {
    for (const bad of ['0', '65', 'two', '-1']) {
      const refused = await run([...argv, '--jobs', bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.err, bad).toMatch(/jobs/);
    }
  });
});
