/**
 * Bounds and round trips of the passthrough stack over VT-d (issue 18; docs/reference/vtd.md §3.11).
 *
 * Counters: VFIO's (`vfioCounters`, on the VFIO part), and the VT-d model's — free page-table pages
 * within the pool (`tablePages`), each lazy domain's flush queue within its capacity (a full queue
 * is flushed before it takes another entry: dma-iommu.c `queue_iova` → `fq_full` → `fq_ring_free`),
 * the IOTLB, the PASID cache and the context cache within their capacities, the DIDs in use within `cap.ND` (DID 0 reserved:
 * `domain_attach_iommu`'s `ida_alloc_range(&iommu->domain_ida, IDA_START_DID, cap_ndoms - 1)`), at
 * most one translated request in flight per device, and every frame the stack holds for a queued
 * unmap (`lazy-held`) referenced at least once per hold.
 *
 * Round trip: a MAP_DMA accepted with nothing left in flight is undone at once by UNMAP_DMA of the
 * same range on a copy of the whole passthrough state, through the stack's own step with the
 * design's config: accepted, and VFIO's pins, locked_vm, dma_avail, mappings and external pins come
 * back, and so do the VT-d page table's translated pages (the walk) and the flat reference map.
 * What does not come back, and is not measured:
 * - page-table pages: `dma_pte_clear_level` (drivers/iommu/intel/iommu.c) frees a table page only
 *   when the unmapped range covers all of it, so a mapping that allocated a last-level table for a
 *   few pages leaves it allocated (empty) after its unmap, in strict mode too; it goes with the
 *   domain (`domain_exit`);
 * - lazy modes defer the invalidation: the unmap's IOTLB flush and the table pages it cleared wait
 *   in the flush queue (`lazy-held`: with the frames it unmapped held) until the timer drains it,
 *   so the references the stack holds for the queue are not pins and are left out of the count.
 */
import { domainLeaves } from '../../../models/iommu/page-table.js';
import { isPagingType, tableCount } from '../../../models/iommu/state.js';
import { stepPassthrough } from '../../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughConfig, PassthroughState } from '../../../models/passthrough/types.js';
import { unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import { countersInRange } from '../../generic/bounds.js';
import type { Counter } from '../../generic/bounds.js';
import { roundTripReturnsEverything } from '../../generic/round-trip.js';
import { vfioCounters, vfioMappingMeasures } from '../../vfio/invariants/bounds.js';
import { formatPassthroughCommand } from '../format.js';
import type { PassthroughInvariant } from './lift.js';

/** Every counter of the passthrough state and its range: VFIO's, then the VT-d model's. */
export function passthroughCounters(state: PassthroughState): Counter[] {
  const { iommu } = state;
  const { caps } = iommu;
  const counters = vfioCounters(state.vfio);
  counters.push({
    name: 'free page-table pages',
    value: caps.tablePages - tableCount(iommu),
    min: 0,
    max: caps.tablePages,
  });
  const domains = Object.values(iommu.domains);
  counters.push({ name: 'DIDs in use', value: domains.length, min: 0, max: Math.max(0, caps.domainIdCount - 1) });
  for (const domain of domains) {
    counters.push({ name: `a domain's DID`, value: domain.domainId, min: 1, max: caps.domainIdCount - 1 });
    counters.push({
      name: `flush-queue entries of DID ${domain.domainId}`,
      value: domain.flushQueue.length,
      min: 0,
      max: Math.max(1, caps.flushQueueEntries),
    });
  }
  if (caps.iotlbEntries > 0)
    counters.push({ name: 'IOTLB entries', value: iommu.iotlb.length, min: 0, max: caps.iotlbEntries });
  if (iommu.pasidCache !== undefined)
    counters.push({
      name: 'PASID-cache entries',
      value: iommu.pasidCache.length,
      min: 0,
      max: caps.pasidCacheEntries ?? 0,
    });
  if (iommu.contextCache !== undefined)
    counters.push({
      name: 'context-cache entries',
      value: iommu.contextCache.length,
      min: 0,
      max: caps.contextCacheEntries ?? 0,
    });
  const inFlight = new Map<number, number>();
  for (const request of iommu.requests) inFlight.set(request.deviceId, (inFlight.get(request.deviceId) ?? 0) + 1);
  for (const [deviceId, count] of inFlight) {
    counters.push({ name: `translated requests in flight of source-id ${deviceId}`, value: count, min: 0, max: 1 });
  }
  const holds = new Map<number, number>();
  for (const held of state.held) holds.set(held.mfn, (holds.get(held.mfn) ?? 0) + 1);
  for (const [mfn, count] of holds) {
    const frame = state.vfio.memory.frames[mfn];
    counters.push({
      name: `mfn ${mfn} refcount, held for ${count} queued unmap${count === 1 ? '' : 's'}`,
      value: frame?.refcount ?? 0,
      min: count,
      max: Number.POSITIVE_INFINITY,
    });
  }
  return counters;
}

export const passthroughCountersInRange: PassthroughInvariant = countersInRange<PassthroughState, PassthroughCommand>(
  passthroughCounters,
);

/** IOVA pages the VT-d page tables translate (the walk), over every paging domain. */
function translatedPages(state: PassthroughState): number {
  let pages = 0;
  for (const domain of Object.values(state.iommu.domains)) {
    if (!isPagingType(domain.type)) continue;
    for (const leaf of domainLeaves(state.iommu, domain)) pages += leaf.pages;
  }
  return pages;
}

/** IOVA pages the flat reference map records, over every domain. */
function flatPages(state: PassthroughState): number {
  return Object.values(state.iommu.flat).reduce(
    (sum, leaves) => sum + leaves.reduce((pages, leaf) => pages + leaf.pages, 0),
    0,
  );
}

/**
 * What the round trip measures: VFIO's quantities (pin references net of the stack's holds for
 * queued unmaps, which the flush releases), the page tables' translated pages and the flat map's.
 */
export function passthroughMappingMeasures(state: PassthroughState): Record<string, number> {
  const vfio = vfioMappingMeasures(state.vfio);
  return {
    ...vfio,
    'pin references': (vfio['pin references'] ?? 0) - state.held.length,
    'IOVA pages the VT-d page tables translate': translatedPages(state),
    'IOVA pages of the flat reference map': flatPages(state),
  };
}

/**
 * A new mapping (MAP_DMA accepted, nothing left in flight) unmapped again on a copy of the whole
 * passthrough state, with the stack's own step and the design's `config`.
 */
export function passthroughMappingRoundTrip(config: PassthroughConfig): PassthroughInvariant {
  return roundTripReturnsEverything<PassthroughState, PassthroughCommand>({
    inverse({ command, result, after }) {
      if (command.kind !== 'mapDma' || after.vfio.inflight.length > 0) return null;
      const iovaPage = result?.detail?.['iovaPage'];
      const npages = result?.detail?.['npages'];
      // A VADDR update creates nothing (its answer names the new vaddr).
      if (typeof iovaPage !== 'number' || typeof npages !== 'number' || result?.detail?.['vaddrPage'] !== undefined)
        return null;
      return { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage, npages }) };
    },
    step: (state, command) => stepPassthrough(state, config, command),
    measures: passthroughMappingMeasures,
    describe: formatPassthroughCommand,
  });
}
