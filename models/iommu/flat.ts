/**
 * The flat reference map: for each paging domain, its present leaves as a list sorted by first
 * IOVA page. It implements the reference semantics (§3.2) with plain interval logic and no tree —
 * map never overwrites (a new leaf that touches an existing one is not recorded), unmap removes
 * every leaf a cleared range touches — so that the radix-tree code in page-table.ts can be checked
 * against it after every step (`pageTableMatchesFlat`). Deliberate bugs are never injected here.
 *
 * Leaf granularity (not one record per 4 KiB page) keeps a 1 GiB mapping one record instead of
 * 262144; a sorted list rather than an object keyed by IOVA page keeps copying the state cheap
 * (page numbers up to 2^36 would make such an object a slow dictionary).
 */
import { rangesIntersect } from './address.js';
import type { IommuState, Translation } from './types.js';

/** The domain's flat leaves (sorted, disjoint), or `undefined` for a domain without a record. */
export function flatLeaves(state: IommuState, domainId: number): Translation[] | undefined {
  return Object.hasOwn(state.flat, domainId) ? state.flat[domainId] : undefined;
}

/** Index of the first leaf starting at or after `iovaPage` (binary search). */
function lowerBound(leaves: readonly Translation[], iovaPage: number): number {
  let low = 0;
  let high = leaves.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const leaf = leaves[middle];
    if (leaf !== undefined && leaf.iovaPage < iovaPage) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Whether [start, end) touches any of the sorted disjoint `leaves`. */
export function touchesAny(leaves: readonly Translation[], start: number, end: number): boolean {
  // With disjoint sorted leaves, only the last leaf starting before `end` can reach `start`.
  const candidate = leaves[lowerBound(leaves, end) - 1];
  return candidate !== undefined && candidate.iovaPage + candidate.pages > start;
}

/**
 * Records a new leaf unless it touches a leaf that was present before the map (`existing`, a copy
 * of the list taken at the start of the map). Returns whether it was recorded.
 */
export function flatAddLeaf(
  state: IommuState,
  domainId: number,
  leaf: Translation,
  existing: readonly Translation[],
): boolean {
  const leaves = flatLeaves(state, domainId);
  if (leaves === undefined) return false;
  if (touchesAny(existing, leaf.iovaPage, leaf.iovaPage + leaf.pages)) return false;
  const { iovaPage, frame, pages, read, write } = leaf;
  leaves.splice(lowerBound(leaves, iovaPage), 0, { iovaPage, frame, pages, read, write });
  return true;
}

/** Removes every leaf touching [startPage, endPage); returns how many were removed. */
export function flatRemoveRange(state: IommuState, domainId: number, startPage: number, endPage: number): number {
  const leaves = flatLeaves(state, domainId);
  if (leaves === undefined) return 0;
  const kept = leaves.filter((leaf) => !rangesIntersect(leaf.iovaPage, leaf.iovaPage + leaf.pages, startPage, endPage));
  state.flat[domainId] = kept;
  return leaves.length - kept.length;
}
