/**
 * How PV memory (the Xen model's page types, PV MMU and per-mfn grant IOMMU counts:
 * models/xen/page-type.ts, pv-mmu.ts, grant-iommu.ts, page-cleanup.ts) joins the Xen passthrough
 * stack (docs/reference/xen-passthrough.md §"PV memory in the stack"):
 *
 * - The PV MMU commands run on the stack's Xen state as any other Xen operation (`xenOp`): the
 *   Xen model changes the PV domains' own IOMMU tables itself, as Xen does inside the hypercall
 *   (`_get_page_type`'s `iommu_legacy_map` / `_unmap`, `cleanup_page_mappings` when `put_page`
 *   frees a frame, a PV mapper's grant counts in `map_grant_ref` / `unmap_common`), each of which
 *   flushes the dfn at once (`iommu_iotlb_flush` inside the legacy calls). The stack's part is the
 *   hardware IOTLB it keeps beside the Xen state: `pvIommuChangedDfns` names the dfns of a PV
 *   domain's table an operation changed, which the stack's `syncIommu` flushes (or leaves pending
 *   under `iommu_dont_flush_iotlb`). One place changes PV tables (the Xen model), one flushes them.
 * - A PV domain's context as it is built: `pvIommuSetup` (every frame it owns writable, count 0,
 *   mapped at dfn = mfn: `dom0_construct_pv` / `arch_iommu_hwdom_init` in strict mode for the
 *   hardware domain, `guest_physmap_add_page` for a domU).
 * - Grant maps with a device part (`GNTMAP_device_map`) and partial unmaps (`host_addr` or
 *   `dev_bus_addr` 0), for a PV mapper with an IOMMU context (dom0's netback / blkback).
 */
import type { MapGrantArgs, UnmapGrantArgs } from '../xen/grant-table.js';
import type { IommuPte, XenState } from '../xen/types.js';
import type { XenPtCommand } from './commands.js';

type MapCommand = Extract<XenPtCommand, { kind: 'mapGrantRef' }>;
type UnmapCommand = Extract<XenPtCommand, { kind: 'unmapGrantRef' }>;

/** GNTTABOP_map_grant_ref's arguments: a host mapping unless `host: false`, a device one with `device: true`. */
export function mapGrantArgs(command: MapCommand): MapGrantArgs {
  const host = command.host ?? true;
  return {
    mapperDomid: command.mapperDomid,
    granterDomid: command.granterDomid,
    ref: command.ref,
    host,
    device: command.device ?? false,
    readonly: command.readonly,
    hostAddr: host ? command.gfn : null,
  };
}

/**
 * GNTTABOP_unmap_grant_ref's arguments: the handle's host address (none when `host: false`; 0
 * for a handle that has none, as before device mappings joined) and its `dev_bus_addr` (the mfn
 * `map_grant_ref` returned; none when `device: false` or the handle has no device mapping).
 */
export function unmapGrantArgs(xen: XenState, command: UnmapCommand): UnmapGrantArgs {
  const mapping = xen.domains[command.mapperDomid]?.maptrack[command.handle];
  const host = command.host ?? true;
  const device = command.device ?? true;
  return {
    mapperDomid: command.mapperDomid,
    handle: command.handle,
    hostAddr: host ? (mapping?.hostAddr ?? 0) : null,
    devBusAddr: device && mapping?.device === true ? mapping.mfn : null,
  };
}

function samePte(left: IommuPte | undefined, right: IommuPte | undefined): boolean {
  if (left === undefined || right === undefined) return left === right;
  return left.mfn === right.mfn && left.read === right.read && left.write === right.write;
}

/** The dfns of PV domain `domid`'s own IOMMU table that differ between `before` and `after`, in order. */
export function pvIommuChangedDfns(before: XenState, after: XenState, domid: number): number[] {
  const was = before.domains[domid]?.iommu?.table ?? {};
  const now = after.domains[domid]?.iommu?.table ?? {};
  if (was === now) return [];
  const dfns = new Set([...Object.keys(was), ...Object.keys(now)].map(Number));
  return [...dfns].filter((dfn) => !samePte(was[dfn], now[dfn])).sort((left, right) => left - right);
}
