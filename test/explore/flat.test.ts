/**
 * The flat explorer (`explore-flat.ts`) against the object search on a toy stack that has both
 * (`flat-toy.ts`): the same result, field for field (timings and the engine's name aside), on
 * sound and flawed designs, at every depth, under a state limit, an early stop and a stop request;
 * and what it does with an encoding that throws or disagrees with the design.
 */
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli.js';
import { exploreDesign } from '../../src/explore.js';
import type { ExploreOptions, ExploreProgress, ExploreResult } from '../../src/explore.js';
import { FlatStateTable } from '../../src/flat-table.js';
import { pairDesign } from './flat-toy.js';

const comparable = (result: ExploreResult): unknown => ({ ...result, elapsedMs: 0, engine: undefined });

/** Both searches with the same options; the flat one must have run flat. */
function both(
  design: ReturnType<typeof pairDesign>,
  options: ExploreOptions,
): { flat: ExploreResult; objects: ExploreResult } {
  const flat = exploreDesign(design, options);
  const objects = exploreDesign(design, { ...options, flat: false });
  expect(flat.engine).toBe('flat');
  expect(objects.engine).toBe('objects');
  return { flat, objects };
}

describe('the flat search is the object search', () => {
  test.for([1, 2, 3, 4, 5, 8])('flawed and sound toys to depth %i', (depth) => {
    for (const expected of ['violates', 'holds'] as const) {
      const { flat, objects } = both(pairDesign({ expected }), { depth });
      expect(comparable(flat)).toEqual(comparable(objects));
    }
  });

  test('the flawed toy: both breaks at depth 4, with the same shortest traces and places', () => {
    const { flat, objects } = both(pairDesign(), { depth: 6 });
    expect(flat.verdict).toBe('violated');
    expect(flat.met).toBe(true);
    expect(flat.violations.map((found) => [found.invariant, found.length])).toEqual([
      ['sum-below-four', 4],
      ['no-reset-from-full', 4],
    ]);
    expect(flat.violations.map((found) => found.steps)).toEqual(objects.violations.map((found) => found.steps));
    expect(flat.firstAt).toEqual(objects.firstAt);
    // The reset from a = 3 is the state's fourth distinct command (raise a refused, raise b, move,
    // reset): its place counts distinct commands, not templates (the pick is a duplicate there).
    const resetFrom = flat.violations[1]?.steps.slice(0, 3);
    expect(resetFrom).toEqual([
      { kind: 'raise', counter: 'a' },
      { kind: 'raise', counter: 'a' },
      { kind: 'raise', counter: 'a' },
    ]);
    expect((flat.firstAt?.['no-reset-from-full'] ?? 0) % 65_536).toBe(3);
  });

  test('the sound toy is exhausted: every state, no violation', () => {
    const { flat, objects } = both(pairDesign({ expected: 'holds' }), { depth: 20 });
    expect(flat.verdict).toBe('holds');
    expect(flat.exhausted).toBe(true);
    expect(flat.states).toBe(12);
    expect(flat.depthReached).toBe(20);
    expect(comparable(flat)).toEqual(comparable(objects));
  });

  test('an invariant broken by the initial state, and a subset of the invariants', () => {
    const design = pairDesign();
    const broken = {
      ...design,
      invariants: design.invariants.map((invariant) =>
        invariant.name === 'sum-at-most-five'
          ? { ...invariant, check: () => ({ message: 'always', actual: '', expected: '' }) }
          : invariant,
      ),
    };
    // The encoder must judge the initial vector as the design judges the initial state: it does
    // not here (its sum-at-most-five holds at 0), which the flat search reports.
    const disagreeing = exploreDesign(broken, { depth: 3 });
    expect(disagreeing.verdict).toBe('crashed');
    expect(disagreeing.message).toMatch(/disagrees with the design at the initial state/);
    const { flat, objects } = both(design, { depth: 5, invariants: ['no-reset-from-full'] });
    expect(flat.violations.map((found) => found.invariant)).toEqual(['no-reset-from-full']);
    expect(comparable(flat)).toEqual(comparable(objects));
  });

  test('every invariant broken: both stop at the same transition', () => {
    const { flat, objects } = both(pairDesign(), { depth: 8, invariants: ['sum-below-four', 'no-reset-from-full'] });
    expect(flat.transitions).toBeLessThan(exploreDesign(pairDesign(), { depth: 4 }).transitions);
    expect(comparable(flat)).toEqual(comparable(objects));
  });

  test.for([1, 2, 5, 9, 12])('a state limit of %i', (maxStates) => {
    for (const expected of ['violates', 'holds'] as const) {
      const { flat, objects } = both(pairDesign({ expected }), { depth: 8, maxStates });
      expect(comparable(flat)).toEqual(comparable(objects));
      if (maxStates < 12) expect(flat.limitReached).toBe(true);
    }
  });

  test('a stop request: interrupted at the same record, with the same progress reports', () => {
    const run = (flat: boolean): { result: ExploreResult; progress: ExploreProgress[] } => {
      let asked = 0;
      const progress: ExploreProgress[] = [];
      const result = exploreDesign(pairDesign({ expected: 'holds' }), {
        depth: 8,
        flat,
        shouldStop: () => (asked += 1) > 6,
        onProgress: (at) => progress.push(at),
      });
      return { result, progress };
    };
    const flat = run(true);
    const objects = run(false);
    expect(flat.result.interrupted).toBe(true);
    expect(flat.result.verdict).toBe('inconclusive');
    expect(comparable(flat.result)).toEqual(comparable(objects.result));
    expect(flat.progress).toEqual(objects.progress);
  });

  test('options the encoding cannot give take the object search', () => {
    const design = pairDesign();
    expect(exploreDesign(design, { depth: 2, everyTransition: true }).engine).toBe('objects');
    expect(exploreDesign(design, { depth: 2, key: (state) => JSON.stringify(state) }).engine).toBe('objects');
    expect(exploreDesign(design, { depth: 2, shard: { index: 1, count: 2 } }).engine).toBe('objects');
    // Partial-order reduction on a scope without footprints is no reduction: flat, the same result.
    const reduced = exploreDesign(design, { depth: 5, partialOrder: true });
    expect(reduced.engine).toBe('flat');
    expect(comparable(reduced)).toEqual(
      comparable(exploreDesign(design, { depth: 5, partialOrder: true, flat: false })),
    );
    // An invariant the encoder does not decide.
    const partial = pairDesign({ invariantsOrder: ['sum-below-four', 'no-reset-from-full'] });
    expect(exploreDesign(partial, { depth: 2 }).engine).toBe('objects');
    expect(exploreDesign(partial, { depth: 2, invariants: ['sum-below-four'] }).engine).toBe('flat');
  });
});

