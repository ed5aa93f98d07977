/**
 * Read-only views of the VT-d state for invariants and for callers that compose the IOMMU with
 * other models (VFIO pins frames, so it needs `iovaToPhys` and the flush-queue views).
 *
 * - `domainTranslations`: a domain's present leaves, from a real page-table walk.
 * - `staleIotlbEntries`: cached entries that no longer agree with the page table, each marked with
 *   whether a queued (lazy) unmap still covers it. §3.7 inv. 3–5: none may exist outside the flush
 *   queue (`staleIotlbOutsideFlushQueue`), in strict or lazy mode, with or without caching mode.
 * - `reachableByDevice` / `reachableFrames`: what a device can reach through its context and PASID
 *   entries: the page table, any IOTLB entry with its tags, or everything (identity domain); for a
 *   nested domain, each first-level entry of the guest's table through stage 2, and its combined
 *   IOTLB entries. A combined entry is stale when stage 2 no longer maps its GPA page to its frame
 *   with its permissions; first-level staleness (the guest skipped its own invalidation) is the
 *   guest's business and is not reported here.
 * - `pendingFlushFrames` / `flushQueueEntriesReleased`: which frames a lazy unmap removed but a stale
 *   IOTLB entry may still reach, and which queued entries a step released (for a holder such as VFIO
 *   that keeps the frame until the flush, the `iommu/lazy-held` design).
 */
import { contextCopied } from './kdump.js';
import { IOVA_PAGE_LIMIT, PAGE_SIZE_BYTES, isNatural, rangesIntersect } from './address.js';
import { cachedPasids } from './pasid.js';
import { contextCacheLookup } from './context-cache.js';
import { requestDomainId } from './domain.js';
import { iotlbEntryPages } from './iotlb.js';
import { hasUnflushed, unflushedPresentContext, unflushedPresentPasids } from './coherency.js';
import { domainLeaves, domainLeavesAsIommu, leavesInRange, lookupLeaf, lookupLeafAsIommu } from './page-table.js';
import { getDomain, isPagingType } from './state.js';
import type {
  FirstLevelTable,
  FlushQueueEntry,
  IotlbEntry,
  IotlbNestedTranslation,
  IommuDomain,
  IommuState,
  Translation,
} from './types.js';

function stripLevel({ iovaPage, frame, pages, read, write }: Translation): Translation {
  return { iovaPage, frame, pages, read, write };
}

/** The domain's present leaves in IOVA order (empty for unknown or non-paging domains). */
export function domainTranslations(state: IommuState, domainId: number): Translation[] {
  const domain = getDomain(state, domainId);
  return domain === undefined ? [] : domainLeaves(state, domain).map(stripLevel);
}

/** The frame `iova` translates to in the domain's page table, or `null` (Linux `iova_to_phys` = 0). */
export function iovaToFrame(state: IommuState, domainId: number, iova: number): number | null {
  const domain = getDomain(state, domainId);
  if (domain === undefined || !isNatural(iova)) return null;
  const iovaPage = Math.floor(iova / PAGE_SIZE_BYTES);
  if (iovaPage >= IOVA_PAGE_LIMIT) return null;
  const leaf = lookupLeaf(state, domain, iovaPage);
  return leaf === null ? null : leaf.frame + (iovaPage - leaf.iovaPage);
}

