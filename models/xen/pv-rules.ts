/**
 * The decisions of Xen's PV memory management at which a flawed implementation could differ, as
 * hooks (`XenConfig.pvMemory`; Xen's are `soundPvMemory`). Each is asked at its decision point with
 * what the real code knows there (xen/arch/x86/mm.c, xen/common/grant_table.c at the pinned commit).
 */
import type { PageType, PvL1e } from './types.js';

export interface PvMemoryRules {
  readonly name: string;
  /**
   * `_get_page_type` (mm.c), a type change between `PGT_writable_page` and any other type of a frame
   * whose owner is a PV domain with IOMMU sync (`need_iommu_pt_sync(d) && is_pv_domain(d)`): is the
   * owner's IOMMU entry `dfn = mfn` changed (`iommu_legacy_unmap` when the frame stops being
   * writable, `iommu_legacy_map` read/write when it becomes writable)? Xen: always.
   */
  readonly iommuSyncOnTypeChange: (change: { readonly fromWritable: boolean; readonly toWritable: boolean }) => boolean;
  /**
   * `mod_l1_entry`'s fast path (mm.c): the new entry replaces a present old one with no
   * `get_page_from_l1e` / `put_page_from_l1e` when `!l1e_has_changed(ol1e, nl1e,
   * ~FASTPATH_FLAG_WHITELIST)`. Xen (since XSA-182, e1bff4c2ea): the same frame and the same
   * `_PAGE_RW` (only accessed/dirty/user/global/NX/available bits may differ).
   */
  readonly l1FastPath: (entries: { readonly old: PvL1e; readonly next: PvL1e }) => boolean;
  /**
   * `get_page_from_l1e` (mm.c), an RW entry whose frame is typed `type` with `count` references: is
   * a `PGT_writable_page` type reference required (`get_page_type`, refused while the frame is in
   * use as another type)? Xen: always.
   */
  readonly l1eWritableNeedsType: (target: { readonly type: PageType; readonly count: number }) => boolean;
  /**
   * `unmap_common_complete` and `gnttab_release_mappings` (grant_table.c): does dropping a writable
   * mapping that took a `PGT_writable_page` type reference at map time put it
   * (`put_page_and_type`, `put_page_type`)? Xen: always.
   */
  readonly grantUnmapPutsType: (mapping: { readonly host: boolean; readonly device: boolean }) => boolean;
  /**
   * `unmap_common` (grant_table.c), a PV mapper with IOMMU sync: is the mfn's read or write count
   * dropped (and the IOMMU entry removed or downgraded with it)? Xen (since XSA-394, 975a8fb45c):
   * only when the unmap freed the handle (`put_handle`), once per mapping as the map raised it.
   */
  readonly grantIommuCountDrop: (unmap: { readonly handleFreed: boolean }) => boolean;
}

/** Xen's. */
export const soundPvMemory: PvMemoryRules = {
  name: 'xen',
  iommuSyncOnTypeChange: () => true,
  l1FastPath: ({ old, next }) => old.mfn === next.mfn && old.rw === next.rw,
  l1eWritableNeedsType: () => true,
  grantUnmapPutsType: () => true,
  grantIommuCountDrop: ({ handleFreed }) => handleFreed,
};

/**
 * A type change to a page table leaves the frame in the IOMMU: a device keeps writing what the CPU
 * now walks as a page table (the danger `_get_page_type`'s IOMMU sync, added with PV IOMMU support,
 * exists for; the same class as a page table left DMA-writable).
 */
export const pvTypeChangeSkipsIommuUnmap: PvMemoryRules = {
  ...soundPvMemory,
  name: 'type-change-skips-iommu-unmap',
  iommuSyncOnTypeChange: ({ fromWritable }) => !fromWritable,
};

/** XSA-182: the L1 fast path lets `_PAGE_RW` change without re-validation (the whitelist had `_PAGE_RW`). */
export const pvL1FastPathIgnoresRw: PvMemoryRules = {
  ...soundPvMemory,
  name: 'l1-fast-path-ignores-rw',
  l1FastPath: ({ old, next }) => old.mfn === next.mfn,
};

/**
 * L1 validation accepts an RW entry of a frame in use as a page table, taking no type reference
 * for it (the XSA-148 class: PV superpage L2 entries were accepted without their frames' types
 * checked, fe360c90ea). Its `put_page_from_l1e` still puts a type reference (`put_page_and_type`).
 */
export const pvL1AcceptsWritablePageTable: PvMemoryRules = {
  ...soundPvMemory,
  name: 'l1-accepts-writable-page-table',
  l1eWritableNeedsType: ({ type, count }) => !(count > 0 && type !== 'writable'),
};

/** A grant unmap puts the page reference of a writable mapping but not its type reference. */
export const pvGrantUnmapKeepsType: PvMemoryRules = {
  ...soundPvMemory,
  name: 'grant-unmap-keeps-type',
  grantUnmapPutsType: () => false,
};

/** XSA-394: every successful unmap drops the mfn's count, even one that leaves the handle live. */
export const pvGrantIommuCountDropsPerUnmap: PvMemoryRules = {
  ...soundPvMemory,
  name: 'grant-iommu-count-drops-per-unmap',
  grantIommuCountDrop: () => true,
};

/** The per-mfn counts are never dropped: the IOMMU keeps a grant-mapped frame after its last unmap. */
export const pvGrantIommuCountNeverDrops: PvMemoryRules = {
  ...soundPvMemory,
  name: 'grant-iommu-count-never-drops',
  grantIommuCountDrop: () => false,
};

export const pvMemoryVariants: readonly PvMemoryRules[] = [
  pvTypeChangeSkipsIommuUnmap,
  pvL1FastPathIgnoresRw,
  pvL1AcceptsWritablePageTable,
  pvGrantUnmapKeepsType,
  pvGrantIommuCountDropsPerUnmap,
  pvGrantIommuCountNeverDrops,
];
