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
import type { IommuPte, P2mEntry, XenDomain, XenState } from './types.js';

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

/**
 * `p2m_get_iommu_flags` (xen/arch/x86/include/asm/p2m.h): what a p2m entry gives the IOMMU — RAM,
 * writable grant maps and foreign maps read/write, read-only grant maps read; null: nothing.
 */
export function p2mIommuFlags(entry: P2mEntry | undefined): IommuPte | null {
  if (entry === undefined) return null;
  if (entry.type === 'grant_map_ro') return { mfn: entry.mfn, read: true, write: false };
  return { mfn: entry.mfn, read: true, write: true };
}

/**
 * What the IOMMU finds walking domain `domain`'s context at `dfn`: the p2m itself when the tables
 * are shared (`iommu_use_hap_pt`), else its own table; null: not present (a DMA faults).
 */
export function iommuTranslate(domain: XenDomain, dfn: number): IommuPte | null {
  const iommu = domain.iommu;
  if (iommu === undefined) return null;
  if (iommu.sharePt) return p2mIommuFlags(domain.p2m[dfn]);
  return iommu.table[dfn] ?? null;
}

/** `iommu_iotlb_flush` of one dfn, as the context sees it: no longer pending. */
export function iommuFlushPendingDfn(state: XenState, domid: number, dfn: number): void {
  const domain = state.domains[domid];
  if (domain?.iommu === undefined || !domain.iommu.flushPending.includes(dfn)) return;
  const iommu = writableIommu(state, domid);
  if (iommu !== undefined) iommu.flushPending = iommu.flushPending.filter((pending) => pending !== dfn);
}

/** Marks `dfn` as changed and not yet flushed (a shared table's p2m change under a deferred flush). */
export function iommuMarkPending(state: XenState, domid: number, dfn: number): void {
  const domain = state.domains[domid];
  if (domain?.iommu === undefined || domain.iommu.flushPending.includes(dfn)) return;
  const iommu = writableIommu(state, domid);
  if (iommu !== undefined) iommu.flushPending = [...iommu.flushPending, dfn];
}
