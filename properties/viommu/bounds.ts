/**
 * Bounds and round trips of the vIOMMU stack (issue 18; docs/reference/viommu.md §7.8).
 *
 * Counters: the host's (`passthroughCounters` on `state.host`: VFIO's and the VT-d model's), and
 * the ones the model keeps for the guest and its VMM — at most one trapped invalidation in flight
 * (the guest's vCPU waits on its wait descriptor), the GPA pages ballooned out within guest RAM,
 * and the guest's DID and the VMM's cached copy of it within a 16-bit DID, DID 0 excluded (reserved
 * in caching mode, VT-d §6.2.2.1).
 *
 * Round trip: in shadow mode a guest invalidation is what creates host mappings — QEMU's
 * `vtd_sync_shadow_page_table_range` walks the guest's table over the invalidated range and
 * notifies each new entry as a MAP (`vtd_page_walk_one` → `memory_region_notify_iommu`), which
 * `vfio_iommu_map_notify` turns into VFIO_IOMMU_MAP_DMA at IOVA = GIOVA. QEMU undoes such a mapping
 * only when the guest clears the entry and invalidates it (the same walk notifies an UNMAP, and
 * `vfio_iommu_map_notify` issues VFIO_IOMMU_UNMAP_DMA); the VMM never unmaps on its own. So: a
 * guest invalidation, run to its end, that added host mappings and removed none is undone on a copy
 * by the guest clearing each GIOVA page newly mapped, then the same invalidation, with the
 * design's own step; both accepted, and the host's pin references, locked_vm, dma_avail, mappings
 * and external pins come back. In nested mode an invalidation creates no host mapping (guest RAM is
 * mapped once at IOVA = GPA, stage 2), so there is nothing to undo; the balloon's stage-2 unmap and
 * remap are not a creation either.
 */
import { stepViommu } from '../../models/viommu/step.js';
import type { ViommuCommand, ViommuConfig, ViommuState } from '../../models/viommu/types.js';
import { type1Backend } from '../../models/vfio/state.js';
import type { VfioState } from '../../models/vfio/types.js';
import { countersInRange } from '../generic/bounds.js';
import type { Counter } from '../generic/bounds.js';
import { roundTripReturnsEverything } from '../generic/round-trip.js';
import { passthroughCounters } from '../passthrough/invariants/bounds.js';
import { vfioMappingMeasures } from '../vfio/invariants/bounds.js';
import { formatViommuCommand } from './format.js';
import type { ViommuInvariant } from './invariants.js';

/** The largest VT-d domain id (16 bits). */
const MAX_DID = 0xffff;

/** Every counter of the vIOMMU state: the host's, then the guest's and the VMM's. */
export function viommuCounters(state: ViommuState): Counter[] {
  const counters = passthroughCounters(state.host);
  counters.push({ name: 'trapped invalidations in flight', value: state.inflight.length, min: 0, max: 1 });
  counters.push({
    name: 'GPA pages ballooned out',
    value: state.guest.ballooned.length,
    min: 0,
    max: state.guestRam.pages,
  });
  if (state.guest.did !== null)
    counters.push({ name: "the guest domain's DID", value: state.guest.did, min: 1, max: MAX_DID });
  if (state.contextCache !== null)
    counters.push({ name: "the VMM's cached context DID", value: state.contextCache, min: 1, max: MAX_DID });
  if (state.pasidCache !== null)
    counters.push({ name: "the VMM's cached RID_PASID DID", value: state.pasidCache.did, min: 1, max: MAX_DID });
  return counters;
}

export const viommuCountersInRange: ViommuInvariant = countersInRange<ViommuState, ViommuCommand>(viommuCounters);

/** The host's single-page mappings, keyed `iova page → vaddr page`. */
function hostMappings(vfio: VfioState): Set<string> {
  return new Set((type1Backend(vfio)?.dmas ?? []).map((dma) => `${dma.iovaPage}:${dma.vaddrPage}:${dma.npages}`));
}

/**
 * A shadow mapping created by a guest invalidation is undone by the guest's clear of each new GIOVA
 * page and the same invalidation, on a copy, with the design's own step (`config`).
 */
export function viommuShadowRoundTrip(config: ViommuConfig): ViommuInvariant {
  return roundTripReturnsEverything<ViommuState, ViommuCommand>({
    inverse({ command, before, after }) {
      if (command.kind !== 'guestInvalidate' || command.phased === true) return null;
      if (before.inflight.length > 0 || after.inflight.length > 0) return null;
      const earlier = hostMappings(before.host.vfio);
      const later = hostMappings(after.host.vfio);
      if ([...earlier].some((key) => !later.has(key))) return null;
      const created = (type1Backend(after.host.vfio)?.dmas ?? []).filter(
        (dma) => !earlier.has(`${dma.iovaPage}:${dma.vaddrPage}:${dma.npages}`),
      );
      if (created.length === 0) return null;
      const clears: ViommuCommand[] = [];
      for (const dma of created) {
        for (let page = dma.iovaPage; page < dma.iovaPage + dma.npages; page++) {
          // A mapping the guest's table does not hold is the VMM's own: no guest request undoes it.
          if (!Object.hasOwn(after.guest.table, page)) return null;
          clears.push({ kind: 'guestUnmap', giovaPage: page });
        }
      }
      return [...clears, command];
    },
    step: (state, command) => stepViommu(state, config, command),
    measures: (state) => vfioMappingMeasures(state.host.vfio),
    describe: formatViommuCommand,
  });
}