/** `iova_to_phys`: the physical byte address, or `null` where Linux returns 0. */
export function iovaToPhys(state: IommuState, domainId: number, iova: number): number | null {
  const frame = iovaToFrame(state, domainId, iova);
  return frame === null ? null : frame * PAGE_SIZE_BYTES + (iova % PAGE_SIZE_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Stale IOTLB entries

export type StaleReason =
  /** The DID belongs to no domain (freed, or never allocated). */
  | 'no-domain'
  /** The DID's domain has no page table (identity or blocked). */
  | 'no-page-table'
  /** Some page the entry translates is no longer mapped. */
  | 'unmapped'
  /** Some page now maps a different frame or with different permissions. */
  | 'changed'
  /** A cached not-present entry (caching mode) for a page that is now mapped. */
  | 'now-present';

export interface StaleIotlbEntry {
  /** Position in `state.iotlb`. */
  readonly index: number;
  readonly entry: IotlbEntry;
  readonly reason: StaleReason;
  /**
   * A queued lazy unmap of the same domain covers it, or an unmap cleared and awaiting its
   * caller's sync: the flush will drop it (§3.5 window).
   */
  readonly awaitingFlush: boolean;
}

/** A combined entry against stage 2: the parent must still map its GPA page to its frame, as permissive. */
function nestedStaleness(state: IommuState, domain: IommuDomain, entry: IotlbNestedTranslation): StaleReason | null {
  const parent = domain.parentDomainId === null ? undefined : getDomain(state, domain.parentDomainId);
  if (parent === undefined) return 'no-page-table';
  const leaf = lookupLeaf(state, parent, entry.gpaPage);
  if (leaf === null) return 'unmapped';
  const frame = leaf.frame + (entry.gpaPage - leaf.iovaPage);
  if (frame !== entry.frame || (entry.read && !leaf.read) || (entry.write && !leaf.write)) return 'changed';
  return null;
}

function translationStaleness(state: IommuState, domain: IommuDomain, entry: IotlbEntry): StaleReason | null {
  if (entry.kind === 'nested') return nestedStaleness(state, domain, entry);
  if (entry.kind === 'not-present') return lookupLeaf(state, domain, entry.iovaPage) === null ? null : 'now-present';
  const end = entry.iovaPage + entry.pages;
  let covered = entry.iovaPage;
  for (const leaf of leavesInRange(state, domain, entry.iovaPage, end)) {
    if (leaf.iovaPage > covered) return 'unmapped';
    const sameOffset = leaf.frame - leaf.iovaPage === entry.frame - entry.iovaPage;
    if (!sameOffset || leaf.read !== entry.read || leaf.write !== entry.write) return 'changed';
    covered = leaf.iovaPage + leaf.pages;
  }
  return covered < end ? 'unmapped' : null;
}

function staleness(state: IommuState, entry: IotlbEntry): StaleReason | null {
  const domain = getDomain(state, entry.domainId);
  if (domain === undefined) return 'no-domain';
  if (!isPagingType(domain.type) && domain.type !== 'nested') return 'no-page-table';
  return translationStaleness(state, domain, entry);
}

/** A queued lazy unmap, or a cleared one awaiting its caller's IOTLB sync, covers the entry. */
function awaitingFlush(state: IommuState, entry: IotlbEntry): boolean {
  const domain = getDomain(state, entry.domainId);
  if (domain === undefined) return false;
  const end = entry.iovaPage + iotlbEntryPages(entry);
  const covers = (pending: { readonly iovaPage: number; readonly pages: number }): boolean =>
    rangesIntersect(pending.iovaPage, pending.iovaPage + pending.pages, entry.iovaPage, end);
  return (
    domain.flushQueue.some(covers) ||
    state.unsynced.some(
      (pending) => pending.domainId === entry.domainId && pending.deferredClear === null && covers(pending),
    )
  );
}

/** Every IOTLB entry that disagrees with the page table now. */
export function staleIotlbEntries(state: IommuState): StaleIotlbEntry[] {
  const stale: StaleIotlbEntry[] = [];
  state.iotlb.forEach((entry, index) => {
    const reason = staleness(state, entry);
    if (reason !== null) stale.push({ index, entry, reason, awaitingFlush: awaitingFlush(state, entry) });
  });
  return stale;
}

/** Stale entries that no queued unmap accounts for: a missed or too narrow invalidation. */
export function staleIotlbOutsideFlushQueue(state: IommuState): StaleIotlbEntry[] {
  return staleIotlbEntries(state).filter((stale) => !stale.awaitingFlush);
}

// ---------------------------------------------------------------------------------------------
// What a device can reach

export interface ReachableExtent extends Translation {
  readonly pasid: number | null;
  readonly domainId: number;
  readonly via: 'page-table' | 'iotlb' | 'identity';
}

/** Each first-level entry of a nested domain through stage 2 (the translations its walk would find). */
function nestedWalks(state: IommuState, domain: IommuDomain, firstLevel: FirstLevelTable): Translation[] {
  const parent = domain.parentDomainId === null ? undefined : getDomain(state, domain.parentDomainId);
  if (parent === undefined) return [];
  const walks: Translation[] = [];
  for (const [key, entry] of Object.entries(firstLevel)) {
    const leaf = isNatural(entry.gpaPage) ? lookupLeafAsIommu(state, parent, entry.gpaPage) : null;
    if (leaf === null) continue;
    const frame = leaf.frame + (entry.gpaPage - leaf.iovaPage);
    walks.push({ iovaPage: Number(key), frame, pages: 1, read: leaf.read, write: entry.write && leaf.write });
  }
  return walks;
}

/**
 * Every extent of frames `deviceId` can reach now, through each of its tags (no PASID, then each
 * PASID in ascending order): the domain's leaves, IOTLB translations with that tag (stale or
 * not), or for an identity domain the whole address space. A nested domain reaches what its walk
 * of `firstLevel` (the guest's table) through stage 2 finds, and its combined IOTLB entries.
 * `leavesOf` gives a paging domain's present leaves (a caller on finished states may memoize it).
 */
export function reachableByDevice(
  state: IommuState,
  deviceId: number,
  firstLevel: FirstLevelTable = {},
  leavesOf: (domain: IommuDomain) => readonly Translation[] = (domain) => domainLeaves(state, domain),
): ReachableExtent[] {
  const context = Object.hasOwn(state.contexts, deviceId) ? state.contexts[deviceId] : undefined;
  // A PASID the PASID cache still holds an entry for reaches its domain, present entry or not.
  // So does one whose entry memory still holds present (a clear not written back, `coherency.ts`).
  const cached = [...cachedPasids(state, deviceId), ...unflushedPresentPasids(state, deviceId)];
  // A context entry memory still holds present (a clear not written back) reaches without PASID, and
  // so does one the context cache still holds (`context-cache.ts`).
  if (
    context === undefined &&
    cached.length === 0 &&
    !unflushedPresentContext(state, deviceId) &&
    contextCacheLookup(state, deviceId) === undefined
  )
    return [];
  const pasids = new Set([...Object.keys(context?.pasids ?? {}).map(Number), ...cached]);
  const tags: (number | null)[] = [null, ...[...pasids].sort((left, right) => left - right)];
  const reachable: ReachableExtent[] = [];
  for (const pasid of tags) {
    // A copied context entry whose attach has not returned (kdump, `kdump.ts`): the requests
    // without PASID are still the crashed kernel's, which kdump lets run on.
    if (pasid === null && contextCopied(state, deviceId)) continue;
    const domainId = requestDomainId(state, deviceId, pasid);
    const domain = domainId === null ? undefined : getDomain(state, domainId);
    if (domainId === null || domain?.type === 'blocked') continue;
    if (domain === undefined) {
      // A context entry left pointing at a freed domain reaches what the IOTLB holds under its DID.
      reachable.push(...iotlbExtents(state, domainId, pasid));
      continue;
    }
    if (domain.type === 'identity') {
      const all = { iovaPage: 0, frame: 0, pages: IOVA_PAGE_LIMIT, read: true, write: true };
      reachable.push({ ...all, pasid, domainId, via: 'identity' });
      continue;
    }
    // Without coherent walks the IOMMU walks memory, which may still hold PTEs the CPU changed.
    const walks =
      domain.type === 'nested'
        ? nestedWalks(state, domain, firstLevel)
        : hasUnflushed(state)
          ? domainLeavesAsIommu(state, domain)
          : leavesOf(domain);
    for (const { iovaPage, frame, pages, read, write } of walks) {
      reachable.push({ iovaPage, frame, pages, read, write, pasid, domainId, via: 'page-table' });
    }
    reachable.push(...iotlbExtents(state, domainId, pasid));
  }
  return reachable;
}

/** What the IOTLB translates under the tag (DID, PASID), stale entries included. */
function iotlbExtents(state: IommuState, domainId: number, pasid: number | null): ReachableExtent[] {
  const extents: ReachableExtent[] = [];
  for (const entry of state.iotlb) {
    if (entry.kind === 'not-present' || entry.domainId !== domainId || entry.pasid !== pasid) continue;
    const pages = entry.kind === 'translation' ? entry.pages : 1;
    extents.push({ ...stripLevel({ ...entry, pages }), pasid, domainId, via: 'iotlb' });
  }
  return extents;
}

/**
 * Frames below `frameLimit` that `deviceId` can reach (writable ones if `writableOnly`), ascending;
 * `firstLevel` is the guest's table for a nested domain.
 */
export function reachableFrames(
  state: IommuState,
  deviceId: number,
  frameLimit: number,
  writableOnly = false,
  firstLevel: FirstLevelTable = {},
): number[] {
  const frames = new Set<number>();
  for (const extent of reachableByDevice(state, deviceId, firstLevel)) {
    if (writableOnly && !extent.write) continue;
    const last = Math.min(extent.frame + extent.pages, frameLimit);
    for (let frame = extent.frame; frame < last; frame++) frames.add(frame);
  }
  return [...frames].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Flush-queue views

export interface PendingFlushExtent {
  readonly domainId: number;
  readonly seq: number;
  readonly iovaPage: number;
  readonly frame: number;
  readonly pages: number;
}

/** Frames removed by queued lazy unmaps (of one domain, or all): their release waits for a flush. */
export function pendingFlushFrames(state: IommuState, domainId?: number): PendingFlushExtent[] {
  const pending: PendingFlushExtent[] = [];
  for (const domain of Object.values(state.domains)) {
    if (domainId !== undefined && domain.domainId !== domainId) continue;
    for (const entry of domain.flushQueue) {
      for (const leaf of entry.leaves) {
        pending.push({
          domainId: domain.domainId,
          seq: entry.seq,
          iovaPage: leaf.iovaPage,
          frame: leaf.frame,
          pages: leaf.pages,
        });
      }
    }
  }
  return pending;
}

/** Queued entries present in `before` and gone in `after`: their flush completed (or their domain went). */
export function flushQueueEntriesReleased(
  before: IommuState,
  after: IommuState,
): Array<{ readonly domainId: number; readonly entry: FlushQueueEntry }> {
  const remaining = new Set<number>();
  for (const domain of Object.values(after.domains)) for (const entry of domain.flushQueue) remaining.add(entry.seq);
  const released: Array<{ readonly domainId: number; readonly entry: FlushQueueEntry }> = [];
  for (const domain of Object.values(before.domains)) {
    for (const entry of domain.flushQueue) {
      if (!remaining.has(entry.seq)) released.push({ domainId: domain.domainId, entry });
    }
  }
  return released;
}
