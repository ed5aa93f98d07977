/**
 * The built-in KVMGT designs (docs/debates.md#kvmgt-services): write protection of guest page
 * tables, command-buffer shadow copies, and the vGPU's dma_unmap op — each sound choice beside the
 * flawed one, and the op as shipped.
 */
import { kvmgtDesign } from './design.js';

export const gvtWriteProtect = kvmgtDesign({
  id: 'gvt/write-protect',
  expected: 'holds',
  description:
    'KVMGT write-protects every guest page it shadows as a page table: a guest store traps and the shadow follows the guest entry',
});

export const gvtNoWriteProtect = kvmgtDesign({
  id: 'gvt/no-write-protect',
  expected: 'violates',
  writeProtect: false,
  description:
    "the guest's page tables are shadowed when the PPGTT is announced and never write-protected: a guest store goes unseen and the shadow keeps reaching the page the guest entry named before",
  breaks: ['shadow-matches-guest-entry', 'shadowed-table-write-protected'],
});

export const cmdbufShadowCopy = kvmgtDesign({
  id: 'cmdbuf/shadow-copy',
  expected: 'holds',
  description: 'the scanner copies a batch buffer into a host object, audits the copy, and the GPU executes the copy',
});

export const cmdbufScanThenCopy = kvmgtDesign({
  id: 'cmdbuf/scan-then-copy',
  expected: 'violates',
  cmdbuf: 'scan-then-copy',
  description:
    "the scanner audits the guest's batch buffer in place, then copies it for the GPU: the guest's other vCPU rewrites a store to the host's GGTT range between the audit and the copy, and the GPU runs the unaudited copy (a double fetch, 4 steps; atomic, it holds). cmd_parser.c copies first (find_bb_size, perform_bb_shadow → copy_gma_to_hva) and scans the copy, re-checking the terminator the sizing found",
  breaks: ['no-dma-to-foreign-frame'],
});

export const cmdbufScanInPlace = kvmgtDesign({
  id: 'cmdbuf/scan-in-place',
  expected: 'violates',
  cmdbuf: 'scan-in-place',
  description:
    "the scanner audits the guest's batch buffer and the GPU executes it in place: scan, guest rewrites a store to the host's GGTT range, execute",
  breaks: ['no-dma-to-foreign-frame'],
});

export const kvmgtUnmapCallback = kvmgtDesign({
  id: 'kvmgt/unmap-callback',
  expected: 'holds',
  description:
    "the vGPU's dma_unmap op points the shadow entries that use the unmapped pages at scratch, then unmaps and unpins them",
});

export const kvmgtIgnoresUnmap = kvmgtDesign({
  id: 'kvmgt/ignores-unmap',
  expected: 'violates',
  vfioBugs: ['mdev-ignores-unmap'],
  description:
    "the vGPU's dma_unmap op returns with its pins held: the VMM's UNMAP_DMA of shadowed guest RAM retries and the kernel BUG_ONs",
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});

export const kvmgtUnmapUnderIommuLock = kvmgtDesign({
  id: 'kvmgt/unmap-under-iommu-lock',
  expected: 'violates',
  vfioBugs: ['dma-unmap-under-iommu-lock'],
  description:
    "type1 calls the vGPU's dma_unmap op with iommu->lock held: the op (v6.12 kvmgt.c intel_vgpu_dma_unmap → gvt_dma_unmap_page → gvt_unpin_guest_page) unpins with vfio_unpin_pages, which takes iommu->lock — held by the UNMAP_DMA that called it: the VMM's unmap of shadowed guest RAM waits forever (with the vGPU lock held by a trapped write in flight it waits for that first, then forever). v6.12 vfio_notify_dma_unmap drops the lock around the callbacks for exactly this reason",
  breaks: ['no-operation-waits-forever'],
});

export const kvmgtShippedUnmap = kvmgtDesign({
  id: 'kvmgt/shipped-unmap',
  expected: 'violates',
  unmapCallback: 'drop-cache',
  unmapLock: 'cache',
  description:
    "the vGPU's dma_unmap op as shipped (docs/reference/gvt-kvmgt.md §4.7): cache entries of the range are unmapped, unpinned and removed whatever their references, and the shadow entries holding their DMA addresses are left in place. Isolation holds — a dangling address faults in the host IOMMU, or reaches another page of the same VM once reused — but the shadow no longer matches the guest and the cache's references are wrong",
  breaks: ['shadow-matches-guest-entry', 'cache-kref-matches-shadow-users', 'shadow-dma-addr-cached'],
});

