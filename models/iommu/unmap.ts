/**
 * `iommu_unmap` (core, `__iommu_unmap`) over the Intel driver's `unmap_pages`, followed by the
 * IOTLB sync of strict mode or the flush-queue append of lazy mode (docs/reference/vtd.md §3.2, §3.5).
 *
 * Returns the bytes unmapped, as the real call does; a refusal returns 0. iova or size not aligned
 * to 4 KiB → 0 (an error is logged: modelled as EINVAL with `unmappedBytes: 0`); a non-paging
 * domain → 0 (WARN: EINVAL likewise). The core proceeds chunk by chunk (`iommu_pgsize`) until the
 * size is covered or the driver unmaps nothing. The driver rounds each chunk up to the size of the
 * PTE its walk stops at (`pfn_to_dma_pte` with level 0): unmapping any part of a superpage removes
 * the whole superpage and reports its size, so the total can exceed the request. The walk also stops
 * at a non-present entry, and the chunk is rounded up to that entry's size in the same way (an
 * unmap of an IOVA whose level-4 slot is empty reports 512 GiB). An IOVA beyond the address width
 * unmaps nothing (0).
 *
 * Strict domains (`unmanaged`, `dma`): the gathered range is invalidated (PSI or DSI) before the
 * call returns, then the cleared table pages are freed. Lazy domains (`dma-fq`, the DMA API's
 * deferred unmap): nothing is invalidated; the range, removed leaves and cleared table pages are
 * queued (flush-queue.ts).
 *
 * Two halves, as VFIO calls them (`vfio_unmap_unpin`): `unmapFast` (`iommu_unmap_fast`: the
 * PTEs cleared, the range gathered) and `iotlbSync` (`iommu_iotlb_sync`: strict, the invalidation
 * then the table pages freed, drivers/iommu/intel/iommu.c `intel_iommu_tlb_sync` 3821; lazy, the
 * flush-queue append that dma-iommu.c does in `iommu_dma_free_iova` → `queue_iova`, 202–250).
 * Between the two the gathered unmap waits in `state.unsynced`: an IOTLB entry it left stale is
 * awaiting its invalidation, like one a queued entry covers. `unmap` is both at once. Each cleared
 * run is synced on its own (one PSI, or one queue entry, per `unmapFast`), as the model did when
 * every run was one `unmap`.
 *
 * Simplified: a cleared range that covers only part of a leaf removes the whole leaf, and the
 * gathered flush range is widened to cover it (the real driver, given an iova inside a superpage,
 * clears from that iova and treats the superpage as a table). An unknown domain id is ENOENT.
 *
 * The bug `fq-queues-before-pte-clear` (lazy domains): `unmapFast` queues the entry (with the leaves
 * a walk finds) and leaves the PTEs present; `iotlbSync` clears them. A flush in between releases
 * the entry though the PTEs are still there.
 */
import { IOVA_PAGE_LIMIT, PAGE_SIZE_BYTES, isNatural, levelBytes } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { flatRemoveRange } from './flat.js';
import { queueUnmap } from './flush-queue.js';
import { flushDetail, flushRange } from './invalidate.js';
import type { Flush } from './invalidate.js';
import { domainPageSizes, iommuPgsize } from './map.js';
import { writeBack } from './coherency.js';
import type { CacheLine } from './coherency.js';
import { clearRange, walkStop } from './page-table.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { cloneIommuState, freeTables, getDomain, isLazy, isPagingType } from './state.js';
import type { IommuDomain, IommuState, Translation } from './types.js';

export interface UnmapArgs {
  readonly domainId: number;
  readonly iova: number;
  readonly sizeBytes: number;
}

interface Gather {
  startPage: number;
  endPage: number;
  leaves: Translation[];
  tableIds: number[];
}

