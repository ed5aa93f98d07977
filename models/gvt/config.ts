/**
 * Configuration of the GVT-g mediator: the vGPU's graphics-memory partition, the size of the
 * model's page tables, the two design choices the seeds debate, and deliberate bugs for the
 * meta-tests. Reference: docs/reference/gvt-kvmgt.md §4.2 (partitioning), §4.4–§4.5 (write protection), §4.8
 * (command scanning and shadow copies).
 */
import { worldSize } from '../world-size.js';
import { lookupBySize, pinnedContiguous } from './huge2m.js';
import type { CacheLookup, CacheLookupAction, FailedSplit2M, Pin2M } from './huge2m.js';
import { pagesOf64K } from './ips64k.js';
import type { FailedSplit64K, Slot64K, Split64K } from './ips64k.js';
import type { GuestPte, ShadowPte } from './types.js';

/** Half-open range of GGTT indices `[start, end)`. */
export interface GgttRange {
  readonly start: number;
  readonly end: number;
}

export interface GvtLayout {
  /** Entries of the whole GGTT (host reservation, the vGPU's ranges, and nothing else). */
  readonly ggttEntries: number;
  /** The vGPU's aperture (low, CPU-mappable) range. */
  readonly aperture: GgttRange;
  /** The vGPU's hidden (high) range. */
  readonly hidden: GgttRange;
  /** Entries per page-table page (512 on hardware; a handful here so tables fill up). */
  readonly entriesPerTable: number;
}

export const gvtBugs = [
  /** Replacing a GGTT entry never releases the old entry's DMA reference (ggtt_invalidate_pte skipped). */
  'ggtt-replace-keeps-ref',
  /** Freeing a shadow page table leaves its page track registered and the page write-protected. */
  'spt-free-keeps-track',
  /** A DMA cache hit returns the cached address without taking a reference. */
  'cache-hit-skips-kref',
  /** vGPU destroy skips destroying the DMA cache: entries left over keep their pins. */
  'destroy-keeps-cache',
  /** The scanner audits only the first command of a batch buffer. */
  'scan-audits-first-only',
  /** A trapped 8-byte guest write replaces a shadow entry without releasing what the old one held. */
  'ppgtt-write-keeps-old-ref',
  /**
   * Replacing a GGTT entry drops the old entry's DMA cache reference with a bare decrement, not
   * `intel_gvt_dma_unmap_guest_page`'s `kref_put(&entry->ref, __gvt_dma_release)`: the entry whose
   * last user went stays in the cache at kref 0, pinned and mapped.
   */
  'ggtt-replace-skips-release',
] as const;

export type GvtBug = (typeof gvtBugs)[number];

/**
 * What a stack's mediator can do that a GVT-g bug needs: `write-protection` (guest page tables are
 * write-protected, so a store traps), `ppgtt` (the guest announces PPGTTs and stores into their
 * tables: the commands are generated), `batch-buffers` (the guest submits batch buffers for the
 * scanner).
 */
export type GvtFeature = 'write-protection' | 'ppgtt' | 'batch-buffers';

/** How a refusal says a stack lacks a feature: "the <design> …". */
export const gvtFeatureMissing: Readonly<Record<GvtFeature, string>> = {
  'write-protection': 'does not write-protect guest page tables (writeProtect: false)',
  ppgtt: 'generates no PPGTT commands',
  'batch-buffers': 'generates no batch-buffer submissions',
};

/** What each GVT-g bug needs, and what then never happens (the refusal's "so …"). */
export const gvtBugNeeds: Readonly<
  Record<GvtBug, { readonly needs: readonly GvtFeature[]; readonly otherwise: string }>
