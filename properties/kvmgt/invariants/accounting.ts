/**
 * Accounting invariants of the KVMGT stack that join the mediator to VFIO and the host domain:
 * each DMA cache entry is backed by a pin of its guest page and a host mapping of that frame.
 */
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import { findDmaContaining, type1Backend } from '../../../models/vfio/state.js';
import type { Invariant } from '../../../src/design.js';
import { hex } from '../views.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

/** §4.9 inv. 1: the entry's page is pinned through vfio_pin_pages and mapped at its DMA address. */
export const cacheEntryPinnedAndMapped: KvmgtInvariant = {
  name: 'cache-entry-pinned-and-mapped',
  class: 'accounting',
  description: "each DMA cache entry's guest page is pinned in the container and its DMA address maps that frame",
  reads: (state) => [state.vgpu, state.vfio, state.hostDma],
  check({ after }) {
    const backend = type1Backend(after.vfio);
    for (const entry of Object.values(after.vgpu?.cache ?? {})) {
      const pin = backend === null ? undefined : findDmaContaining(backend, entry.gfn)?.externalPins[entry.gfn];
      const mapped = after.hostDma.map[entry.dmaAddr];
      if (pin !== undefined && mapped === pin.mfn) continue;
      return {
        message:
          pin === undefined
            ? `DMA cache entry of gfn ${entry.gfn}: no vfio_pin_pages pin at IOVA page ${entry.gfn}`
            : `DMA cache entry of gfn ${entry.gfn}: ${hex(entry.dmaAddr)} maps ${mapped === undefined ? 'nothing' : `mfn ${mapped}`}, the pin holds mfn ${pin.mfn}`,
        actual: pin === undefined ? 'unpinned' : `mapped to ${mapped === undefined ? 'nothing' : `mfn ${mapped}`}`,
        expected: pin === undefined ? 'pinned' : `mapped to mfn ${pin.mfn}`,
      };
    }
    return null;
  },
};
