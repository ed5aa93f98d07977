/**
 * 64K pages in the PPGTT (Linux v6.12, `drivers/gpu/drm/i915/gvt/gtt.c`; docs/reference/gvt-kvmgt.md
 * §4.4): a page-directory entry with the IPS bit makes the page table it names a 64K table
 * (`ppgtt_populate_spt_by_guest_entry`: `ips = vgpu_ips_enabled(vgpu) && ops->test_ips(we)`,
 * kept as `spt->guest_page.pde_ips`). In such a table only every `GTT_64K_PTE_STRIDE`-th entry is
 * used (`for_each_present_guest_entry` steps by the stride); each names a 64K page, its frame
 * number masked to 64K (`ADDR_64K_MASK` in `gen8_gtt_get_pfn`). GVT never shadows a 64K entry as
 * one: `split_64KB_gtt_entry` maps each of its sixteen 4K pages (`intel_gvt_dma_map_guest_page(gfn
 * + i, PAGE_SIZE)`) into shadow slots `index + i` of the same table, and the shadow PDE loses its
 * IPS bit (`ppgtt_generate_shadow_entry`). A guest store to an unused slot is ignored
 * (`ppgtt_handle_guest_write_page_table_bytes`: "Unused PTEs update should be ignored").
 *
 * Scaled to the model's small tables: a 64K page spans `ips64kStride(layout)` pages — 16 of 512 on
 * hardware, `entriesPerTable / 32` at that ratio, but at least 2 so that a split has more than one
 * slot (2 in today's 4-entry tables), and a divisor of the table so that no split runs past it.
 * `vgpu_ips_enabled` (gen9: the guest's `GAMW_ECO_DEV_RW_IA` IPS field; gen11+: always) is taken as
 * true. Left out: 2M and 1G entries.
 */
import type { GvtLayout } from './config.js';
import { page2mBase } from './huge2m.js';
import type { GuestPage, Spt } from './types.js';

/** Pages of one 64K page and slots of one split (`GTT_64K_PTE_STRIDE`, scaled; 1 when a table is too small to split). */
export function ips64kStride(layout: Pick<GvtLayout, 'entriesPerTable'>): number {
  const entries = layout.entriesPerTable;
  let stride = Math.max(2, Math.floor(entries / 32));
  while (stride > 1 && entries % stride !== 0) stride -= 1;
  return stride;
}

/** A table whose guest entries are 64K entries (`pde_ips`). */
export function is64kTable(spt: Pick<Spt, 'ips' | 'level'>): boolean {
  return spt.level === 'pt' && spt.ips === true;
}

/** The used slot whose 64K entry covers shadow slot `index` (the slot itself in a 4K table). */
export function entrySlotOf(
  spt: Pick<Spt, 'ips' | 'level'>,
  layout: Pick<GvtLayout, 'entriesPerTable'>,
  index: number,
): number {
  if (!is64kTable(spt)) return index;
  return index - (index % ips64kStride(layout));
}

/** The first page of the 64K page an entry names: its frame number masked to 64K (`ADDR_64K_MASK`). */
export function page64kBase(gfn: number, layout: Pick<GvtLayout, 'entriesPerTable'>): number {
  return gfn - (gfn % ips64kStride(layout));
}

/**
 * The guest page a shadow slot must translate: in a 4K table, the page the guest's entry at the
 * slot names; in a 64K table, page `index % stride` of the 64K page the used entry covering the
 * slot names. Null when that entry is not present (or is not an entry).
 */
export function guestLeafGfn(
  spt: Pick<Spt, 'ips' | 'level'>,
  page: GuestPage | undefined,
  index: number,
  layout: Pick<GvtLayout, 'entriesPerTable'>,
): number | null {
  const slot = entrySlotOf(spt, layout, index);
  const qword = page?.[slot];
  if (qword?.kind !== 'pte' || !qword.present) return null;
  // A 2M PDE names the 2M page from its frame number masked to 2M (`huge2m.ts`).
  if (spt.level === 'pd' && qword.pse === true) return page2mBase(qword.gfn, layout);
  return !is64kTable(spt) ? qword.gfn : page64kBase(qword.gfn, layout) + (index - slot);
}

/** A 64K entry's slots at a decision point: the table, the used slot, how many slots it spans. */
export interface Slot64K {
  /** The table's guest gfn and the used slot of the entry. */
  readonly sptGfn: number;
  readonly index: number;
  /** Its pages, and the slots a split shadows (`GTT_64K_PTE_STRIDE`, scaled). */
  readonly stridePages: number;
}

/** A 64K entry being split: its slots, the frame number the guest wrote, and the 64K page's first page. */
export interface Split64K extends Slot64K {
  /** The frame number as the guest's entry holds it (its low bits need not be clear). */
  readonly entryGfn: number;
  /** The first guest page of the 64K page the entry names: `entryGfn` masked to 64K (`ADDR_64K_MASK`). */
  readonly pageGfn: number;
}

/** v6.12's split: the 64K page's pages from its masked first one, one per slot. */
export function pagesOf64K(entry: Split64K): number[] {
  return Array.from({ length: entry.stridePages }, (_, page) => entry.pageGfn + page);
}

/**
 * A split that failed part-way (`split_64KB_gtt_entry`'s `return ret`): the entry being split, the
 * pages mapped before the one whose map failed (`mapped`, into slots `index`, `index + 1`, …, each
 * holding the DMA cache reference its map took), and that map's errno.
 */
export interface FailedSplit64K extends Split64K {
  readonly mapped: number;
  readonly errno: string;
}