> = {
  'ggtt-replace-keeps-ref': { needs: [], otherwise: 'no GGTT entry is ever replaced' },
  'ggtt-replace-skips-release': { needs: [], otherwise: 'no GGTT entry is ever replaced' },
  'spt-free-keeps-track': {
    needs: ['ppgtt', 'write-protection'],
    otherwise: 'no freed shadow table has a page track to leave behind',
  },
  'cache-hit-skips-kref': { needs: [], otherwise: 'no guest page is mapped twice' },
  'destroy-keeps-cache': { needs: [], otherwise: 'no vGPU is destroyed' },
  'scan-audits-first-only': { needs: ['batch-buffers'], otherwise: 'the scanner never runs' },
  'ppgtt-write-keeps-old-ref': {
    needs: ['ppgtt', 'write-protection'],
    otherwise: 'no guest page-table store is ever trapped',
  },
};

/** The features a stack's mediator has, from its configuration and the commands it generates. */
export function gvtFeatures(
  config: Pick<GvtConfig, 'writeProtect'>,
  commands: { readonly ppgtt: boolean; readonly batchBuffers: boolean },
): Set<GvtFeature> {
  const has = new Set<GvtFeature>();
  if (config.writeProtect) has.add('write-protection');
  if (commands.ppgtt) has.add('ppgtt');
  if (commands.batchBuffers) has.add('batch-buffers');
  return has;
}

export interface GvtConfig {
  readonly layout: GvtLayout;
  /**
   * `true`: every guest page the mediator shadows as a page table is write-protected, so a guest
   * store to it traps and the shadow follows (`gvt/write-protect`). `false`: the tables are
   * shadowed when the PPGTT is created and never again (`gvt/no-write-protect`).
   */
  readonly writeProtect: boolean;
  /**
   * `shadow-copy`: the scanner copies a batch buffer into a host object, scans the copy and the GPU
   * executes the copy. `scan-in-place`: the scanner scans the guest's buffer and the GPU executes
   * the guest's buffer, which the guest may rewrite in between.
   */
  readonly cmdbuf: 'shadow-copy' | 'scan-in-place';
  readonly bugs: readonly GvtBug[];
  /**
   * How the mediator's failure paths unwind (issue 18, "Error unwinding"): a decision point per
   * path, absent meaning every step undone. Only a stack whose host can fail there (KVMGT's fault
   * injection) ever takes these paths; XenGT leaves it unset.
   */
  readonly unwind?: GvtUnwind;
  /** The mediator's decision points a design varies with a function of its own (`GvtHooks`); absent: v6.12's. */
  readonly hooks?: Partial<GvtHooks>;
}

/** The first 4-byte half of a GGTT entry the guest writes through the trapped MMIO range. */
export interface GgttHalfWrite {
  /** The GGTT index of the entry. */
  readonly index: number;
  /** Which half: 0 (low dword: the present bit and the low pfn bits) or 4 (high dword). */
  readonly offsetBytes: number;
  /** The guest's copy of the entry once the half is in (`ggtt_set_guest_entry`). */
  readonly entry: GuestPte;
}

/**
 * The mediator's decision points as functions (Linux v6.12, `gtt.c`). Each default is v6.12's
 * (`soundGvtHooks`) but where v6.12 leaks or breaks isolation (`release64K`, `cacheLookup`,
 * `freeSptReleases`, `failedSplit64KReleases`: see each); a design passes its own to vary one.
 */
