/**
 * A domain's own IOMMU page table as Xen changes it: `iommu_legacy_map` / `iommu_legacy_unmap`
 * (xen/drivers/passthrough/iommu.c at the pinned commit), used by the p2m sync of a domain that
 * does not share its p2m with the IOMMU, by PV page-type changes (`_get_page_type`,
 * xen/arch/x86/mm.c) and by a PV mapper's grant maps (`gnttab_need_iommu_mapping`).
 *
 * A change leaves the dfn in `flushPending` until the context's IOTLB is flushed: the
 * "legacy" calls flush at once (`iommu_iotlb_flush` inside them), the batched paths defer it.
 */
import { writableIommu } from './copy-on-write.js';
import type { XenState } from './types.js';

export interface IommuPerms {
  readonly read: boolean;
  readonly write: boolean;
}

/** Maps `dfn` → `mfn` in the domain's own IOMMU table; false when it has no table of its own. */
export function iommuMapPage(state: XenState, domid: number, dfn: number, mfn: number, perms: IommuPerms): boolean {
  const domain = state.domains[domid];
  if (domain?.iommu === undefined || domain.iommu.sharePt) return false;
  const iommu = writableIommu(state, domid);
  if (iommu === undefined) return false;
  const old = iommu.table[dfn];
  iommu.table[dfn] = { mfn, read: perms.read, write: perms.write };
  if (old !== undefined && !iommu.flushPending.includes(dfn)) iommu.flushPending.push(dfn);
  return true;
}

/** Removes `dfn` from the domain's own IOMMU table; the dfn waits for a flush. */
export function iommuUnmapPage(state: XenState, domid: number, dfn: number): boolean {
  const domain = state.domains[domid];
  if (domain?.iommu === undefined || domain.iommu.sharePt) return false;
  if (domain.iommu.table[dfn] === undefined) return true;
  const iommu = writableIommu(state, domid);
  if (iommu === undefined) return false;
  delete iommu.table[dfn];
  if (!iommu.flushPending.includes(dfn)) iommu.flushPending.push(dfn);
  return true;
}
