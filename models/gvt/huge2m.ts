/**
 * 2M pages in the PPGTT (Linux v6.12, `drivers/gpu/drm/i915/gvt/gtt.c` and `kvmgt.c`;
 * docs/reference/gvt-kvmgt.md §4.4b). A page-directory entry with the PS bit (`_PAGE_PSE`,
 * `GTT_TYPE_PPGTT_PTE_2M_ENTRY`) maps a 2M page, its frame number masked to 2M (`ADDR_2M_MASK` in
 * `gen8_gtt_get_pfn`). `ppgtt_populate_shadow_entry` shadows it whole — one 2M DMA mapping,
 * `intel_gvt_dma_map_guest_page(vgpu, gfn, I915_GTT_PAGE_SIZE_2M, &dma_addr)` — when the GPU has
 * 2M pages (`HAS_PAGE_SIZES(i915, I915_GTT_PAGE_SIZE_2M)`, taken as true) and that map succeeds;
 * else `split_2MB_gtt_entry` builds a shadow page table of its own (no guest page behind it) whose
 * 512 entries each map one 4K page (`intel_gvt_dma_map_guest_page(start_gfn + i, PAGE_SIZE)`), and
 * the shadow PDE, its PS bit cleared, points at it. The 2M map, in `kvmgt.c`: the DMA cache is
 * found by gfn (`__gvt_cache_find_gfn`) and each entry carries its size (`struct gvt_dma.size`);
 * `gvt_pin_guest_page` pins the 512 pages one by one and fails with -EINVAL (unpinning them) as
 * soon as a page's pfn is not the first one's plus its index (the pages must be one contiguous
 * host range: a host huge page behind the guest's 2M page); `dma_map_page(base_page, 0, size)`
 * maps the whole range from the first page; the last reference unmaps and unpins `entry->size`.
 *
 * Scaled to the model's small tables as 64K was (16 of 512 → 2 of 4): a 2M page spans the pages
 * one page table maps, `entriesPerTable` (512 of 512 on hardware, 4 here), and its split is one
 * table's worth of 4K entries. The XenGT stack's host refuses the 2M map, so there a 2M entry is
 * always split (`models/xengt/host.ts` says why). Left out: 1G entries (refused by GVT), the PAT
 * bits the split copies.
 */
import type { GvtLayout } from './config.js';
import type { ShadowPte } from './types.js';

/** Pages of one 2M page (scaled: the pages one page table maps). */
export function pages2M(layout: Pick<GvtLayout, 'entriesPerTable'>): number {
  return layout.entriesPerTable;
}

/** The first page of the 2M page a PDE names: its frame number masked to 2M (`ADDR_2M_MASK`). */
export function page2mBase(gfn: number, layout: Pick<GvtLayout, 'entriesPerTable'>): number {
  return gfn - (gfn % pages2M(layout));
}

/**
 * A DMA cache lookup that found an entry of the gfn (`__gvt_cache_find_gfn`): the size asked for
 * and the size cached, in 4K pages, and the entry's references.
 */
export interface CacheLookup {
  readonly gfn: number;
  readonly pages: number;
  readonly cachedPages: number;
  readonly kref: number;
}

/**
 * What `intel_gvt_dma_map_guest_page` does with the entry it found: `hit` takes a reference and
 * returns its address; `remap` unmaps and unpins the entry (all `cachedPages`) and removes it
 * whatever its references, then maps the gfn anew at the size asked for (v6.12's "the same gfn
 * with different size: unmap and re-map"); `refuse` fails the map (-EBUSY), leaving the entry.
 */
export type CacheLookupAction = 'hit' | 'remap' | 'refuse';

/**
 * The model's default: a hit only at the size cached; a size mismatch is refused, so a 2M
 * request whose first page a 4K entry maps falls back to the split (whose 4K maps hit that
 * entry), and a 4K request on a page cached as 2M fails (its shadow stays scratch). v6.12's
 * `remap` drops an entry shadow entries still hold (`kvmgt/2m-size-change-remaps`).
 */
export function lookupBySize(lookup: CacheLookup): CacheLookupAction {
  return lookup.pages === lookup.cachedPages ? 'hit' : 'refuse';
}

/** A multi-page pin (`gvt_pin_guest_page` with a 2M size): the guest pages and the frames pinned for them, in order. */
export interface Pin2M {
  readonly gfn: number;
  readonly pages: number;
  readonly mfns: readonly number[];
}

/** v6.12's check: every pinned frame is the first one's plus its index (`page_to_pfn(base_page) + npage`). */
export function pinnedContiguous(pin: Pin2M): boolean {
  const base = pin.mfns[0];
  return base !== undefined && pin.mfns.every((mfn, index) => mfn === base + index);
}

/** The leaves a shadow entry holds DMA references through: itself, or a split 2M entry's 4K entries with their page index. */
export function dmaLeaves(
  pte: ShadowPte,
): readonly { readonly dmaAddr: number; readonly pages: number; readonly page: number }[] {
  if (pte.kind === 'dma') return [{ dmaAddr: pte.dmaAddr, pages: pte.pages ?? 1, page: 0 }];
  if (pte.kind !== 'split2m') return [];
  return pte.entries.flatMap((sub, page) => (sub.kind === 'dma' ? [{ dmaAddr: sub.dmaAddr, pages: 1, page }] : []));
}

/**
 * A split that failed part-way (`split_2MB_gtt_entry`'s `err:`): the 2M entry at slot `index` of
 * table `sptGfn`, its first page `baseGfn` and its `pages`; the pages mapped 4K before the one that
 * failed (`mapped`, from `baseGfn` on, each holding a DMA cache reference), and the map's errno.
 */
export interface FailedSplit2M {
  readonly sptGfn: number;
  readonly index: number;
  readonly baseGfn: number;
  readonly pages: number;
  readonly mapped: number;
  readonly errno: string;
}