export interface GvtHooks {
  /**
   * `emulate_ggtt_mmio_write`, the first 4-byte half of an 8-byte entry: v6.12 keeps it in the
   * partial-PTE list (`partial_update = true`) and shadows nothing until the other half arrives,
   * the host entry pointing at scratch meanwhile (`if (!partial_update && test_present(&e))`).
   * `true` translates the half-written entry at once, as its guest copy now reads: the flawed
   * choice of `xengt/shadows-half-written-ggtt`.
   */
  readonly shadowHalfWritten: (half: GgttHalfWrite) => boolean;
  /**
   * `split_64KB_gtt_entry`: the guest pages the split maps 4K into shadow slots `index`,
   * `index + 1`, … (at most `entry.stridePages`; slots past the list are left as they were). v6.12
   * (`pagesOf64K`): the 64K page's pages, `start_gfn = ops->get_pfn(se)` masked to 64K
   * (`ADDR_64K_MASK`), plus `i`. A split counting from the frame number as written (the mask
   * left out) is `kvmgt/64k-split-unmasked`.
   */
  readonly split64K: (entry: Split64K) => readonly number[];
  /**
   * The removal of a split 64K entry's old shadow (its used slot rewritten, cleared or half
   * written): how many of its slots, from the used one on, give back their DMA reference. The
   * model's default, all `stridePages`: every slot the split filled holds one
   * (`intel_gvt_dma_map_guest_page` per page). v6.12's `ppgtt_handle_guest_write_page_table`
   * removes only `old_se`, the used slot (`ppgtt_handle_guest_entry_removal(spt, &old_se,
   * index)`), and then points all sixteen at scratch or overwrites them: `() => 1`, the design
   * `kvmgt/64k-removal-first-page`. Clamped to `[0, stridePages]`.
   */
  readonly release64K: (entry: Slot64K) => number;
  /**
   * `intel_gvt_dma_map_guest_page` finding an entry of the gfn at another size than asked for
   * (`huge2m.ts`: a 2M request whose first page a 4K entry maps, or a 4K request on a 2M entry's
   * first page). v6.12 (`kvmgt/2m-size-change-remaps`): `remap`, unmapping and removing the entry
   * whatever its references. The model's default (`lookupBySize`): `refuse` (the 2M request then
   * splits). A lookup ignoring the size (`hit`) is `kvmgt/2m-lookup-ignores-size`. Called only on a
   * size mismatch.
   */
  readonly cacheLookup: (lookup: CacheLookup) => CacheLookupAction;
  /**
   * `gvt_pin_guest_page` with a 2M size, once every page is pinned: whether the frames may be
   * mapped as one range from the first (`dma_map_page(base_page, 0, size)`). v6.12
   * (`pinnedContiguous`): each frame is the first one's plus its index, else -EINVAL, the pages
   * unpinned and the entry split. Skipping it is `kvmgt/2m-pin-skips-contiguity`. Only a host
   * that maps 2M pages (KVMGT) asks.
   */
  readonly pin2M: (pin: Pin2M) => boolean;
  /**
   * The release of a 2M DMA cache entry (`__gvt_dma_release` → `gvt_dma_unmap_page(...,
   * entry->size)` → `gvt_unpin_guest_page`): how many of its pages, from the first, are unpinned
   * (`DIV_ROUND_UP(size, PAGE_SIZE)` in v6.12: all of them). Unpinning one 4K page's worth is
   * `kvmgt/2m-release-unpins-4k`. Clamped to `[0, pages]`; only a host that maps 2M pages asks.
   */
  readonly unpin2M: (entry: { readonly gfn: number; readonly pages: number }) => number;
  /**
   * `ppgtt_invalidate_spt` freeing a table whose last reference went (a PPGTT destroyed, a
   * directory entry rewritten): whether it gives back what this entry of the table holds, asked of
   * each entry that is not scratch. The model's default: every one. v6.12 walks the present shadow
   * entries and `continue`s past a `GTT_TYPE_PPGTT_PTE_2M_ENTRY` (`gvt_vdbg_mm("invalidate 2M
   * entry")`, nothing released), so a 2M entry shadowed whole keeps its DMA cache reference, and
   * its pages their pin and mapping, until `gvt_cache_destroy` at close: the design
   * `kvmgt/shipped-free-skips-2m`. (The removal of one entry, `ppgtt_handle_guest_entry_removal`,
   * does release a 2M entry: `ppgtt_invalidate_pte`.)
   */
  readonly freeSptReleases: (pte: ShadowPte) => boolean;
  /**
   * `split_2MB_gtt_entry` failing part-way (a page's 4K `intel_gvt_dma_map_guest_page` refused):
   * how many of the `mapped` pages before it, from the first, give back the DMA cache reference
   * their map took. v6.12 (all of them): `err:` walks the sub table's present entries with
   * `ppgtt_invalidate_pte` and frees it (commit 4a61648af68f, "fix double free bug in
   * split_2MB_gtt_entry", v6.2). Before that fix — every kernel from the 2M support (b901b252b6cf)
   * to v6.1, and every XenGT tree — the error path was `ppgtt_invalidate_spt(spt); return ret;`: it
   * put the parent table, not the sub table, whose maps were never given back (`() => 0`, the designs
   * `xengt/2m-split-error-leaks` and `kvmgt/2m-split-error-leaks`; the put of the parent, a double
   * free when the caller frees it again, CVE-2022-3707, is left out). Clamped to `[0, mapped]`.
   * The split fails with the map's errno either way (`return ret`).
   */
  readonly failedSplit2MReleases: (failure: FailedSplit2M) => number;
  /**
   * `split_64KB_gtt_entry` failing part-way (the 4K `intel_gvt_dma_map_guest_page` of a page past
   * the first refused): how many of the `mapped` pages before it, from the first, give back the DMA
   * cache reference their map took, their slots left as they were; the others stay written in their
   * slots (`index + i`), holding their reference. The split fails with the map's errno either way
   * (`return ret`). The model's default, all of them: the split is undone, and what the slots
   * become is its caller's (a new table's unwind, or a trapped store's failed add: scratch, the old
   * entry given back). v6.12, and every tree since the 64K support (v4.17), `() => 0`: the loop
   * returns with the slots it wrote. A new table's population then frees the table (`ppgtt_free_spt`,
   * `unwind.populate`); a trapped store's `ppgtt_handle_guest_write_page_table` returns before
   * `ppgtt_handle_guest_entry_removal`, so the slots written took the place of the old split's
   * without giving back its references: the design `kvmgt/64k-split-error-keeps-slots`. The slots
   * left hold the pages the guest's entry names, and a later removal or free gives them back as it
   * gives back any split slot (`release64K`, `ppgtt_invalidate_spt`). Clamped to `[0, mapped]`.
   */
  readonly failedSplit64KReleases: (failure: FailedSplit64K) => number;
}

