/**
 * Bounds and round trips of the KVMGT stack (issue 18; docs/reference/gvt-kvmgt.md §4.10): VFIO's
 * counters (`properties/vfio/invariants/bounds.ts`: `dma_avail`, `locked_vm`, the `vfio_pfn`
 * ref counts, the vGPU's pin records, frame reference counts), read on the VFIO part of the state,
 * and the mediator's (`properties/gvt/bounds.ts`: each live DMA cache entry's kref, each live
 * shadow table's and PPGTT's reference count at least one) stay in range; and the guest RAM the
 * VMM maps into the container (VFIO_IOMMU_MAP_DMA, IOVA == GPA) can be unmapped again at once by
 * VFIO_IOMMU_UNMAP_DMA of the same range, giving back its pins, its locked_vm charge and its
 * dma_entry_limit slot, and leaving the vGPU's DMA cache and the host DMA domain as they were.
 */
import type { KvmgtConfig } from '../../../models/kvmgt/config.js';
import { VGPU_DEVICE } from '../../../models/kvmgt/config.js';
import { stepKvmgt } from '../../../models/kvmgt/step.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import { type1Backend } from '../../../models/vfio/state.js';
import type { Invariant } from '../../../src/design.js';
import { countersInRange } from '../../generic/bounds.js';
import type { Counter } from '../../generic/bounds.js';
import { roundTripReturnsEverything } from '../../generic/round-trip.js';
import { gvtCounters } from '../../gvt/bounds.js';
import { vfioCounters } from '../../vfio/invariants/bounds.js';
import { formatKvmgtCommand } from '../format.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

/** Every counter of the KVMGT state and its range: VFIO's, then the mediator's. */
export function kvmgtCounters(state: KvmgtState): Counter[] {
  return [...vfioCounters(state.vfio), ...gvtCounters(state.vgpu)];
}

export const kvmgtCountersInRange: KvmgtInvariant = countersInRange<KvmgtState, KvmgtCommand>(kvmgtCounters);

/**
 * Guest RAM the VMM maps (vmmMapRam accepted, nothing in flight) is unmapped again on a copy,
 * injected faults disarmed, with the design's own model (`config`): accepted, and the frames'
 * references, locked_vm, dma_avail, the container's mappings and `vfio_pfn` records, the vGPU's
 * pins, its DMA cache and the host DMA domain's mappings are back as before the map.
 */
export function vmmRamRoundTrip(config: KvmgtConfig): KvmgtInvariant {
  return roundTripReturnsEverything<KvmgtState, KvmgtCommand>({
    inverse({ command, after }) {
      if (command.kind !== 'vmmMapRam' || after.inflight.length > 0) return null;
      return { kind: 'vmmUnmapRam', gfn: command.gfn, npages: command.npages };
    },
    step: (state, command) => stepKvmgt({ ...state, fault: null }, config, command),
    measures(state) {
      const backend = type1Backend(state.vfio);
      const pins = state.vfio.devices[VGPU_DEVICE]?.pins ?? {};
      return {
        'page references': state.vfio.memory.frames.reduce((sum, frame) => sum + frame.refcount, 0),
        locked_vm: state.vfio.process.lockedVmPages,
        dma_avail: backend?.dmaAvail ?? 0,
        mappings: backend?.dmas.length ?? 0,
        'vfio_pfn records': (backend?.dmas ?? []).reduce((sum, dma) => sum + Object.keys(dma.externalPins).length, 0),
        "the vGPU's pins": Object.values(pins).reduce((sum, count) => sum + count, 0),
        'DMA cache entries': Object.keys(state.vgpu?.cache ?? {}).length,
        'host DMA mappings': Object.keys(state.hostDma.map).length,
      };
    },
    describe: formatKvmgtCommand,
  });
}
