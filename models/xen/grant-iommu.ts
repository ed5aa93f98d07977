/**
 * What a grant mapping does to page types and to a PV mapper's IOMMU (xen/common/grant_table.c at
 * the pinned commit, docs/reference/xen.md §2.3 steps 11–12, docs/reference/xen-pv.md):
 *
 * - Step 11's type references (`map_grant_ref`): a writable `device_map` takes a
 *   `PGT_writable_page` type reference of the granter's page; a writable `host_map` takes one when
 *   `gnttab_host_mapping_get_page_type(ro, ld, rd)` (xen/arch/x86/include/asm/grant_table.h:
 *   `!ro && (ld == rd || !paging_mode_external(rd))`, a PV granter or a self-map). A page typed
 *   otherwise in use (a page table) refuses it: `could_not_pin`, GNTST_general_error. They are put
 *   by `unmap_common_complete` (`put_page_and_type` for the device part, `put_page_type` for the
 *   host part), `undo_out` and `gnttab_release_mappings`.
 * - Step 12 (`gnttab_need_iommu_mapping(ld)`: a PV mapper with IOMMU sync, `ld != rd`): the mapper's
 *   `maptrack_tree` counts its mappings of each mfn, read-only and writable, one per handle; the
 *   first writable one maps `dfn = mfn` read/write in the mapper's IOMMU, the first read-only one
 *   with no writable maps it read-only. `unmap_common` drops the count once the handle is freed
 *   (`put_handle`, XSA-394): the last one unmaps the dfn, the last writable one with read-only ones
 *   left maps it read-only. `gnttab_release_mappings` deletes the nodes without touching the IOMMU
 *   (the dying domain's context goes with it).
 *
 * Left out: the counters' overflow (2^31 - 1 each), IOMMU failures (the `iommuMap` fault point of
 * the map is `fault.ts`'s), `dom_cow` and I/O frames.
 */
import type { XenConfig } from './config.js';
import { writableDomain, writableGrantIommuCounts } from './copy-on-write.js';
import { iommuLegacyMap, iommuLegacyUnmap, pvIommuSync } from './page-cleanup.js';
import { pageTypeOf } from './page-info.js';
import { getPageType, putPageType, pvMemoryRules } from './page-type.js';
import type { XenDomain, XenState } from './types.js';

/** The parts of a grant mapping that decide its type references. */
export interface GrantMappingParts {
  readonly host: boolean;
  readonly device: boolean;
  readonly readonly: boolean;
}

/** `gnttab_host_mapping_get_page_type(ro, ld, rd)`: a writable host map of a PV granter's page, or of the mapper's own. */
export function hostMapTakesType(
  readonly: boolean,
  mapperDomid: number,
  granter: Pick<XenDomain, 'domid' | 'translated'>,
): boolean {
  return !readonly && (mapperDomid === granter.domid || !granter.translated);
}

/** The `PGT_writable_page` type references a grant mapping holds (step 11). */
export function grantTypeRefs(
  parts: GrantMappingParts,
  mapperDomid: number,
  granter: Pick<XenDomain, 'domid' | 'translated'>,
): number {
  const device = parts.device && !parts.readonly ? 1 : 0;
  const host = parts.host && hostMapTakesType(parts.readonly, mapperDomid, granter) ? 1 : 0;
  return device + host;
}

/** Whether `get_page_type(pg, PGT_writable_page)` would succeed: the count is 0, or the frame is writable. */
export function writableTypeAvailable(state: XenState, mfn: number): boolean {
  const info = pageTypeOf(state, mfn);
  return info.count === 0 || info.type === 'writable';
}

/** One writable type reference for a grant mapping; false: `could_not_pin`. */
export function takeGrantTypeRef(state: XenState, config: XenConfig, mfn: number): boolean {
  return getPageType(state, config, mfn, 'writable') === null;
}

/** `put_page_type` of a grant mapping's writable type reference, unless the design's unmap forgets it. */
export function putGrantTypeRef(
  state: XenState,
  config: XenConfig,
  mfn: number,
  part: { readonly host: boolean; readonly device: boolean },
): void {
  if (pvMemoryRules(config).grantUnmapPutsType(part)) putPageType(state, config, mfn);
}

/** `gnttab_need_iommu_mapping(ld)` for a mapping of `granterDomid`'s frame. */
function needsGrantIommu(state: XenState, mapperDomid: number, granterDomid: number): XenDomain | undefined {
  const mapper = state.domains[mapperDomid];
  return mapperDomid !== granterDomid && pvIommuSync(mapper) ? mapper : undefined;
}