export const kvmgtUnmapUnderCacheLock = kvmgtDesign({
  id: 'kvmgt/unmap-under-cache-lock',
  expected: 'violates',
  unmapLock: 'cache',
  description:
    "the sound dma_unmap op (shadow users to scratch, then unmap and unpin) under cache_lock only, as the shipped intel_vgpu_dma_unmap locks: it runs between the mediator's translation (intel_gvt_dma_map_guest_page) and its shadow write under the vGPU lock — a GGTT write or a trapped store's handler — and the mediator writes the address the op has just released (3 steps; atomic, it holds). Once the address is reused the dangling entry also miscounts the new entry's references",
  breaks: ['shadow-matches-guest-entry', 'shadow-dma-addr-cached'],
});

export const kvmgtUnmapUnlocked = kvmgtDesign({
  id: 'kvmgt/unmap-unlocked',
  expected: 'violates',
  unmapLock: 'none',
  description:
    'the sound dma_unmap op taking no lock: it also runs inside intel_gvt_dma_map_guest_page, between the pin and map and the cache insert, finds no entry for the page just pinned, and UNMAP_DMA retries until BUG_ON (2 steps); between the insert and the shadow write it leaves a dangling address, as under cache_lock (atomic, it holds)',
  // The dangling address (shadow-matches-guest-entry, shadow-dma-addr-cached) is also found on
  // 18 and 19 of 20 fresh seeds at the default budget since the KVMGT generators draw fault
  // injection and the vGPU's lifecycle (bench at 47fd08c, worst first runs 775 and 849): reported
  // as undeclared breaks, declared by kvmgt/unmap-under-cache-lock, whose window it is.
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});

export const kvmgtShippedPopulateUnwind = kvmgtDesign({
  id: 'kvmgt/shipped-populate-unwind',
  expected: 'violates',
  unwind: { populate: 'free-spt' },
  description:
    "a PPGTT table whose population fails part-way (an injected failure of the n-th pin, DMA map, DMA cache insert or page-track add) unwound as gtt.c ppgtt_populate_spt_by_guest_entry ships it: err_free_spt → ppgtt_free_spt frees the table and unregisters its page track without walking the entries populated so far, so their DMA cache references and child-table references are never given back (shadow_ppgtt_mm's invalidate_ppgtt_mm walks only the root entries already set). Isolation holds — the pins stay until gvt_cache_destroy at close, the orphaned child tables until intel_vgpu_destroy_all_ppgtt_mm's 'Why we still has spt not freed?' — but the refused PPGTT creation leaves the vGPU's accounting changed",
  breaks: ['failed-op-leaves-state-unchanged', 'cache-kref-matches-shadow-users', 'spt-refcount-matches-references'],
});

export const kvmgtDmaMapErrorKeepsPin = kvmgtDesign({
  id: 'kvmgt/dma-map-error-keeps-pin',
  expected: 'violates',
  unwind: { dmaMap: 'keep-pin' },
  description:
    "gvt_dma_map_page returns dma_map_page's failure without gvt_unpin_guest_page: the guest page stays pinned and charged to the VMM's locked_vm with no DMA cache entry to release it by, so the refused PPGTT creation changes the container",
  breaks: ['vgpu-pins-held'],
});

export const kvmgtCacheAddErrorKeepsMap = kvmgtDesign({
  id: 'kvmgt/cache-add-error-keeps-map',
  expected: 'violates',
  unwind: { cacheAdd: 'keep-map' },
  description:
    "intel_gvt_dma_map_guest_page returns __gvt_cache_add's -ENOMEM without its err_unmap step (gvt_dma_unmap_page): the page stays pinned and mapped for the GPU with no cache entry, so the refused PPGTT creation changes the container and the host IOMMU domain",
  breaks: ['vgpu-pins-held'],
});

export const kvmgtDestroyKeepsGgtt = kvmgtDesign({
  id: 'kvmgt/destroy-keeps-ggtt',
  expected: 'violates',
  lifecycle: { destroy: 'keep-ggtt' },
  description:
    "vGPU destroy without intel_vgpu_reset_ggtt (intel_gvt_destroy_vgpu as it once was: intel_vgpu_clean_gtt frees the ggtt mm, not the hardware's entries): the host GGTT entries of the freed ranges keep the DMA addresses the close has just unmapped (gvt_cache_destroy), so once the DMA-API hands an address out again the free range translates to whatever page now has it. The next create's reset (commit d650ac06, intel_vgpu_init_gtt) hides it from the next vGPU",
  breaks: ['unowned-ggtt-reaches-scratch'],
});

