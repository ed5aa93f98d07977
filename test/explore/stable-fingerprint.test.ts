/** The one-pass fingerprint of canonical data decides what `stableJson`'s text decides. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DistinctCommands } from '../../src/explore.js';
import { renamedStableJson, sameJson, stableJson } from '../../src/stable-json.js';
import type { RenamedFields } from '../../src/stable-json.js';
import { renamedFingerprint, stableFingerprint } from '../../src/stable-fingerprint.js';
import { fingerprint128, sameFingerprint } from '../../src/state-table.js';
import { renamingByFirstAppearance } from './stable-fingerprint-reference.js';

// Plain data as the models' states hold it: small integers, strings, nulls, nested records and
// arrays, with the odd float, -0, undefined field and integer-like key.
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom(0, -0, 2 ** 31, -(2 ** 31), 2 ** 53, 0.5, Number.NaN, Number.POSITIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constantFrom('', 'a', 'ab', 'abc', 'gfn', '10', '9', 'é'),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'gfn', 'mfn', '0', '1', '10', '9'), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('stableFingerprint', () => {
  test('equal canonical JSON, equal fingerprint; different, different', () => {
    fc.assert(
      fc.property(plain, plain, (left, right) => {
        const sameText = stableJson(left) === stableJson(right);
        expect(sameFingerprint(stableFingerprint(left), stableFingerprint(right))).toBe(sameText);
      }),
      { seed: 23, numRuns: 3000 },
    );
  });

  test('sameJson decides what comparing the two texts decides', () => {
    fc.assert(
      fc.property(plain, plain, (left, right) => {
        expect(sameJson(left, right)).toBe(stableJson(left) === stableJson(right));
        expect(sameJson(left, structuredClone(left))).toBe(true);
      }),
      { seed: 29, numRuns: 2000 },
    );
    expect(sameJson({ a: undefined, b: [undefined, 1] }, { b: [null, 1] })).toBe(true);
    expect(sameJson([Number.NaN, -0], [null, 0])).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson([], {})).toBe(false);
  });

  test("the explorer's distinct commands: a command is new exactly when no earlier one has its canonical JSON, compared pairwise (few templates) or by fingerprint (many)", () => {
    for (const templates of [4, 40]) {
      fc.assert(
        fc.property(fc.array(plain, { maxLength: 8 }), (commands) => {
          const distinct = new DistinctCommands(templates);
          const texts = new Set<string>();
          for (const command of [...commands, ...commands.map((command) => structuredClone(command))]) {
            const text = stableJson(command);
            expect(distinct.add(command)).toBe(!texts.has(text));
            texts.add(text);
          }
        }),
        { seed: 31, numRuns: 500 },
      );
      const distinct = new DistinctCommands(templates);
      const added = [
        { a: undefined, b: [undefined, 1] },
        { b: [null, 1] },
        { b: [null, 2] },
        [Number.NaN, -0],
        [null, 0],
      ];
      expect(added.map((command) => distinct.add(command))).toEqual([true, false, true, true, false]);
    }
  });

  test('key order, undefined fields and -0 do not matter; structure and types do', () => {
    const print = (value: unknown): string => stableFingerprint(value).join(',');
    expect(print({ a: 1, b: [2, 'x'] })).toBe(print({ b: [2, 'x'], a: 1, c: undefined }));
    expect(print([0])).toBe(print([-0]));
    expect(print([undefined])).toBe(print([null]));
    // Array indices come first in numeric order, the other keys sorted: whatever the insertion
    // order, and "01" or "4294967295" (not indices) among the sorted ones.
    expect(print({ 10: 'x', 9: 'y', a: 1, '01': 2 })).toBe(print({ '01': 2, a: 1, 9: 'y', 10: 'x' }));
    expect(print({ 10: 'x', 9: 'y' })).not.toBe(print({ 10: 'y', 9: 'x' }));
    expect(print({ 4294967295: 1, b: 2, 4294967294: 3 })).toBe(print({ b: 2, 4294967294: 3, 4294967295: 1 }));
    expect(print({ '01': 1 })).not.toBe(print({ 1: 1 }));
    // The encoding is prefix-free: nesting, lengths and types tell apart what the words alone would not.
    const distinct = [
      [],
      [[]],
      {},
      { a: {} },
      [1, 2],
      [[1], 2],
      [1, [2]],
      '1',
      1,
      'ab',
      ['a', 'b'],
      { ab: 1 },
      { a: 'b1' },
    ];
    expect(new Set(distinct.map(print)).size).toBe(distinct.length);
  });

  test('it is not the hash of the text (a scope gives one or the other), and it is a function of the data alone', () => {
    const state = { frames: [{ owner: 1, refcount: 2 }], inflight: [] };
    expect(stableFingerprint(state)).not.toEqual(fingerprint128(stableJson(state)));
    expect(stableFingerprint(structuredClone(state))).toEqual(stableFingerprint(state));
  });
});

describe('renamedFingerprint', () => {
  // `mfn` renamed (by first appearance, as the frame renaming does), `gfn` left out.
  const fields: RenamedFields = new Map([
    ['mfn', 'rename'],
    ['gfn', 'omit'],
  ]);
  const renaming = renamingByFirstAppearance;
  const text = (value: unknown): string => renamedStableJson(value, fields, renaming());
  const print = (value: unknown): string => renamedFingerprint(value, fields, renaming(), () => null).join(',');

  test('equal renamed text, equal fingerprint; different, different (about 0.2 s)', () => {
    fc.assert(
      fc.property(plain, plain, (left, right) => {
        expect(print(left) === print(right)).toBe(text(left) === text(right));
      }),
      { seed: 29, numRuns: 2000 },
    );
  });

  test('it renames in walk order, leaves out what it omits, and the plain walk after it is plain', () => {
    expect(text({ b: { mfn: 7 }, a: { mfn: [9, 7] }, gfn: 3 })).toBe('{"a":{"mfn":[0,1]},"b":{"mfn":1}}');
    expect(print({ a: { mfn: 5 }, gfn: 1 })).toBe(print({ a: { mfn: 8 }, gfn: 2 }));
    expect(print({ a: { mfn: 5 } })).not.toBe(print({ a: { mfn: 5 }, b: { mfn: 6 } }));
    expect(stableFingerprint({ mfn: 5, gfn: 1 })).not.toEqual(stableFingerprint({ mfn: 8, gfn: 2 }));
  });
});
