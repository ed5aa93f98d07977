/**
 * Reach labels both GVT-g stacks (KVMGT, XenGT) count (`--stats`): the mediator's situations
 * whatever the hypervisor under it.
 */
import type { GvtLayout } from '../../models/gvt/config.js';
import { page2mBase } from '../../models/gvt/huge2m.js';
import { is64kTable } from '../../models/gvt/ips64k.js';
import { isPresentPte } from '../../models/gvt/ppgtt.js';
import type { GuestPage, GvtVgpu } from '../../models/gvt/types.js';

export const GTT_WRITE_UNDER_DMA = 'GTT entry written while a GPU access is in flight';
export const VGPU_DESTROYED_WITH_CACHE = 'vGPU destroyed with DMA cache entries';
export const SPLIT_64K = '64K entry shadowed as split 4K entries';
export const RESPLIT_64K = 'guest rewrites or clears a split 64K entry';
export const WHOLE_2M = '2M entry shadowed whole';
export const SPLIT_2M = '2M entry split';
export const REMAP_2M = 'cache entry of another size found (v6.12 re-maps it)';
export const SPLIT_2M_FAILED = "2M entry's split failed part-way (its 4K maps given back)";
export const SPLIT_64K_FAILED = '64K split failed part-way';

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
 * The 2M entries whose split failed after its first page (`split_2MB_gtt_entry`'s `err:`), as
 * `sptGfn:index`: a shadowed page directory's guest entry is present with the PS bit, its shadow is
 * scratch, and the 2M page's first page is one the host can map (`mapsFirst`). What a trapped store
 * or a flush leaves; a PPGTT creation failing with it leaves no table to find it in.
 */
export function failedSplits2M(
  vgpu: GvtVgpu | null,
  guestPage: (gfn: number) => GuestPage | null,
  mapsFirst: (gfn: number) => boolean,
  layout: Pick<GvtLayout, 'entriesPerTable'>,
): Set<string> {
  const failed = new Set<string>();
  for (const spt of Object.values(vgpu?.spts ?? {})) {
    if (spt.level !== 'pd') continue;
    const page = guestPage(spt.gfn);
    spt.entries.forEach((pte, index) => {
      const qword = page?.[index];
      if (pte.kind !== 'scratch' || !isPresentPte(qword) || qword.pse !== true) return;
      if (mapsFirst(page2mBase(qword.gfn, layout))) failed.add(`${spt.gfn}:${index}`);
    });
  }
  return failed;
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

/** The commands whose step can shadow a guest entry: a guest store, a PPGTT's shadowing, a submission's post-shadow flush, the next phase of one of them. */
export const SHADOWING_KINDS: readonly string[] = ['guestWritePte', 'ppgttCreate', 'submitBatch', 'advance'];

/**
 * The 64K labels of a step that succeeded, either stack's (the split is the mediator's,
 * `split_64KB_gtt_entry`, whatever the hypervisor): `SPLIT_64K` when a shadowing step split a
 * 64K entry, `RESPLIT_64K` when the guest stored to the used slot of a split one (`stored`).
 */
export function split64kLabels(
  kind: string,
  before: GvtVgpu | null,
  after: GvtVgpu | null,
  stored: { readonly gfn: number; readonly index: number } | null,
): string[] {
  const labels: string[] = [];
  if (SHADOWING_KINDS.includes(kind) && split64kSlots(after) > split64kSlots(before)) labels.push(SPLIT_64K);
  if (stored !== null && isSplit64kEntry(before, stored.gfn, stored.index)) labels.push(RESPLIT_64K);
  return labels;
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
