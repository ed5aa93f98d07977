/**
 * What freeing a frame does to its type (`cleanup_page_mappings`, called by `put_page` when the last
 * reference goes, xen/arch/x86/mm.c at the pinned commit): a frame still typed `PGT_writable_page`
 * may be in its PV owner's IOMMU (it got there when it became writable, `_get_page_type`), so it is
 * removed (`iommu_legacy_unmap` at dfn = mfn) and the type cleared. The allocator hands frames out
 * with `type_info` 0 (`alloc_heap_pages`): the model forgets a freed frame's type entirely.
 *
 * Left out: a failing unmap (Xen then leaks the frame, "Leaking mfn"), non-coherent cache flushes.
 */
import { writableIommu, writablePageTypes } from './copy-on-write.js';
import { iommuMapPage, iommuUnmapPage } from './iommu.js';
import type { IommuPerms } from './iommu.js';
import type { XenDomain, XenState } from './types.js';

/** `need_iommu_pt_sync(d) && is_pv_domain(d)`: Xen keeps the domain's own IOMMU table in step with page types and grants. */
export function pvIommuSync(domain: XenDomain | undefined): domain is XenDomain {
  return domain !== undefined && !domain.translated && domain.iommu !== undefined && !domain.iommu.sharePt;
}

/**
 * `iommu_legacy_map` / `iommu_legacy_unmap` (xen/drivers/passthrough/iommu.c): the change, then at
 * once `iommu_iotlb_flush(d, dfn, 1, flush_flags)`, so the dfn is not left waiting for a flush.
 * What `_get_page_type`, `cleanup_page_mappings` and a PV mapper's grant maps call.
 */
export function iommuLegacyMap(state: XenState, domid: number, dfn: number, mfn: number, perms: IommuPerms): void {
  if (iommuMapPage(state, domid, dfn, mfn, perms)) flushed(state, domid, dfn);
}

export function iommuLegacyUnmap(state: XenState, domid: number, dfn: number): void {
  if (iommuUnmapPage(state, domid, dfn)) flushed(state, domid, dfn);
}

function flushed(state: XenState, domid: number, dfn: number): void {
  if (state.domains[domid]?.iommu?.flushPending.includes(dfn) !== true) return;
  const iommu = writableIommu(state, domid);
  if (iommu !== undefined) iommu.flushPending = iommu.flushPending.filter((pending) => pending !== dfn);
}

/** The frame `mfn`, owned by `previousOwner`, has just been freed. */
export function cleanupPageMappings(state: XenState, mfn: number, previousOwner: number): void {
  const info = state.pageTypes?.[mfn];
  if (info === undefined) return;
  if (info.type === 'writable' && pvIommuSync(state.domains[previousOwner])) {
    iommuLegacyUnmap(state, previousOwner, mfn);
  }
  forgetPageType(state, mfn);
}

/**
 * The frame is untyped again (`none`, count 0): its entry goes, and the map with its last entry,
 * so that a state whose frames are all untyped reads as one that never had types (a refused or
 * undone operation leaves the state it found).
 */
export function forgetPageType(state: XenState, mfn: number): void {
  if (state.pageTypes?.[mfn] === undefined) return;
  const types = writablePageTypes(state);
  delete types[mfn];
  if (Object.keys(types).length === 0) delete state.pageTypes;
}
