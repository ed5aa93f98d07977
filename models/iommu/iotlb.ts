/**
 * The IOTLB (docs/reference/vtd.md §3.3): a bounded list of cached leaf translations tagged with (DID,
 * PASID or null), consulted by DMA before any walk. With caching mode (§3.4) it may also hold
 * "not present" entries for single pages. Replacement is FIFO: the oldest entry goes when full.
 *
 * Also here: `psiBlock`, Linux's conversion of a range into the naturally aligned power-of-two
 * block a page-selective invalidation can express (`calculate_psi_aligned_address`, cache.c).
 *
 * Left out: the invalidation hint (IH) and the paging-structure caches it keeps, device-TLBs, the
 * drain-read/drain-write bits, invalidation-wait descriptors (every invalidation completes at
 * once: the model has no concurrent DMA between issue and completion).
 */
import { alignDown } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import type { IotlbEntry, IommuState } from './types.js';

/** `MAX_AGAW_PFN_WIDTH`: the mask Linux uses when a block would need every address bit. */
export const MAX_MASK = 52;

/** The pages an entry covers: a whole leaf, or one page for a cached not-present. */
export function iotlbEntryPages(entry: IotlbEntry): number {
  return entry.kind === 'translation' ? entry.pages : 1;
}

/** Whether `entry` covers `iovaPage` under tag (domainId, pasid). */
export function iotlbEntryMatches(entry: IotlbEntry, domainId: number, pasid: number | null, iovaPage: number) {
  return (
    entry.domainId === domainId &&
    entry.pasid === pasid &&
    entry.iovaPage <= iovaPage &&
    iovaPage < entry.iovaPage + iotlbEntryPages(entry)
  );
}

export function iotlbLookup(
  state: IommuState,
  domainId: number,
  pasid: number | null,
  iovaPage: number,
): IotlbEntry | undefined {
  return state.iotlb.find((entry) => iotlbEntryMatches(entry, domainId, pasid, iovaPage));
}

/** Caches an entry, evicting the oldest ones beyond capacity. */
export function iotlbInsert(state: IommuState, entry: IotlbEntry): void {
  if (state.caps.iotlbEntries <= 0) return;
  state.iotlb.push(entry);
  while (state.iotlb.length > state.caps.iotlbEntries) state.iotlb.shift();
}

/** Drops every entry the predicate selects; returns how many were dropped. */
export function iotlbDrop(state: IommuState, selects: (entry: IotlbEntry) => boolean): number {
  const before = state.iotlb.length;
  state.iotlb = state.iotlb.filter((entry) => !selects(entry));
  return before - state.iotlb.length;
}

/** A page-selective invalidation: DID, first page of the block and address mask (block = 2^mask pages). */
export interface PsiBlock {
  readonly addrPage: number;
  readonly mask: number;
}

/**
 * `calculate_psi_aligned_address` for the inclusive page range [startPage, lastPage]: the smallest
 * naturally aligned power-of-two block covering it (over-invalidation allowed, under never).
 */
export function psiBlock(config: IommuConfig, startPage: number, lastPage: number): PsiBlock {
  const pages = Math.max(1, lastPage - startPage + 1);
  let mask = Math.ceil(Math.log2(pages));
  // log2 of large powers of two is exact in IEEE doubles; guard the rounding anyway.
  while (2 ** mask < pages) mask += 1;
  while (mask > 0 && 2 ** (mask - 1) >= pages) mask -= 1;
  if (startPage % 2 ** mask !== 0 && !hasIommuBug(config, 'psi-mask-too-small')) {
    // The block containing startPage does not reach lastPage: widen until both share the block.
    const endPage = startPage + pages - 1;
    while (mask < MAX_MASK && Math.floor(startPage / 2 ** mask) !== Math.floor(endPage / 2 ** mask)) mask += 1;
  }
  return { addrPage: alignDown(startPage, 2 ** mask), mask };
}
