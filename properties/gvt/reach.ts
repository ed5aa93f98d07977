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
export const WHOLE_2M = '2M entry shadowed whole';
export const SPLIT_2M = '2M entry split';
export const REMAP_2M = 'cache entry of another size found (v6.12 re-maps it)';

/** Shadow PDEs of 2M entries: shadowed whole (one 2M DMA mapping) and split (a table of 4K entries). */
export function shadowed2M(vgpu: GvtVgpu | null): { readonly whole: number; readonly split: number } {
  let whole = 0;
  let split = 0;
  for (const spt of Object.values(vgpu?.spts ?? {})) {
    for (const pte of spt.entries) {
      if (pte.kind === 'dma' && pte.pages !== undefined) whole += 1;
      else if (pte.kind === 'split2m') split += 1;
    }
  }
  return { whole, split };
}

/**
 * True when a 2M map found the gfn cached at another size (`intel_gvt_dma_map_guest_page`'s
 * "entry->size != size"): an entry of `before` is of another size in `after` (re-mapped), or a
 * 2M entry split in `after` over a first page `before` cached 4K (the model's default refuses the
 * mismatch and splits).
 */
export function cacheEntryResized(before: GvtVgpu | null, after: GvtVgpu | null): boolean {
  for (const entry of Object.values(before?.cache ?? {})) {
    const now = after?.cache[entry.gfn];
    if (now !== undefined && (now.pages ?? 1) !== (entry.pages ?? 1)) return true;
  }
  if (shadowed2M(after).split <= shadowed2M(before).split) return false;
  for (const spt of Object.values(after?.spts ?? {})) {
    for (const pte of spt.entries) {
      if (pte.kind === 'split2m' && before?.cache[pte.baseGfn] !== undefined) return true;
    }
  }
  return false;
}

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
  // A 2M entry maps its pages from its first gfn on.
  return Object.values(vgpu.cache).some((entry) => entry.gfn < gfn + npages && entry.gfn + (entry.pages ?? 1) > gfn);
}

/** True when the vGPU's DMA cache holds any entry. */
export function cacheInUse(vgpu: GvtVgpu | null): boolean {
  return vgpu !== null && Object.keys(vgpu.cache).length > 0;
}
