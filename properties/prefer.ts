/**
 * Preferred picks: a pick that resolves among the few live objects an attacker would aim at (the
 * pages a device uses, the frames it still reaches) rather than among all of them. Bugs of DMA
 * isolation need a step to land on exactly such an object (balloon out the page the GPU uses, DMA
 * through the IOVA the IOTLB still caches); a uniform pick among all live objects finds it one
 * time in three or four per step, and a counterexample of five such steps falls below one run in
 * a thousand.
 */
import fc from 'fast-check';
import { isPick, resolvePick } from './pick.js';
import type { Pick, Pickable } from './pick.js';

/**
 * Picks from this one up draw from the preferred objects when there are any. Lower picks keep
 * their meaning, the k-th live object, so a scope that enumerates picks 0, 1, 2 (`dmaprop
 * explore`) reaches the objects it always did.
 */
export const PREFERRED_PICK = 4;

/**
 * A pick of `PREFERRED_PICK` or more is the k-th preferred object, when there is one; any other
 * pick, or one with nothing preferred, is the k-th live object (`resolvePick`). A concrete value
 * is itself. The preferred objects are computed only for a preferred pick (they may cost a view
 * of what the device reaches).
 */
export function resolvePreferring<V>(
  value: Pickable<V>,
  preferred: () => readonly V[],
  live: readonly V[],
  fallback: (pick: number) => V,
): V {
  if (isPick(value) && value.pick >= PREFERRED_PICK) {
    const aimed = preferred();
    if (aimed.length > 0) return aimed[(value.pick - PREFERRED_PICK) % aimed.length] ?? fallback(value.pick);
  }
  return resolvePick(value, live, fallback);
}

/**
 * Like `pickOr`, but aimed: three in five a preferred pick, one in five a pick among all live
 * objects, one in five a raw (possibly invalid) value. (With nothing preferred, a preferred pick
 * is one among all live objects.)
 */
export function preferOr<V>(raw: fc.Arbitrary<V>): fc.Arbitrary<Pickable<V>> {
  const pick = (min: number, max: number): fc.Arbitrary<Pick> =>
    fc.integer({ min, max }).map((index) => ({ pick: index }));
  return fc.oneof(
    { weight: 3, arbitrary: pick(PREFERRED_PICK, PREFERRED_PICK + 3) },
    { weight: 1, arbitrary: pick(0, PREFERRED_PICK - 1) },
    { weight: 1, arbitrary: raw },
  );
}

/** Always a preferred pick: what a command inside an operation's window aims at (`InterleavingSpace.windowArbitrary`). */
export const preferredPick: fc.Arbitrary<Pick> = fc
  .integer({ min: PREFERRED_PICK, max: PREFERRED_PICK + 3 })
  .map((index) => ({ pick: index }));
