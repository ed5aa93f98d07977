/**
 * `flatAgreement` (src/flat-agreement.ts), the whole-graph check a flat encoding's author runs:
 * silent on the toy's faithful encoding, and a named disagreement for each way an encoding can
 * part from its design (a step, a verdict, a duplicate, a throw).
 */
import { describe, expect, test } from 'vitest';
import { flatAgreement } from '../../src/flat-agreement.js';
import type { FlatFlaw, Pair } from './flat-toy.js';
import { pairDesign } from './flat-toy.js';

const encode = (state: unknown, out: Int32Array): void => {
  const pair = state as Pair;
  out[0] = pair.a;
  out[1] = pair.b;
};

const agree = (flaw: FlatFlaw, aMax = 3): ReturnType<typeof flatAgreement> =>
  flatAgreement(pairDesign({ flaw, aMax }), encode, { depth: aMax + 20 });

describe('flatAgreement', () => {
  test('a faithful encoding: no disagreement over the whole graph, the broken invariants counted', () => {
    const found = agree({});
    expect(found.problems).toEqual([]);
    expect(found.states).toBe(12);
    expect(Object.keys(found.broken).sort()).toEqual(['no-reset-from-full', 'sum-below-four']);
    expect(flatAgreement(pairDesign({ expected: 'holds' }), encode, { depth: 20 }).problems).toEqual([]);
  });

  test.each<[string, FlatFlaw, RegExp]>([
    ['a step that goes further', { raiseBTwice: true }, /object .*, flat /],
    ['a step that stays', { raiseBStuck: true }, /object .*, flat /],
    ['a verdict missed', { blindSum: true }, /state invariants \d+, flat \d+/],
    ['a duplicate not seen', { pickNeverDuplicate: true }, /duplicate true, flat status/],
    ['a throw', { throwsAt: [1, 1] }, /threw/],
  ])('%s is a named disagreement', (_what, flaw, problem) => {
    const found = agree(flaw);
    expect(found.problems.length).toBeGreaterThan(0);
    expect(found.problems.join('\n')).toMatch(problem);
  });

  test('a verdict wrong only deep is found there, past where the explorer audits', () => {
    expect(agree({ resetEarly: true }, 40).problems.join('\n')).toMatch(/transition invariants \d+, flat \d+/);
  });
});
