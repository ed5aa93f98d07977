/**
 * Bounds and round trips of the VFIO stacks (issue 18): the type1 counters stay in range
 * (`dma_avail`, `locked_vm`, each mapping's charge, `vfio_pfn` ref counts, `vaddr_invalid_count`,
 * the drivers' pin records, frame reference counts), and every mapping MAP_DMA accepts can be
 * removed again at once by UNMAP_DMA of the same range, giving back its pins, its locked_vm charge
 * and its slot (docs/reference/vfio-type1.md §1.13).
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioConfig } from '../../../models/vfio/config.js';
import { type1Backend } from '../../../models/vfio/state.js';
import { stepVfio } from '../../../models/vfio/step.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import type { Invariant } from '../../../src/design.js';
import { countersInRange } from '../../generic/bounds.js';
import type { Counter } from '../../generic/bounds.js';
import { roundTripReturnsEverything } from '../../generic/round-trip.js';
import { formatVfioCommand } from '../format.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

/** Every counter of the VFIO state and its range. */
export function vfioCounters(state: VfioState): Counter[] {
  const counters: Counter[] = [
    { name: 'locked_vm', value: state.process.lockedVmPages, min: 0, max: Number.POSITIVE_INFINITY },
  ];
  for (const frame of state.memory.frames) {
    if (frame.refcount < 0)
      counters.push({ name: `mfn ${frame.mfn} refcount`, value: frame.refcount, min: 0, max: Infinity });
  }
  const backend = type1Backend(state);
  if (backend !== null) {
    counters.push({ name: 'dma_avail', value: backend.dmaAvail, min: 0, max: backend.dmaEntryLimit });
    counters.push({ name: 'vaddr_invalid_count', value: backend.vaddrInvalidCount, min: 0, max: backend.dmas.length });
    for (const dma of backend.dmas) {
      const at = `the mapping at iova page ${dma.iovaPage}`;
      counters.push({ name: `locked_vm charged by ${at}`, value: dma.lockedVmPages, min: 0, max: dma.npages });
      for (const [key, vpfn] of Object.entries(dma.externalPins)) {
        counters.push({ name: `vfio_pfn ref_count of iova page ${key}`, value: vpfn.refCount, min: 1, max: Infinity });
      }
    }
  }
  for (const device of state.devices) {
    for (const [key, count] of Object.entries(device.pins)) {
      counters.push({ name: `device ${device.id}'s pins of iova page ${key}`, value: count, min: 1, max: Infinity });
    }
  }
  return counters;
}

export const vfioCountersInRange: VfioInvariant = countersInRange<VfioState, VfioCommand>(vfioCounters);

/** Pin references on frames: every reference but the process pages' and the other owners'. */
function pinReferences(state: VfioState): number {
  const total = state.memory.frames.reduce((sum, frame) => sum + frame.refcount, 0);
  // A VM_PFNMAP PTE or one of the zero page holds no reference.
  const present = Object.values(state.process.pages).filter(
    (page) => page.mfn !== null && page.pfnmap !== true && page.mfn !== state.process.zeroMfn,
  ).length;
  return total - present - state.otherAllocations.length;
}

/**
 * A new mapping (MAP_DMA accepted, nothing left in flight) is unmapped again on a copy, with the
 * design's own model (`config`): accepted, and pins, locked_vm, dma_avail, the mappings and the
 * external pins are back as before the MAP_DMA. The pages the MAP_DMA faulted in stay present, as
 * in Linux: only references beyond the process's own count as pins.
 */
export function vfioMappingRoundTrip(config: VfioConfig): VfioInvariant {
  return roundTripReturnsEverything<VfioState, VfioCommand>({
    inverse({ command, result, after }) {
      if (command.kind !== 'mapDma' || after.inflight.length > 0) return null;
      const iovaPage = result?.detail?.['iovaPage'];
      const npages = result?.detail?.['npages'];
      // A VADDR update creates nothing (its answer names the new vaddr).
      if (typeof iovaPage !== 'number' || typeof npages !== 'number' || result?.detail?.['vaddrPage'] !== undefined)
        return null;
      return { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage, npages }) };
    },
    step: (state, command) => stepVfio(state, config, command),
    measures: vfioMappingMeasures,
    describe: formatVfioCommand,
  });
}

/**
 * What a mapping's round trip must give back, by name: pin references, locked_vm, dma_avail, the
 * mappings and the external pins (read by the stacks built on VFIO: passthrough, vIOMMU).
 */
export function vfioMappingMeasures(state: VfioState): Record<string, number> {
  const backend = type1Backend(state);
  return {
    'pin references': pinReferences(state),
    locked_vm: state.process.lockedVmPages,
    dma_avail: backend?.dmaAvail ?? 0,
    mappings: backend?.dmas.length ?? 0,
    'vfio_pfn records': (backend?.dmas ?? []).reduce((sum, dma) => sum + Object.keys(dma.externalPins).length, 0),
  };
}
