/**
 * The explorer's visited set (`src/state-table.ts`) and the anchor universe (`src/bench-anchor.ts`),
 * whose graph is the Promela model's in shared/anchors: Spin counts the same states at each depth.
 */
import { describe, expect, test } from 'vitest';
import { anchorDesign, SCALED_ANCHOR } from '../../src/bench-anchor.js';
import { exploreDesign } from '../../src/explore.js';
import { fingerprint128, sameFingerprint, StateTable } from '../../src/state-table.js';

describe('StateTable', () => {
  test('finds what was added, with its record, through many growths; nothing else', () => {
    const table = new StateTable();
    const keys = Array.from({ length: 20_000 }, (_, index) => `state ${index} ${'x'.repeat(index % 13)}`);
    keys.forEach((key, record) => table.add(fingerprint128(key), record));
    expect(table.size).toBe(keys.length);
    keys.forEach((key, record) => expect(table.find(fingerprint128(key))).toBe(record));
    expect(table.find(fingerprint128('state 20000 '))).toBe(-1);
    expect(() => table.add(fingerprint128(keys[7] ?? ''), 99)).toThrow(/already present/);
  });

  test('fingerprints: one per text, every word used, tails of every length told apart', () => {
    const texts = [
      '',
      'a',
      'ab',
      'abc',
      'abcdefg',
      'abcdefgh',
      'abcdefghi',
      'a\u0000',
      '\u0000',
      'é',
      'ab'.repeat(100),
    ];
    const prints = texts.map(fingerprint128);
    for (const [i, left] of prints.entries()) {
      for (const right of prints.slice(i + 1)) expect(sameFingerprint(left, right)).toBe(false);
      for (const word of left) expect(Number.isInteger(word) && word >= 0 && word < 2 ** 32).toBe(true);
    }
    expect(sameFingerprint(fingerprint128('abc'), fingerprint128(['a', 'b', 'c'].join('')))).toBe(true);
  });
});

describe('the anchor universe: the Promela model graph', () => {
  test("Spin's small anchor (3 frames, 1 entry, map): 6, 22, 52, 86, 116, 132 states to depths 1..6", () => {
    const small = { ...SCALED_ANCHOR, frames: 3, entries: 1, full: false };
    const counts = [1, 2, 3, 4, 5, 6].map((depth) => exploreDesign(anchorDesign(small), { depth }).states);
    expect(counts).toEqual([6, 22, 52, 86, 116, 132]);
  });

  test('the scaled anchor holds in its first levels (none of its invariants breaks)', () => {
    const result = exploreDesign(anchorDesign(), { depth: 3 });
    expect(result.verdict).toBe('holds');
    expect(result.violations).toEqual([]);
    expect(result.states).toBeGreaterThan(132);
  });
});