/** `intel_iommu_unmap` for one chunk: returns the bytes it reports (0 = nothing, stop). */
function driverUnmap(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  iova: number,
  chunkBytes: number,
  gather: Gather,
): number {
  const startPage = iova / PAGE_SIZE_BYTES;
  if (startPage >= IOVA_PAGE_LIMIT) return 0;
  const stop = walkStop(state, domain, startPage);
  const keepSuperpage =
    stop.leaf !== null &&
    stop.level > 1 &&
    chunkBytes < levelBytes(stop.level) &&
    hasIommuBug(config, 'partial-unmap-keeps-superpage');
  // Round the chunk up to the size of the PTE the walk stopped at.
  const bytes = keepSuperpage ? chunkBytes : Math.max(chunkBytes, levelBytes(stop.level));
  const endPage = startPage + bytes / PAGE_SIZE_BYTES;
  const written: CacheLine[] = [];
  const cleared = keepSuperpage
    ? { leaves: [], tableIds: [] }
    : clearRange(state, config, domain, startPage, endPage, written);
  // dma_pte_clear_level's domain_flush_cache over the PTEs it cleared (`coherency.ts`).
  writeBack(state, config.writeBack, 'unmap', written);
  flatRemoveRange(state, domain.domainId, startPage, endPage);
  gather.startPage = Math.min(gather.startPage, startPage);
  gather.endPage = Math.max(gather.endPage, endPage);
  for (const { iovaPage, frame, pages, read, write } of cleared.leaves) {
    gather.startPage = Math.min(gather.startPage, iovaPage);
    gather.endPage = Math.max(gather.endPage, iovaPage + pages);
    gather.leaves.push({ iovaPage, frame, pages, read, write });
  }
  for (const tableId of cleared.tableIds) gather.tableIds.push(tableId);
  return bytes;
}

function validUnmap(state: IommuState, args: UnmapArgs): IommuDomain | string {
  const domain = getDomain(state, args.domainId);
  if (domain === undefined) return 'ENOENT';
  if (!isPagingType(domain.type)) return 'EINVAL';
  if (!isNatural(args.iova) || !isNatural(args.sizeBytes)) return 'EINVAL';
  if (args.iova % PAGE_SIZE_BYTES !== 0 || args.sizeBytes % PAGE_SIZE_BYTES !== 0) return 'EINVAL';
  return domain;
}

/** The core's chunk loop over the driver: clears the range and gathers what it removed. */
function clearGathering(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  args: UnmapArgs,
): { unmapped: number; gather: Gather } {
  const pageSizes = domainPageSizes(state);
  const gather: Gather = { startPage: Infinity, endPage: -Infinity, leaves: [], tableIds: [] };
  let unmapped = 0;
  while (unmapped < args.sizeBytes) {
    const iova = args.iova + unmapped;
    const { pgsizeBytes, count } = iommuPgsize(pageSizes, iova, iova, args.sizeBytes - unmapped);
    const bytes = driverUnmap(state, config, domain, iova, pgsizeBytes * count, gather);
    if (bytes === 0) break;
    unmapped += bytes;
  }
  return { unmapped, gather };
}

/**
 * `iommu_unmap_fast`: the PTEs of the range cleared and the unmap gathered, awaiting `iotlbSync`.
 * Detail: `unmappedBytes`, `leavesRemoved`.
 */
export function unmapFast(state: IommuState, config: IommuConfig, args: UnmapArgs): OpResult {
  const domain = validUnmap(state, args);
  if (typeof domain === 'string') return fail(domain, { unmappedBytes: 0 });
  if (isLazy(domain) && hasIommuBug(config, 'fq-queues-before-pte-clear'))
    return queueBeforeClear(state, config, domain, args);
  const { unmapped, gather } = clearGathering(state, config, domain, args);
  if (unmapped > 0) {
    state.unsynced.push({
      domainId: domain.domainId,
      iovaPage: gather.startPage,
      pages: gather.endPage - gather.startPage,
      leaves: gather.leaves,
      freedTableIds: gather.tableIds,
      deferredClear: null,
      queuedSeq: null,
    });
  }
  return succeed({ unmappedBytes: unmapped, leavesRemoved: gather.leaves.length });
}