export const kvmgtNoGgttReset = kvmgtDesign({
  id: 'kvmgt/no-ggtt-reset',
  expected: 'violates',
  lifecycle: { destroy: 'keep-ggtt', create: 'keep-ggtt' },
  description:
    'neither destroy nor create resets the vGPU\'s GGTT ranges (before commit d650ac06 "drm/i915/gvt: reset the GGTT entry when vGPU created": the GGTT space is partitioned between vGPUs and reused by the next one, whose stale entries must point at scratch): a vGPU created over the ranges of a destroyed one starts with host entries holding DMA addresses its own DMA cache never mapped — the earlier vGPU\'s translations',
  breaks: ['unowned-ggtt-reaches-scratch', 'shadow-dma-addr-cached'],
});

export const kvmgtTrackAddErrorKeepsRegistration = kvmgtDesign({
  id: 'kvmgt/track-add-error-keeps-registration',
  expected: 'violates',
  unwind: { trackAdd: 'keep-registration' },
  description:
    "a new shadow table whose page track cannot be enabled (kvmgt_page_track_add failing, injected) is freed without intel_vgpu_unregister_page_track: the registration stays in the vGPU's page-track tree, pointing at the freed table, and the guest page can never be shadowed again (EEXIST); the refused PPGTT creation changed the vGPU",
  breaks: ['shadowed-table-write-protected', 'failed-op-leaves-state-unchanged'],
});

export const kvmgt64kRemovalFirstPage = kvmgtDesign({
  id: 'kvmgt/64k-removal-first-page',
  expected: 'violates',
  gvtHooks: { release64K: () => 1 },
  explore: ['64k'],
  description:
    "a split 64K entry's old shadow removed as v6.12's gtt.c ppgtt_handle_guest_write_page_table removes it: ppgtt_handle_guest_entry_removal(spt, &old_se, index) gives back the DMA reference of the used slot only, then the sixteen slots are pointed at scratch (entry cleared) or overwritten by the new split (entry rewritten), so the references split_64KB_gtt_entry took for the other fifteen pages are never given back. Isolation holds — the pages stay pinned until gvt_cache_destroy at close — but the DMA cache's references outnumber the shadow entries holding them",
  breaks: ['cache-kref-matches-shadow-users'],
});

export const kvmgt64kSplitUnmasked = kvmgtDesign({
  id: 'kvmgt/64k-split-unmasked',
  expected: 'violates',
  gvtHooks: { split64K: (entry) => Array.from({ length: entry.stridePages }, (_, page) => entry.entryGfn + page) },
  explore: ['64k'],
  description:
    "split_64KB_gtt_entry counting the sixteen pages from the frame number as the guest wrote it, without gen8_gtt_get_pfn's ADDR_64K_MASK: a 64K entry whose frame number is not 64K-aligned is shadowed with pages past the 64K page it names — the GPU reaches guest pages the guest's entry does not map",
  breaks: ['shadow-matches-guest-entry'],
});

export const kvmgt64kSplitErrorKeepsSlots = kvmgtDesign({
  id: 'kvmgt/64k-split-error-keeps-slots',
  expected: 'violates',
  // As v6.12's gtt.c split_64KB_gtt_entry (unchanged since the 64K support, v4.17): `return ret`.
  gvtHooks: { failedSplit64KReleases: () => 0 },
  explore: ['64k'],
  description:
    "a 64K entry's split failing part-way — a page past the first unplugged, or its pin, DMA map or DMA cache insert failing — as v6.12's gtt.c split_64KB_gtt_entry does it: the loop returns the map's error with the slots it wrote in place. A trapped store rewriting a split entry wrote them over the old split's slots, and ppgtt_handle_guest_write_page_table then returns before ppgtt_handle_guest_entry_removal, so the old pages' DMA cache references there are never given back. Isolation holds — the pages stay pinned until gvt_cache_destroy at close — but the DMA cache's references outnumber the shadow entries holding them",
  breaks: ['cache-kref-matches-shadow-users'],
});

export const kvmgt2mSizeChangeRemaps = kvmgtDesign({
  id: 'kvmgt/2m-size-change-remaps',
  expected: 'violates',
  gvtHooks: { cacheLookup: () => 'remap' },
  explore: ['2m'],
  description:
    "v6.12's kvmgt.c intel_gvt_dma_map_guest_page finding the gfn cached at another size (\"the same gfn with different size: unmap and re-map\"): gvt_dma_unmap_page(entry->size) and __gvt_cache_remove_entry whatever the entry's references, then a new map at the size asked for. The shadow entries that still hold the old entry's DMA address — a 4K PTE of the 2M page's first gfn, or a 2M PDE when a 4K entry asks — now hold an address unmapped, which the pool hands out again: the GPU reaches whatever it maps next",
  breaks: ['shadow-matches-guest-entry'],
});

