/**
 * The record shapes (`src/record-shapes.ts`) change how fast the fingerprint walk is, not what it
 * hashes: every fingerprint is bit-identical to the walk before them (`stable-fingerprint-reference.ts`),
 * on random plain data and on the states the explorer reaches.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { RenamedFields } from '../../src/stable-json.js';
import { renamedFingerprint, stableFingerprint } from '../../src/stable-fingerprint.js';
import { firstStates } from '../../bench/scope-states.js';
import { findDesign } from '../../properties/registry.js';
import { DEEP } from '../helpers.js';
import {
  referenceFingerprint,
  referenceRenamedFingerprint,
  renamingByFirstAppearance,
} from './stable-fingerprint-reference.js';

// Keys that make records of one key set in several insertion orders, array indices (and keys that
// only look like one: "01", 2³² − 1), records mixing both, and the empty key.
const keys = [
  'a',
  'b',
  'kind',
  'gfn',
  'mfn',
  'refcount',
  'é',
  '',
  '0',
  '1',
  '9',
  '10',
  '01',
  '4294967294',
  '4294967295',
];
const manyKeys = Array.from({ length: 40 }, (_, index) => `k${index}`);

const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom(-0, 2 ** 31, -(2 ** 31), 2 ** 53, 0.5, Number.NaN, Number.NEGATIVE_INFINITY),
    fc.boolean(),
    fc.constantFrom(null, undefined, () => 1, 'gfn', 'ab', ''),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...keys), tie('value'), { maxKeys: 5 }),
    // More keys than the shapes' count buckets (`COUNTS`), and records without a prototype.
    fc.dictionary(fc.constantFrom(...manyKeys), fc.integer({ min: 0, max: 3 }), { minKeys: 30, maxKeys: 40 }),
    fc
      .dictionary(fc.constantFrom(...keys), tie('value'), { maxKeys: 3 })
      .map((record) => Object.assign(Object.create(null) as object, record)),
  ),
})).value;

// `mfn` and the index `1` renamed, `gfn` and the index `10` left out.
const fields: RenamedFields = new Map([
  ['mfn', 'rename'],
  ['1', 'rename'],
  ['gfn', 'omit'],
  ['10', 'omit'],
]);
// A second renaming on the same records (a scope has two: `FrameSymmetry`'s under the random policy).
const otherFields: RenamedFields = new Map([
  ['mfn', 'rename'],
  ['gfn', 'rename'],
]);
/** Every fingerprint of `value`, the plain and the renamed walk, equal to the reference's. */
function expectSameAsReference(value: unknown): void {
  expect(stableFingerprint(value)).toEqual(referenceFingerprint(value));
  const tail = (): unknown => ({ b: 1, a: [value] });
  for (const renamed of [fields, otherFields])
    expect(renamedFingerprint(value, renamed, renamingByFirstAppearance(), tail)).toEqual(
      referenceRenamedFingerprint(value, renamed, renamingByFirstAppearance(), tail),
    );
}

describe('the record shapes hash exactly what the walk before them did', () => {
  test('on random plain data: indices, mixed keys, nested arrays, undefined and functions (about 0.5 s)', () => {
    fc.assert(
      fc.property(plain, (value) => expectSameAsReference(value)),
      { seed: 23, numRuns: 1500 },
    );
    // The empty key, which the order takes for an array index, first, last and between.
    for (const value of [
      { b: 1, '': 2 },
      { '': 2, b: 1 },
      { 1: 0, '': 1, a: 2 },
      { a: 1, '': 2, b: 3 },
    ])
      expectSameAsReference(value);
  });

  // Each scope's reachable states at a small depth (the deep tier one deeper): the models' own
  // record shapes, through both walks (the scopes' own fingerprints are compared whole by the
  // explore counts, `bench/ab-explore.ts`).
  // GVT-g's scope costs a second at depth 2: the deep tier only.
  const scopes: readonly (readonly [string, number])[] = DEEP
    ? [
        ['iommu/lazy-held', 3],
        ['vfio/type1', 3],
        ['gvt/write-protect', 2],
        ['viommu/shadow', 3],
      ]
    : [
        ['iommu/lazy-held', 1],
        ['vfio/type1', 2],
        ['viommu/shadow', 2],
      ];
  test.each(scopes)('on the states %s reaches in %i steps', (id, depth) => {
    const design = findDesign(id);
    if (design === undefined) throw new Error(`no design ${id}`);
    const states = firstStates(design, depth, 2000);
    expect(states.length).toBeGreaterThan(20);
    for (const state of states) expectSameAsReference(state);
  });
});
