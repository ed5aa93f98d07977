/**
 * The GVT-g mediator's counters (issue 18, bounds), for both GVT-g stacks: every live DMA cache
 * entry holds at least one reference (`struct gvt_dma`'s kref, kvmgt.c: the last
 * `intel_gvt_dma_unmap_guest_page` releases it, `__gvt_dma_release`), every live shadow page table
 * at least one (gtt.c `ppgtt_put_spt`, `ppgtt_invalidate_spt`) and every live PPGTT at least one
 * (`intel_vgpu_mm_put`).
 */
import type { GvtVgpu } from '../../models/gvt/types.js';
import type { Counter } from '../generic/bounds.js';

export function gvtCounters(vgpu: GvtVgpu | null): Counter[] {
  if (vgpu === null) return [];
  const counters: Counter[] = [];
  for (const entry of Object.values(vgpu.cache)) {
    counters.push({ name: `DMA cache kref of gfn ${entry.gfn}`, value: entry.kref, min: 1, max: Infinity });
  }
  for (const spt of Object.values(vgpu.spts)) {
    counters.push({ name: `shadow page table refcount of gfn ${spt.gfn}`, value: spt.refcount, min: 1, max: Infinity });
  }
  for (const mm of vgpu.mms) {
    counters.push({ name: `PPGTT refcount of root gfn ${mm.rootGfn}`, value: mm.refcount, min: 1, max: Infinity });
  }
  return counters;
}