describe('an encoding that is wrong', () => {
  test('one that throws is reported as the scope throwing, never as holds', () => {
    const result = exploreDesign(pairDesign({ expected: 'holds', flaw: { throwsAt: [2, 0] } }), { depth: 5 });
    expect(result.engine).toBe('flat');
    expect(result.verdict).toBe('crashed');
    expect(result.outcome).toBe('crashed');
    expect(result.message).toBe('the explore scope threw: encoder bug at (2, 0)');
    expect(result.crash).toBeNull();
  });

  test('a step that differs near the root: the audit reports it where the flat search alone would hold', () => {
    const design = pairDesign({ flaw: { raiseBStuck: true } });
    const options = { depth: 4, invariants: ['sum-below-four'] };
    // The object search breaks it by a a a b; the stuck encoding first reaches a + b = 4 at depth 5
    // (a a a, move, a): on its own, its search would find no violation.
    expect(exploreDesign(design, { ...options, flat: false }).verdict).toBe('violated');
    const result = exploreDesign(design, options);
    expect(result.verdict).toBe('crashed');
    expect(result.message).toBe(
      'the flat encoding disagrees with the design at the initial state on {"counter":"b","kind":"raise"}: it steps to record 0, the design to record 3\'s state',
    );
  });

  test('a verdict that differs near the root: reported, not "holds"', () => {
    const result = exploreDesign(pairDesign({ flaw: { blindSum: true } }), { depth: 4 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toMatch(/it finds none broken, the design sum-below-four$/);
  });

  test('a command tried twice where the design tries it once', () => {
    const result = exploreDesign(pairDesign({ flaw: { pickNeverDuplicate: true } }), { depth: 4 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toBe(
      'the flat encoding disagrees with the design at the state 1 step deep (record 1): its distinct command 2 is {"counter":"b","kind":"raise"}, the design\'s {"kind":"move"}',
    );
  });

  test('a step that differs: two vectors for one state of the design', () => {
    const result = exploreDesign(pairDesign({ flaw: { raiseBTwice: true } }), { depth: 4 });
    expect(result.verdict).toBe('crashed');
    expect(result.message).toMatch(/^the flat encoding gives two vectors \(records \d+ and \d+\) to states of one key/);
  });

  test('a verdict that differs past the audit: its counterexample does not replay, and that is reported, not printed', () => {
    // a's cap 40: the state one below it lies past the audited records.
    const design = pairDesign({ aMax: 40, flaw: { resetEarly: true } });
    const options = { depth: 41, invariants: ['no-reset-from-full'] };
    const result = exploreDesign(design, options);
    expect(result.engine).toBe('flat');
    expect(result.verdict).toBe('crashed');
    expect(result.message).toBe(
      'the flat encoding disagrees with the design: it finds no-reset-from-full broken by a trace of 40 steps, but replayed through the design it holds (explore without the flat encoding: --no-flat)',
    );
    expect(result.violations).toEqual([]);
    // The object search, the reference, finds it one step deeper; a correct encoding, the same.
    const reference = exploreDesign(design, { ...options, flat: false });
    expect(reference.violations.map((found) => found.length)).toEqual([41]);
    const correct = exploreDesign(pairDesign({ aMax: 40 }), options);
    expect(correct.engine).toBe('flat');
    expect(comparable(correct)).toEqual(comparable(reference));
  });
});

describe('the flat visited set', () => {
  test('past its first arena and table: every vector found at its record, no two merged', () => {
    const table = new FlatStateTable(3);
    const vector = new Int32Array(3);
    const put = (index: number): void => {
      // Vectors that differ in one word only, and in high bits, as encodings' fields do.
      vector[0] = index & 7;
      vector[1] = (index >> 3) << 20;
      vector[2] = -1;
    };
    // Counted, then asserted once: 5,000 expect calls would cost more than the table.
    const wrong: number[] = [];
    for (let index = 0; index < 5000; index++) {
      put(index);
      if (table.find(vector) !== -1 || table.add(index - 1, index & 0xffff) !== index) wrong.push(index);
    }
    expect(table.size).toBe(5000);
    const stored = new Int32Array(3);
    for (let index = 0; index < 5000; index++) {
      put(index);
      table.vector(index, stored);
      const kept = stored[0] === vector[0] && stored[1] === vector[1] && stored[2] === -1;
      if (table.find(vector) !== index || table.parents[index] !== index - 1 || !kept) wrong.push(index);
    }
    expect(wrong).toEqual([]);
    put(5000);
    expect(table.find(vector)).toBe(-1);
  });

  test('16-bit words, two to an integer: each vector back whole, none merged, a word that does not fit refused', () => {
    // An odd width (the last integer's high half unused), negative words and both halves' extremes.
    const table = new FlatStateTable(5, 16);
    const vector = new Int32Array(5);
    const put = (index: number): void => {
      vector[0] = (index % 3) - 1;
      vector[1] = index & 1 ? 32767 : -32768;
      vector[2] = index >> 1;
      vector[3] = -(index % 7);
      vector[4] = index % 2 === 0 ? -1 : 4097;
    };
    const wrong: number[] = [];
    const stored = new Int32Array(5);
    for (let index = 0; index < 3000; index++) {
      put(index);
      if (table.find(vector) !== -1 || table.add(index - 1, 0) !== index) wrong.push(index);
    }
    for (let index = 0; index < 3000; index++) {
      put(index);
      table.vector(index, stored);
      if (table.find(vector) !== index || stored.join() !== vector.join()) wrong.push(index);
    }
    expect(wrong).toEqual([]);
    // Different in word 4 only, by a bit a 16-bit store would cut: refused, not merged.
    put(0);
    vector[4] = -1 + (1 << 16);
    expect(() => table.find(vector)).toThrow(/word 4 is 65535: not within the 16 bits/);
    vector[4] = -1;
    vector[1] = 32768;
    expect(() => table.find(vector)).toThrow(/word 1 is 32768/);
  });

  test('a width of 0: one state', () => {
    const table = new FlatStateTable(0);
    const empty = new Int32Array(1);
    expect(table.find(empty)).toBe(-1);
    table.add(-1, 0);
    expect(table.find(empty)).toBe(0);
    expect(() => table.add(0, 0)).toThrow(/not after a find that missed/);
  });
});

describe('dmaprop explore and the flat encoding', () => {
  const run = async (argv: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const io: CliIo = { out: (text) => (out += text), err: (text) => (out += text) };
    const code = await main(argv, io, [pairDesign()]);
    return { code, out };
  };

  test('runs flat by default and says so; --no-flat searches objects, to the same result', async () => {
    const flat = await run(['explore', '--depth', '4', '--json']);
    const objects = await run(['explore', '--depth', '4', '--json', '--no-flat']);
    expect(flat.code).toBe(0);
    expect(objects.code).toBe(0);
    type Json = { results: { engine: string; elapsedMs: number }[] };
    const [fast] = (JSON.parse(flat.out) as Json).results;
    const [slow] = (JSON.parse(objects.out) as Json).results;
    expect(fast?.engine).toBe('flat');
    expect(slow?.engine).toBe('objects');
    expect({ ...fast, engine: '', elapsedMs: 0 }).toEqual({ ...slow, engine: '', elapsedMs: 0 });
    expect((await run(['explore', '--depth', '4'])).out).toMatch(/transitions\/s, flat encoding\)/);
    expect((await run(['explore', '--depth', '4', '--no-flat'])).out).not.toMatch(/flat encoding/);
  });

  test('--no-flat is in the help', async () => {
    let help = '';
    const io: CliIo = { out: (text) => (help += text), err: (text) => (help += text) };
    const program = await main(['explore', '--help'], io, [pairDesign()]);
    expect(program).toBe(0);
    expect(help).toContain('--no-flat');
  });
});