export const kvmgt2mLookupIgnoresSize = kvmgtDesign({
  id: 'kvmgt/2m-lookup-ignores-size',
  expected: 'violates',
  gvtHooks: { cacheLookup: () => 'hit' },
  explore: ['2m'],
  description:
    "a DMA cache lookup by gfn alone (__gvt_cache_find_gfn without the entry->size check): a 2M map whose first page a 4K entry maps takes that entry's address as the 2M page's — one page pinned and mapped where the shadow PDE spans 512 (4 here), so the GPU's accesses past the first page reach DMA addresses mapping other pages, or nothing",
  breaks: ['shadow-matches-guest-entry'],
});

export const kvmgt2mPinSkipsContiguity = kvmgtDesign({
  id: 'kvmgt/2m-pin-skips-contiguity',
  expected: 'violates',
  gvtHooks: { pin2M: () => true },
  explore: ['2m'],
  // Twelve pages of RAM: gfns 4-7 are 4K pages the vGPU's GGTT entries do not map at start (they
  // map 6-9), so a 2M entry there is pinned at 2M (in today's eight pages its first page is
  // cached 4K from the start, and the size mismatch splits it before any pin).
  world: { ramPages: 12 },
  description:
    "gvt_pin_guest_page pinning a 2M page's 512 pages (4 here) without checking that each pfn is the first one's plus its index: dma_map_page(base_page, 0, 2M) maps the host range from the first frame on, whatever frames the other pages are, so a 2M entry over guest RAM not backed by a host huge page lets the GPU reach frames the guest does not own",
  breaks: ['cache-entry-pinned-and-mapped'],
});

export const kvmgt2mReleaseUnpins4k = kvmgtDesign({
  id: 'kvmgt/2m-release-unpins-4k',
  expected: 'violates',
  gvtHooks: { unpin2M: () => 1 },
  explore: ['2m'],
  description:
    "a 2M DMA cache entry's last reference released as a 4K one is (gvt_unpin_guest_page with PAGE_SIZE instead of entry->size): the first page is unpinned and the other 511 (3 here) stay pinned with nothing to unpin them — charged to the VMM's locked memory, and a later UNMAP_DMA of their range waits on pins no DMA cache entry holds",
  breaks: ['vgpu-pins-held'],
});

export const kvmgtShippedFreeSkips2m = kvmgtDesign({
  id: 'kvmgt/shipped-free-skips-2m',
  expected: 'violates',
  // As v6.12's gtt.c ppgtt_invalidate_spt: a 2M entry shadowed whole is passed over.
  gvtHooks: { freeSptReleases: (pte) => !(pte.kind === 'dma' && (pte.pages ?? 1) > 1) },
  explore: ['2m'],
  description:
    "a freed page directory gives back what its entries hold as v6.12's gtt.c ppgtt_invalidate_spt does: for_each_present_shadow_entry skips a GTT_TYPE_PPGTT_PTE_2M_ENTRY ('invalidate 2M entry', continue), so a 2M entry shadowed whole keeps its DMA cache reference when its PPGTT is destroyed, and its pages their pin and IOMMU mapping, until gvt_cache_destroy at close. Isolation holds while the vGPU lives (the pages stay pinned), but the DMA cache's references outnumber the shadow entries holding them",
  breaks: ['cache-kref-matches-shadow-users'],
});

export const kvmgt2mSplitErrorLeaks = kvmgtDesign({
  id: 'kvmgt/2m-split-error-leaks',
  expected: 'violates',
  // As gtt.c split_2MB_gtt_entry before 4a61648af68f (v4.17 to v6.1): `ppgtt_invalidate_spt(spt)`.
  gvtHooks: { failedSplit2MReleases: () => 0 },
  explore: ['2m'],
  description:
    "a 2M entry's split into 4K maps (split_2MB_gtt_entry, when the 2M map fails: no host huge page behind it) failing part-way — a page past the first unplugged, or its pin or DMA map failing — unwound as gtt.c had it from the 2M support (b901b252b6cf) to v6.1, before the fix of CVE-2022-3707 (4a61648af68f): ppgtt_invalidate_spt on the parent table instead of invalidating the sub table's entries, so the 4K maps already taken keep their DMA cache references, and their pages their pins, with no shadow entry holding them",
  breaks: ['cache-kref-matches-shadow-users'],
});
