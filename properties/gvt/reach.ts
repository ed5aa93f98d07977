/**
 * Reach labels both GVT-g stacks (KVMGT, XenGT) count (`--stats`): the mediator's situations
 * whatever the hypervisor under it.
 */
import { is64kTable } from '../../models/gvt/ips64k.js';
import type { GvtVgpu } from '../../models/gvt/types.js';

export const GTT_WRITE_UNDER_DMA = 'GTT entry written while a GPU access is in flight';
export const VGPU_DESTROYED_WITH_CACHE = 'vGPU destroyed with DMA cache entries';
export const SPLIT_64K = '64K entry shadowed as split 4K entries';
export const RESPLIT_64K = 'guest rewrites or clears a split 64K entry';

/** Shadow slots of 64K tables that hold a DMA address (the slots of split 64K entries). */
export function split64kSlots(vgpu: GvtVgpu | null): number {
  let slots = 0;
  for (const spt of Object.values(vgpu?.spts ?? {})) {
    if (is64kTable(spt)) for (const pte of spt.entries) if (pte.kind === 'dma') slots += 1;
  }
  return slots;
}

/** True when entry `index` of the table of `gfn` is a split 64K entry (its used slot holds a DMA address). */
export function isSplit64kEntry(vgpu: GvtVgpu | null, gfn: number, index: number): boolean {
  const spt = vgpu?.spts[gfn];
  return spt !== undefined && is64kTable(spt) && spt.entries[index]?.kind === 'dma';
}

/** True when the vGPU's DMA cache maps a gfn in `[gfn, gfn + npages)`. */
export function cacheMapsRange(vgpu: GvtVgpu | null, gfn: number, npages = 1): boolean {
  if (vgpu === null) return false;
  return Object.keys(vgpu.cache).some((key) => Number(key) >= gfn && Number(key) < gfn + npages);
}

/** True when the vGPU's DMA cache holds any entry. */
export function cacheInUse(vgpu: GvtVgpu | null): boolean {
  return vgpu !== null && Object.keys(vgpu.cache).length > 0;
}
