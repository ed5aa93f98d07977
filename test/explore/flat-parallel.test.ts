/**
 * The flat search on worker threads (`explore-flat-parallel.ts`) against the one-thread flat
 * search and the object search, on the toy of `flat-toy.ts`: the same result field for field
 * (timings aside; the engine's name is `flat` for both flat searches), with 2 and 3 workers, at
 * several depths, under a state limit, with a violation first found on the last level, every
 * invariant broken mid-level, an encoder that throws and one that disagrees with the design. The
 * workers load the toy from the compiled module (dist/test/explore/flat-toy.js, built by
 * `npm test` before the suite, or `npx tsc -p tsconfig.json`).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { exploreDesign } from '../../src/explore.js';
import type { ExploreOptions, ExploreResult } from '../../src/explore.js';
import { DEEP } from '../helpers.js';
import { pairBadStatus, pairFlawed, pairRaiseBTwice, pairSound, pairThrowing, pairWide } from './flat-toy.js';

const module = pathToFileURL(resolve('dist/test/explore/flat-toy.js')).href;
const designs = { pairFlawed, pairSound, pairThrowing, pairBadStatus, pairRaiseBTwice, pairWide };

const comparable = (result: ExploreResult): unknown =>
  JSON.parse(
    JSON.stringify({
      ...result,
      elapsedMs: 0,
      engine: undefined,
      crash: result.crash === null ? null : { ...result.crash, crash: { ...result.crash.crash, stack: null } },
    }),
  ) as unknown;

/**
 * The three searches agree (the object search left out for an encoder wrong on purpose); the
 * parallel one ran flat. Returns the one-thread flat result.
 */
function expectSame(name: keyof typeof designs, options: ExploreOptions, workers = [2, 3]): ExploreResult {
  const design = designs[name]();
  const flat = exploreDesign(design, options);
  expect(flat.engine).toBe('flat');
  if (name === 'pairFlawed' || name === 'pairSound' || name === 'pairWide') {
    const objects = exploreDesign(design, { ...options, flat: false });
    expect(comparable(flat), `${name}: flat and objects`).toEqual(comparable(objects));
  }
  for (const count of workers) {
    const parallel = exploreDesign(design, { ...options, workers: count, designSource: { module, export: name } });
    expect(parallel.engine, `${name} on ${count} workers`).toBe('flat');
    expect(comparable(parallel), `${name} on ${count} workers`).toEqual(comparable(flat));
  }
  return flat;
}

describe('the parallel flat search is the one-thread flat search', () => {
  test.for([1, 2, 4, 6])('flawed and sound toys to depth %i', (depth) => {
    expectSame('pairFlawed', { depth });
    expectSame('pairSound', { depth });
  });

  test('a wider toy, exhausted, and its violations first found on the last level', () => {
    const sound = expectSame('pairSound', { depth: 12 });
    expect(sound.exhausted).toBe(true);
    // sum-below-four breaks first at depth 4: the last level of this search.
    const late = expectSame('pairWide', { depth: 4 });
    expect(late.violations.map((found) => [found.invariant, found.length])).toEqual([['sum-below-four', 4]]);
    expectSame('pairWide', { depth: 11 });
  });

  test('every invariant broken: the same transition stops all three', () => {
    const result = expectSame('pairFlawed', { depth: 8, invariants: ['sum-below-four', 'no-reset-from-full'] });
    expect(result.depthReached).toBe(3);
  });

  test.for([1, 2, 5, 9])('a state limit of %i', (maxStates) => {
    const result = expectSame('pairWide', { depth: 8, maxStates });
    expect(result.limitReached).toBe(true);
    expect(result.states).toBe(maxStates);
  });

  test('an encoder that throws is the scope throwing, at the same transition', () => {
    const result = expectSame('pairThrowing', { depth: 6 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toMatch(/encoder bug at \(2, 1\)/);
  });

  test('a step status no search knows: the same throw, after the transition is counted', () => {
    const result = expectSame('pairBadStatus', { depth: 6 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toMatch(/flat step returned 7/);
  });

  test('an encoder that steps otherwise than the design near the root is reported, never holds', () => {
    const result = expectSame('pairRaiseBTwice', { depth: 3 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toMatch(/the flat encoding gives two vectors/);
  });

  test('--no-flat keeps the object search on the workers', () => {
    const result = exploreDesign(pairFlawed(), {
      depth: 4,
      workers: 2,
      flat: false,
      designSource: { module, export: 'pairFlawed' },
    });
    expect(result.engine).toBe('objects');
  });
});

// The Promela anchor's XenGT universe (`bench-anchor.ts`), its workers loading it from dist/src.
describe.runIf(DEEP)('the anchor on workers', () => {
  test.for([6, 10, 30])('2 and 3 workers to depth %i give the one-thread flat result', async (depth) => {
    // Imported here: the default tier does not load the XenGT model.
    const { anchorDesign } = await import('../../src/bench-anchor.js');
    const designSource = { module: pathToFileURL(resolve('dist/src/bench-anchor.js')).href, export: 'anchorDesign' };
    const flat = exploreDesign(anchorDesign(), { depth });
    for (const workers of [2, 3]) {
      const parallel = exploreDesign(anchorDesign(), { depth, workers, designSource });
      expect(parallel.engine).toBe('flat');
      expect(comparable(parallel)).toEqual(comparable(flat));
    }
  });
});
