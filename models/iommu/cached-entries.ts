/**
 * What the IOMMU's caches of entries share (the PASID cache, `pasid.ts`; the context cache,
 * `context-cache.ts`; the IOTLB's orphan marks, `domain.ts`): a bounded list filled oldest first,
 * and the model's orphan mark on the entries naming a freed domain's DID. Pure: each returns a new
 * list, or the one it was given when nothing changes.
 */

/** `cache` with `entry` appended, the oldest entries dropped beyond `capacity`. */
export function appendBounded<E>(cache: readonly E[], entry: E, capacity: number): E[] {
  const next = [...cache, entry];
  while (next.length > capacity) next.shift();
  return next;
}

/**
 * The entries naming `domainId` marked orphaned (the model's mark for the invariants; the hardware
 * has no such bit): `entries` itself when none is left to mark.
 */
export function markOrphaned<E extends { readonly domainId: number; readonly orphaned?: true }>(
  entries: E[],
  domainId: number,
): E[] {
  if (!entries.some((entry) => entry.domainId === domainId && entry.orphaned !== true)) return entries;
  return entries.map((entry) =>
    entry.domainId === domainId && entry.orphaned !== true ? { ...entry, orphaned: true } : entry,
  );
}
