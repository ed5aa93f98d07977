/**
 * Footprints for partial-order reduction (`ExploreScope.footprint`, `src/partial-order.ts`) built
 * from the model itself: what a command writes is read off the state it leaves (the paths whose
 * values changed: steps copy on write, so unchanged parts are the same objects and are skipped at
 * once), and the stack declares only what the command reads. A write is a read too, so a command
 * that changes a part conflicts with anything else reading or writing it.
 */
import type { Footprint } from '../../src/design.js';

/**
 * The paths (`/`-separated keys) at which `after` differs from `before`, down to `depth` levels:
 * a difference deeper than that is named by its ancestor at that depth.
 */
export function changedPaths(before: unknown, after: unknown, depth: number, prefix = ''): string[] {
  if (Object.is(before, after)) return [];
  if (
    depth === 0 ||
    typeof before !== 'object' ||
    typeof after !== 'object' ||
    before === null ||
    after === null ||
    Array.isArray(before) !== Array.isArray(after)
  ) {
    return [prefix];
  }
  const left = before as Record<string, unknown>;
  const right = after as Record<string, unknown>;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  const paths: string[] = [];
  for (const key of keys) {
    if (Object.is(left[key], right[key])) continue;
    paths.push(...changedPaths(left[key], right[key], depth - 1, prefix === '' ? key : `${prefix}/${key}`));
  }
  return paths;
}

/** A footprint whose writes are what the step changed and whose reads are the declared ones plus those. */
export function footprintOf(before: unknown, after: unknown, reads: readonly string[], depth: number): Footprint {
  const writes = changedPaths(before, after, depth);
  return { reads: [...reads, ...writes], writes };
}