export const soundGvtHooks: GvtHooks = {
  shadowHalfWritten: () => false,
  split64K: pagesOf64K,
  release64K: (entry) => entry.stridePages,
  cacheLookup: lookupBySize,
  pin2M: pinnedContiguous,
  unpin2M: (entry) => entry.pages,
  freeSptReleases: () => true,
  failedSplit2MReleases: (failure) => failure.mapped,
  failedSplit64KReleases: (failure) => failure.mapped,
};

/** The design's hook for `name`, or v6.12's. */
export function gvtHook<K extends keyof GvtHooks>(config: Pick<GvtConfig, 'hooks'>, name: K): GvtHooks[K] {
  return config.hooks?.[name] ?? soundGvtHooks[name];
}

/**
 * A count a hook returned, clamped to `[0, max]`; `max` when it is not an integer (a hook's count
 * of slots, pages or maps).
 */
export function hookCount(count: number, max: number): number {
  return Number.isInteger(count) ? Math.min(Math.max(count, 0), max) : max;
}

/**
 * The mediator's unwind choices (Linux v6.12, `kvmgt.c`, `gtt.c`):
 * - `cacheAdd`: `__gvt_cache_add` failed (its `gvt_dma` allocation) after the page was pinned and
 *   mapped. `unmap` (default): `intel_gvt_dma_map_guest_page` jumps to `err_unmap`,
 *   `gvt_dma_unmap_page` (unmap, unpin). `keep-map`: the flawed unwind returns the error with the
 *   page still pinned and mapped, and no cache entry to find it by.
 * - `populate`: a table's population failed part-way (`ppgtt_populate_spt`). `invalidate`
 *   (default): every entry populated so far is released with the table, as
 *   `ppgtt_invalidate_spt` releases a table's entries. `free-spt`: as shipped,
 *   `ppgtt_populate_spt_by_guest_entry` jumps to `err_free_spt`, `ppgtt_free_spt`, which frees the
 *   table and unregisters its page track without walking its entries: the DMA references and
 *   child-table references the entries populated so far took are never given back.
 * - `trackAdd`: enabling a new table's page track failed (`kvmgt_page_track_add`).
 *   `unregister` (default): `err_free_spt` → `ppgtt_free_spt` → `intel_vgpu_unregister_page_track`.
 *   `keep-registration`: the flawed unwind frees the table and leaves its page track registered.
 */