/** Step 12 of `map_grant_ref`: the mfn's count raised, the IOMMU entry made for the first of its kind. */
export function grantIommuMapped(
  state: XenState,
  mapperDomid: number,
  granterDomid: number,
  mfn: number,
  readonly: boolean,
): void {
  const mapper = needsGrantIommu(state, mapperDomid, granterDomid);
  if (mapper === undefined) return;
  const old = mapper.grantIommuCounts?.[mfn] ?? { read: 0, write: 0 };
  const node = readonly ? { read: old.read + 1, write: old.write } : { read: old.read, write: old.write + 1 };
  writableGrantIommuCounts(state, mapperDomid)[mfn] = node;
  if (!readonly && node.write === 1) iommuLegacyMap(state, mapperDomid, mfn, mfn, { read: true, write: true });
  else if (readonly && node.read === 1 && node.write === 0) {
    iommuLegacyMap(state, mapperDomid, mfn, mfn, { read: true, write: false });
  }
}

/**
 * `unmap_common`'s IOMMU step for a PV mapper with IOMMU sync: the count of the mapping's kind
 * dropped (when the design drops it: Xen's once the handle is freed), the dfn unmapped with the
 * last mapping or downgraded to read-only with the last writable one.
 */
export function grantIommuUnmapped(
  state: XenState,
  config: XenConfig,
  unmap: {
    readonly mapperDomid: number;
    readonly granterDomid: number;
    readonly mfn: number;
    readonly readonly: boolean;
    readonly handleFreed: boolean;
  },
): void {
  const mapper = needsGrantIommu(state, unmap.mapperDomid, unmap.granterDomid);
  if (mapper === undefined) return;
  if (!pvMemoryRules(config).grantIommuCountDrop({ handleFreed: unmap.handleFreed })) return;
  const node = mapper.grantIommuCounts?.[unmap.mfn] ?? { read: 0, write: 0 };
  // "Refcount must not underflow": Xen's BUG(), a host crash the model does not run; it stops here.
  if ((unmap.readonly ? node.read : node.write) === 0) return;
  const next = unmap.readonly ? { read: node.read - 1, write: node.write } : { read: node.read, write: node.write - 1 };
  const counts = writableGrantIommuCounts(state, unmap.mapperDomid);
  if (next.read === 0 && next.write === 0) {
    iommuLegacyUnmap(state, unmap.mapperDomid, unmap.mfn);
    delete counts[unmap.mfn];
    forgetEmptyCounts(state, unmap.mapperDomid);
    return;
  }
  if (!unmap.readonly && next.write === 0) {
    iommuLegacyMap(state, unmap.mapperDomid, unmap.mfn, unmap.mfn, { read: true, write: false });
  }
  counts[unmap.mfn] = next;
}

/** `gnttab_release_mappings`: the tree's nodes deleted (`radix_tree_delete`, `radix_tree_destroy`), the IOMMU left alone. */
export function grantIommuReleased(state: XenState, mapperDomid: number): void {
  const mapper = state.domains[mapperDomid];
  if (mapper?.grantIommuCounts === undefined || Object.keys(mapper.grantIommuCounts).length === 0) return;
  const counts = writableGrantIommuCounts(state, mapperDomid);
  for (const key of Object.keys(counts)) delete counts[key];
  forgetEmptyCounts(state, mapperDomid);
}

/** A mapper with no count left reads as one that never had any (the field goes). */
function forgetEmptyCounts(state: XenState, mapperDomid: number): void {
  const domain = writableDomain(state, mapperDomid);
  if (domain?.grantIommuCounts !== undefined && Object.keys(domain.grantIommuCounts).length === 0) {
    delete domain.grantIommuCounts;
  }
}

/**
 * The type references a grant unmap between its phases still holds on `mfn` (`unmap_common` done,
 * the handle freed; `unmap_common_complete` will put them): for a stack that phases unmaps, to pass
 * to `pageTypeCountMatchesReferences` as references in flight.
 */
export function unmapInFlightTypeRefs(
  state: XenState,
  pending: {
    readonly mapperDomid: number;
    readonly granterDomid: number;
    readonly mfn: number;
    readonly readonly: boolean;
    readonly host: boolean;
    readonly device: boolean;
    readonly putFirst?: boolean;
  },
  mfn: number,
): number {
  const granter = state.domains[pending.granterDomid];
  if (pending.mfn !== mfn || pending.putFirst === true || granter === undefined) return 0;
  return grantTypeRefs(pending, pending.mapperDomid, granter);
}
