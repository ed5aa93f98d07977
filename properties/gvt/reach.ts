/**
 * Reach labels both GVT-g stacks (KVMGT, XenGT) count (`--stats`): the mediator's situations
 * whatever the hypervisor under it.
 */
import type { GvtVgpu } from '../../models/gvt/types.js';

export const GTT_WRITE_UNDER_DMA = 'GTT entry written while a GPU access is in flight';
export const VGPU_DESTROYED_WITH_CACHE = 'vGPU destroyed with DMA cache entries';

/** True when the vGPU's DMA cache maps a gfn in `[gfn, gfn + npages)`. */
export function cacheMapsRange(vgpu: GvtVgpu | null, gfn: number, npages = 1): boolean {
  if (vgpu === null) return false;
  return Object.keys(vgpu.cache).some((key) => Number(key) >= gfn && Number(key) < gfn + npages);
}

/** True when the vGPU's DMA cache holds any entry. */
export function cacheInUse(vgpu: GvtVgpu | null): boolean {
  return vgpu !== null && Object.keys(vgpu.cache).length > 0;
}
