/**
 * Accounting invariants of the KVMGT stack that join the mediator to VFIO and the host domain:
 * each DMA cache entry is backed by a pin of its guest page and a host mapping of that frame.
 */
import { entryPages } from '../../../models/gvt/dma-cache.js';
import { pendingShadows } from '../../../models/gvt/inflight.js';
import { VGPU_DEVICE } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import { findDmaContaining, type1Backend } from '../../../models/vfio/state.js';
import type { Invariant } from '../../../src/design.js';
import { hex } from '../views.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

/** §4.9 inv. 1: the entry's page is pinned through vfio_pin_pages and mapped at its DMA address. */
export const cacheEntryPinnedAndMapped: KvmgtInvariant = {
  name: 'cache-entry-pinned-and-mapped',
  class: 'accounting',
  description:
    "each DMA cache entry's guest pages (one, or a 2M entry's) are pinned in the container and its DMA addresses map those frames",
  reads: (state) => [state.vgpu, state.vfio, state.hostDma],
  check({ after }) {
    const backend = type1Backend(after.vfio);
    for (const entry of Object.values(after.vgpu?.cache ?? {})) {
      for (let page = 0; page < entryPages(entry); page++) {
        const gfn = entry.gfn + page;
        const pin = backend === null ? undefined : findDmaContaining(backend, gfn)?.externalPins[gfn];
        const dmaAddr = entry.dmaAddr + page;
        const mapped = after.hostDma.map[dmaAddr];
        if (pin !== undefined && mapped === pin.mfn) continue;
        const of =
          entryPages(entry) === 1 ? `gfn ${gfn}` : `gfn ${entry.gfn} (${entryPages(entry)} pages), page gfn ${gfn}`;
        return {
          message:
            pin === undefined
              ? `DMA cache entry of ${of}: no vfio_pin_pages pin at IOVA page ${gfn}`
              : `DMA cache entry of ${of}: ${hex(dmaAddr)} maps ${mapped === undefined ? 'nothing' : `mfn ${mapped}`}, the pin holds mfn ${pin.mfn}`,
          actual: pin === undefined ? 'unpinned' : `mapped to ${mapped === undefined ? 'nothing' : `mfn ${mapped}`}`,
          expected: pin === undefined ? 'pinned' : `mapped to mfn ${pin.mfn}`,
        };
      }
    }
    return null;
  },
};

/**
 * The converse (issue 18, "pin counts equal holders"): every vfio_pin_pages pin the vGPU holds on
 * a guest page is held by something that will give it back — the page's DMA cache entry (one pin
 * per entry, `gvt_dma_map_page`), or a translation in flight whose map has not reached the cache
 * yet (one per page and DMA address). A pin nothing holds is never unpinned until the VMM's
 * UNMAP_DMA finds it and, with no cache entry for the vGPU's dma_unmap op to drop, BUG_ONs.
 */
export const vgpuPinsHeld: KvmgtInvariant = {
  name: 'vgpu-pins-held',
  class: 'accounting',
  description: 'every vfio_pin_pages pin the vGPU holds is held by its DMA cache entry or by a translation in flight',
  reads: (state) => [state.vgpu, state.vfio, state.inflight],
  check({ after }) {
    const vgpu = after.vgpu;
    if (vgpu === null) return null;
    const held = new Map<number, number>();
    const hold = (gfn: number): void => {
      held.set(gfn, (held.get(gfn) ?? 0) + 1);
    };
    // A 2M entry holds a pin of each of its pages (`gvt_pin_guest_page` pins them one by one).
    for (const entry of Object.values(vgpu.cache))
      for (let page = 0; page < entryPages(entry); page++) hold(entry.gfn + page);
    const counted = new Set<string>();
    for (const pending of pendingShadows(after.inflight)) {
      if (pending.cached || pending.pte.kind !== 'dma') continue;
      const key = `${pending.gfn}:${pending.pte.dmaAddr}`;
      if (counted.has(key)) continue;
      counted.add(key);
      hold(pending.gfn);
    }
    const pins = after.vfio.devices[VGPU_DEVICE]?.pins ?? {};
    for (const [key, count] of Object.entries(pins)) {
      const gfn = Number(key);
      const expected = held.get(gfn) ?? 0;
      if (count === expected) continue;
      return {
        message: `the vGPU holds ${count} pin${count === 1 ? '' : 's'} of IOVA page ${gfn}, but ${expected} DMA cache entr${expected === 1 ? 'y or translation holds' : 'ies or translations hold'} it`,
        actual: `${count} pins`,
        expected: `${expected} (its holders)`,
      };
    }
    return null;
  },
};
