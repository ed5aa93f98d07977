/**
 * XenGT's flat encoding (`properties/xengt/flat`, issue 23) against the object model: on anchor
 * graphs (`src/bench-anchor.ts`) under both backends, every transition's command, next state and
 * invariant verdicts agree, and the vectors partition states exactly as the key does. The default
 * tier walks the first levels; the deep one whole graphs, the scaled anchor's (63,576 states)
 * included.
 */
import { describe, expect, test } from 'vitest';
import { anchorDesign, anchorFlat, SCALED_ANCHOR } from '../../src/bench-anchor.js';
import type { AnchorUniverse } from '../../src/bench-anchor.js';
import { FLAT_CHANGED } from '../../src/flat-scope.js';
import { exploreDesign } from '../../src/explore.js';
import { DEEP } from '../helpers.js';
import { flatAgreement } from '../../src/flat-agreement.js';

const SMALL: AnchorUniverse = { frames: 3, gfns: 2, entries: 2, full: true, backend: 'map', symmetric: false };

function agreement(universe: AnchorUniverse, depth: number): ReturnType<typeof flatAgreement> {
  const flat = anchorFlat(universe);
  if (flat === undefined) throw new Error('the anchor has no flat encoding');
  return flatAgreement(anchorDesign(universe), (state, out) => flat.encode(state as never, out), { depth });
}

describe('XenGT flat encoding', () => {
  test('the map backend: the first 4 levels of the 3-frame anchor agree', () => {
    const found = agreement(SMALL, 4);
    expect(found.problems).toEqual([]);
    expect(found.states).toBeGreaterThan(100);
  });

  test('the lookup backend: the first 5 levels agree, and the broken invariants with them', () => {
    const found = agreement({ ...SMALL, backend: 'lookup' }, 5);
    expect(found.problems).toEqual([]);
    // The graph exercises the flat checks: the lookup backend's foreign and free DMA.
    expect(Object.keys(found.broken).sort()).toEqual([
      'cache-kref-matches-shadow-users',
      'no-dma-to-foreign-frame',
      'no-dma-to-free-frame',
      'shadow-frame-held-by-backend',
      'shadow-frame-owned-by-guest',
      'shadow-matches-guest-entry',
    ]);
  });

  test('explore gives the same result on vectors as on objects, violations and their traces included', () => {
    for (const backend of ['map', 'lookup'] as const) {
      const design = anchorDesign({ ...SMALL, backend });
      const flat = exploreDesign(design, { depth: 4 });
      const objects = exploreDesign(design, { depth: 4, flat: false });
      expect([flat.engine, objects.engine]).toEqual(['flat', 'objects']);
      const same = (result: typeof flat): unknown => ({ ...result, elapsedMs: 0, engine: null });
      expect(same(flat)).toEqual(same(objects));
      expect(flat.verdict).toBe(backend === 'map' ? 'holds' : 'violated');
    }
  });

  test('frames renamed as the key renames them: the first levels agree under both backends', () => {
    for (const backend of ['map', 'lookup'] as const) {
      const found = agreement({ ...SMALL, backend, symmetric: true }, 4);
      expect(found.problems).toEqual([]);
    }
  });

  test('the state checks catch a broken vector: a reference too many, a pool mapping gone, a dangling address, a kref of 0, a frame free but off the list', () => {
    const flat = anchorFlat(SMALL);
    if (flat === undefined) throw new Error('no flat encoding');
    const scope = flat.scope();
    const start = new Int32Array(scope.width);
    scope.init(start);
    expect(scope.checkState(start, 0)).toBe(0);
    const bit = (name: string): number => 1 << scope.invariants.indexOf(name);
    // Position 0 writes GGTT entry 0 → gfn 0: the pool maps the guest's frame, one reference more.
    const written = new Int32Array(scope.width);
    expect(scope.step(start, 0, 0, written)).toBe(FLAT_CHANGED);
    expect(scope.checkState(written, 0)).toBe(0);
    const { layout } = flat;
    const mfn = written[layout.poolMfn] ?? -1;
    expect(mfn).toBeGreaterThanOrEqual(0);
    const changed = Int32Array.from(written);
    changed[layout.refcount + mfn] = (changed[layout.refcount + mfn] ?? 0) + 1;
    expect(scope.checkState(changed, 0) & bit('frame-refcount-matches-holders')).not.toBe(0);
    const unmapped = Int32Array.from(written);
    unmapped[layout.poolMfn] = -1;
    expect(scope.checkState(unmapped, 0) & bit('backend-mappings-match-shadow')).not.toBe(0);
    // Entry 0's host entry names an address no cache entry has; gfn 0's cache entry at kref 0.
    const dangling = Int32Array.from(written);
    dangling[layout.host] = (dangling[layout.host] ?? 0) + 1;
    expect(scope.checkState(dangling, 0) & bit('shadow-dma-addr-cached')).not.toBe(0);
    const unreferenced = Int32Array.from(written);
    unreferenced[layout.cacheKref] = 0;
    expect(scope.checkState(unreferenced, 0) & bit('counters-in-range')).not.toBe(0);
    const unlisted = Int32Array.from(start);
    const owned = [...Array(layout.frames).keys()].find((frame) => (start[layout.owner + frame] ?? -1) >= 0) ?? 0;
    unlisted[layout.owner + owned] = -1;
    expect(scope.checkState(unlisted, 0) & bit('free-iff-unreferenced')).not.toBe(0);
  });

  test.runIf(DEEP)(
    'whole graphs agree: 3 frames under both backends, frames renamed or not, and the scaled anchor',
    () => {
      for (const universe of [
        SMALL,
        { ...SMALL, backend: 'lookup' as const },
        { ...SMALL, symmetric: true },
        { ...SMALL, backend: 'lookup' as const, symmetric: true },
      ]) {
        expect(agreement(universe, 40).problems).toEqual([]);
      }
      const scaled = agreement(SCALED_ANCHOR, 40);
      expect(scaled.problems).toEqual([]);
      expect([scaled.states, scaled.transitions]).toEqual([63_576, 890_064]);
    },
    600_000,
  );
});