export interface GvtUnwind {
  readonly cacheAdd?: 'unmap' | 'keep-map';
  readonly populate?: 'invalidate' | 'free-spt';
  readonly trackAdd?: 'unregister' | 'keep-registration';
}

export function hasGvtBug(config: GvtConfig, bug: GvtBug): boolean {
  return config.bugs.includes(bug);
}

export function inRange(range: GgttRange, index: number): boolean {
  return index >= range.start && index < range.end;
}

/** `vgpu_gmadr_is_valid`: the index lies in the vGPU's aperture or hidden range. */
export function ownsGgttIndex(layout: GvtLayout, index: number): boolean {
  return inRange(layout.aperture, index) || inRange(layout.hidden, index);
}

/** Every GGTT index of the vGPU's ranges, in order. */
export function ownGgttIndices(layout: GvtLayout): number[] {
  const indices: number[] = [];
  for (const range of [layout.aperture, layout.hidden]) {
    for (let index = range.start; index < range.end; index++) indices.push(index);
  }
  return indices;
}

/** Sizes of a vGPU's GGTT partition; every one has today's value (2, 2, 2, 4) as its default. */
export interface GgttPartition {
  /** Entries the host keeps for its own pages (default 2; at least 1: what the scanner guards). */
  readonly hostEntries?: number;
  /** Entries of the vGPU's aperture (low, CPU-mappable) range (default 2; at least 1). */
  readonly apertureEntries?: number;
  /** Entries of the vGPU's hidden (high) range (default 2). */
  readonly hiddenEntries?: number;
  /** Entries of each page-table page of the guest's PPGTTs (default 4; 512 on hardware). */
  readonly entriesPerTable?: number;
}

/**
 * The GGTT layout of a partition: the host's entries first (`host-first`, as KVMGT reserves
 * indices 0–1) or after the vGPU's aperture and hidden ranges (`vgpu-first`, XenGT). Throws an
 * Error saying why for sizes out of range.
 */
export function partitionGgtt(partition: GgttPartition, order: 'host-first' | 'vgpu-first'): GvtLayout {
  const host = worldSize('ggtt', 'hostEntries', partition.hostEntries, 1, 64, 2);
  const aperture = worldSize('ggtt', 'apertureEntries', partition.apertureEntries, 1, 64, 2);
  const hidden = worldSize('ggtt', 'hiddenEntries', partition.hiddenEntries, 0, 64, 2);
  const entriesPerTable = worldSize('ggtt', 'entriesPerTable', partition.entriesPerTable, 1, 64, 4);
  const first = order === 'host-first' ? host : 0;
  return {
    ggttEntries: host + aperture + hidden,
    aperture: { start: first, end: first + aperture },
    hidden: { start: first + aperture, end: first + aperture + hidden },
    entriesPerTable,
  };
}

/** GGTT indices outside the vGPU's ranges (the host's), in order. */
export function hostGgttIndices(layout: GvtLayout): number[] {
  return Array.from({ length: layout.ggttEntries }, (_, index) => index).filter(
    (index) => !ownsGgttIndex(layout, index),
  );
}