/** `fq-queues-before-pte-clear`: the entry queued with what a clear would remove; the clear deferred. */
function queueBeforeClear(state: IommuState, config: IommuConfig, domain: IommuDomain, args: UnmapArgs): OpResult {
  const scratch = cloneIommuState(state);
  const scratchDomain = getDomain(scratch, domain.domainId) ?? domain;
  const { unmapped, gather } = clearGathering(scratch, config, scratchDomain, args);
  if (unmapped > 0) {
    const range = { iovaPage: gather.startPage, pages: gather.endPage - gather.startPage };
    const queuedSeq = state.nextFlushSeq;
    queueUnmap(state, config, domain, { ...range, leaves: gather.leaves, freedTableIds: [] });
    state.unsynced.push({
      domainId: domain.domainId,
      ...range,
      leaves: [],
      freedTableIds: [],
      deferredClear: { iova: args.iova, sizeBytes: args.sizeBytes },
      queuedSeq,
    });
  }
  return succeed({ unmappedBytes: unmapped, leavesRemoved: gather.leaves.length });
}

/**
 * What `iotlbSync` did: the invalidations issued (strict), and for each unmap it synced, in order,
 * the flush-queue entry that now waits for it (lazy; null when none does).
 */
export interface SyncOutcome {
  readonly flushes: readonly Flush[];
  readonly queuedSeqs: readonly (number | null)[];
  readonly releasedEntries: number;
}

/**
 * `iommu_iotlb_sync` of a domain: every unmap `unmapFast` gathered for it is invalidated (strict:
 * a PSI or DSI of its range, then its table pages freed) or queued (lazy), in order.
 */
export function iotlbSync(state: IommuState, config: IommuConfig, domainId: number): SyncOutcome {
  const flushes: Flush[] = [];
  const queuedSeqs: (number | null)[] = [];
  let releasedEntries = 0;
  const mine = state.unsynced.filter((pending) => pending.domainId === domainId);
  if (mine.length === 0) return { flushes, queuedSeqs, releasedEntries };
  state.unsynced = state.unsynced.filter((pending) => pending.domainId !== domainId);
  const domain = getDomain(state, domainId);
  for (const pending of mine) {
    if (domain === undefined) {
      freeTables(state, pending.freedTableIds);
      queuedSeqs.push(null);
      continue;
    }
    if (pending.deferredClear !== null) {
      const { gather } = clearGathering(state, config, domain, { domainId, ...pending.deferredClear });
      freeTables(state, gather.tableIds);
      // The entry queued before the clear counts as this sync's, if no flush has released it yet.
      const seq = pending.queuedSeq;
      queuedSeqs.push(seq !== null && domain.flushQueue.some((entry) => entry.seq === seq) ? seq : null);
      continue;
    }
    if (isLazy(domain)) {
      queuedSeqs.push(state.nextFlushSeq);
      const { iovaPage, pages, leaves, freedTableIds } = pending;
      releasedEntries += queueUnmap(state, config, domain, { iovaPage, pages, leaves, freedTableIds }).length;
      continue;
    }
    if (!hasIommuBug(config, 'unmap-skips-iotlb-invalidate')) {
      flushes.push(flushRange(state, config, domainId, pending.iovaPage, pending.iovaPage + pending.pages - 1));
    }
    freeTables(state, pending.freedTableIds);
    queuedSeqs.push(null);
  }
  return { flushes, queuedSeqs, releasedEntries };
}

/** `iommu_unmap`: `unmapFast`, then `iotlbSync` of what it gathered. */
export function unmap(state: IommuState, config: IommuConfig, args: UnmapArgs): OpResult {
  const cleared = unmapFast(state, config, args);
  if (!cleared.ok) return cleared;
  const base = {
    unmappedBytes: cleared.detail?.['unmappedBytes'] ?? 0,
    leavesRemoved: cleared.detail?.['leavesRemoved'] ?? 0,
  };
  if (base.unmappedBytes === 0) return succeed({ ...base, ...flushDetail(null), queued: false, releasedEntries: 0 });
  const synced = iotlbSync(state, config, args.domainId);
  const queued = getDomain(state, args.domainId)?.type === 'dma-fq';
  return succeed({
    ...base,
    ...flushDetail(synced.flushes[0] ?? null),
    queued,
    releasedEntries: synced.releasedEntries,
  });
}
