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
 * Simplified: a cleared range that covers only part of a leaf removes the whole leaf, and the
 * gathered flush range is widened to cover it (the real driver, given an iova inside a superpage,
 * clears from that iova and treats the superpage as a table); `unmap_fast` + `iotlb_sync` (used by
 * VFIO) behave like `unmap` since nothing runs between them. An unknown domain id is ENOENT.
 */
import { IOVA_PAGE_LIMIT, PAGE_SIZE_BYTES, isNatural, levelBytes } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { flatRemoveRange } from './flat.js';
import { queueUnmap } from './flush-queue.js';
import { flushDetail, flushRange } from './invalidate.js';
import type { Flush } from './invalidate.js';
import { domainPageSizes, iommuPgsize } from './map.js';
import { clearRange, walkStop } from './page-table.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { freeTables, getDomain, isLazy, isPagingType } from './state.js';
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
  const cleared = keepSuperpage ? { leaves: [], tableIds: [] } : clearRange(state, config, domain, startPage, endPage);
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

export function unmap(state: IommuState, config: IommuConfig, args: UnmapArgs): OpResult {
  const domain = getDomain(state, args.domainId);
  if (domain === undefined) return fail('ENOENT', { unmappedBytes: 0 });
  if (!isPagingType(domain.type)) return fail('EINVAL', { unmappedBytes: 0 });
  if (!isNatural(args.iova) || !isNatural(args.sizeBytes)) return fail('EINVAL', { unmappedBytes: 0 });
  if (args.iova % PAGE_SIZE_BYTES !== 0 || args.sizeBytes % PAGE_SIZE_BYTES !== 0) {
    return fail('EINVAL', { unmappedBytes: 0 });
  }
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
  const base = { unmappedBytes: unmapped, leavesRemoved: gather.leaves.length };
  if (unmapped === 0) return succeed({ ...base, ...flushDetail(null), queued: false, releasedEntries: 0 });
  if (isLazy(domain)) {
    const released = queueUnmap(state, config, domain, {
      iovaPage: gather.startPage,
      pages: gather.endPage - gather.startPage,
      leaves: gather.leaves,
      freedTableIds: gather.tableIds,
    });
    return succeed({ ...base, ...flushDetail(null), queued: true, releasedEntries: released.length });
  }
  let flush: Flush | null = null;
  if (!hasIommuBug(config, 'unmap-skips-iotlb-invalidate')) {
    flush = flushRange(state, config, domain.domainId, gather.startPage, gather.endPage - 1);
  }
  freeTables(state, gather.tableIds);
  return succeed({ ...base, ...flushDetail(flush), queued: false, releasedEntries: 0 });
}
