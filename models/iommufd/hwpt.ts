/**
 * HW pagetables: IOMMU_HWPT_ALLOC (paging over an IOAS, NEST_PARENT; nested over a NEST_PARENT
 * paging hwpt with the selftest mock's data), the group attach / detach of a hwpt, and its
 * destruction.
 * Reference: docs/reference/iommufd.md §4.1–4.3.
 *
 * Sources (v6.12): hw_pagetable.c iommufd_hwpt_alloc (data_type NONE with a length, or a type
 * without one → -EINVAL; the device → -ENOENT; pt_id not an object → -EINVAL; an IOAS → paging;
 * a paging hwpt → nested; anything else → -EINVAL; FAULT_ID_VALID → the fault object, none
 * modelled → -ENOENT), iommufd_hwpt_paging_alloc (flags or data without domain_alloc_user, or
 * unknown flags, or DIRTY_TRACKING without the capability → -EOPNOTSUPP; then
 * iopt_table_add_domain), iommufd_hwpt_nested_alloc (flags other than FAULT_ID_VALID, no data or
 * no domain_alloc_nested → -EOPNOTSUPP; an auto-domain parent, a parent without NEST_PARENT or of
 * another driver → -EINVAL), iommufd_hwpt_paging_destroy, iommufd_hwpt_nested_destroy;
 * device.c iommufd_hw_pagetable_attach / _detach, iommufd_hw_pagetable_put (an auto domain is
 * destroyed with its last device); selftest.c mock_domain_alloc_user / mock_domain_alloc_nested
 * (driver data on a paging domain, or nested data of another type → -EOPNOTSUPP).
 */
import type { IommufdConfig, IommufdDeviceSpec } from './config.js';
import { recordEffect } from './effects.js';
import { addDomain, removeDomain } from './io-pagetable.js';
import { removeReserved, reserveIova } from './iova.js';
import { getAnyObject, getObject, insertObject } from './objects.js';
import { refuse } from './refusal.js';
import type { DeviceObject, HwptObject, HwptPagingObject, IoasObject, IommufdGroup, IommufdState } from './types.js';

export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;

/** The nested data type each modelled driver takes. */
function nestedDataType(spec: IommufdDeviceSpec): number {
  return spec.iommu === 'mock' ? IOMMU_HWPT_DATA_SELFTEST : IOMMU_HWPT_DATA_VTD_S1;
}

export function deviceSpec(config: IommufdConfig, device: DeviceObject): IommufdDeviceSpec {
  const spec = config.devices[device.deviceIndex];
  if (spec === undefined) throw new Error(`iommufd model: no device ${device.deviceIndex}`);
  return spec;
}

export function groupOf(state: IommufdState, spec: IommufdDeviceSpec): IommufdGroup {
  let group = state.groups[spec.groupId];
  if (group === undefined) {
    group = { hwptId: null, deviceIds: [] };
    state.groups[spec.groupId] = group;
  }
  return group;
}

/** find_hwpt_paging: the paging hwpt itself, or a nested hwpt's parent. */
export function findHwptPaging(state: IommufdState, hwpt: HwptObject): HwptPagingObject {
  if (hwpt.type === 'hwpt_paging') return hwpt;
  const parent = state.objects[hwpt.parentId];
  if (parent?.type !== 'hwpt_paging') throw new Error(`iommufd model: nested hwpt ${hwpt.id} without parent`);
  return parent;
}

export function ioasOf(state: IommufdState, hwpt: HwptPagingObject): IoasObject {
  const ioas = state.objects[hwpt.ioasId];
  if (ioas?.type !== 'ioas') throw new Error(`iommufd model: hwpt ${hwpt.id} without IOAS`);
  return ioas;
}

/** iopt_table_enforce_dev_resv_regions: the device's reserved regions in the IOAS (-EADDRINUSE). */
export function reserveDeviceRegions(ioas: IoasObject, spec: IommufdDeviceSpec, device: DeviceObject): void {
  for (const region of spec.reservedRegions) reserveIova(ioas, region, `device:${device.id}`);
}

/** iommu_attach_group / iommu_replace_group: a domain of another driver, or one enforcing coherency the device cannot, → -EINVAL. */
export function checkDomainCompatible(state: IommufdState, hwpt: HwptObject, spec: IommufdDeviceSpec): void {
  if (hwpt.iommu !== spec.iommu) refuse('EINVAL');
  if (findHwptPaging(state, hwpt).enforceCacheCoherency && !spec.enforceCacheCoherency) refuse('EINVAL');
}

/** iommufd_hw_pagetable_attach. */
export function hwptAttach(state: IommufdState, config: IommufdConfig, hwpt: HwptObject, device: DeviceObject): void {
  const spec = deviceSpec(config, device);
  const group = groupOf(state, spec);
  if (group.hwptId !== null && group.hwptId !== hwpt.id) refuse('EINVAL');
  const ioas = ioasOf(state, findHwptPaging(state, hwpt));
  reserveDeviceRegions(ioas, spec, device);
  if (group.deviceIds.length === 0) {
    try {
      checkDomainCompatible(state, hwpt, spec);
    } catch (refusal) {
      removeReserved(ioas, `device:${device.id}`);
      throw refusal;
    }
    group.hwptId = hwpt.id;
    recordEffect({ kind: 'attach', domainId: findHwptPaging(state, hwpt).id, groupId: spec.groupId });
  }
  hwpt.users += 1;
  group.deviceIds.push(device.id);
}

/** iommufd_hw_pagetable_detach: the hwpt the device left (the caller puts it). */
export function hwptDetach(state: IommufdState, config: IommufdConfig, device: DeviceObject): HwptObject {
  const group = groupOf(state, deviceSpec(config, device));
  const hwpt = group.hwptId === null ? undefined : state.objects[group.hwptId];
  if (hwpt === undefined || (hwpt.type !== 'hwpt_paging' && hwpt.type !== 'hwpt_nested')) {
    throw new Error(`iommufd model: device ${device.id} detached without a hwpt`);
  }
  group.deviceIds = group.deviceIds.filter((id) => id !== device.id);
  if (group.deviceIds.length === 0) {
    group.hwptId = null;
    recordEffect({
      kind: 'detach',
      domainId: findHwptPaging(state, hwpt).id,
      groupId: deviceSpec(config, device).groupId,
    });
  }
  removeReserved(ioasOf(state, findHwptPaging(state, hwpt)), `device:${device.id}`);
  return hwpt;
}

/** Destroys a hwpt that left the object table (its `destroy` op). */
export function destroyHwpt(state: IommufdState, config: IommufdConfig, hwpt: HwptObject): void {
  if (hwpt.type === 'hwpt_nested') {
    const parent = state.objects[hwpt.parentId];
    if (parent !== undefined) parent.users -= 1;
    return;
  }
  const ioas = ioasOf(state, hwpt);
  ioas.hwptIds = ioas.hwptIds.filter((id) => id !== hwpt.id);
  removeDomain(state, config, ioas, hwpt);
  recordEffect({ kind: 'domain-free', domainId: hwpt.id });
  ioas.users -= 1;
}

/** iommufd_hw_pagetable_put: an auto domain goes with its last user, any other hwpt loses a reference. */
export function hwptPut(state: IommufdState, config: IommufdConfig, hwpt: HwptObject): void {
  hwpt.users -= 1;
  if (hwpt.type === 'hwpt_paging' && hwpt.autoDomain && hwpt.users === 1) {
    hwpt.users = 0;
    delete state.objects[hwpt.id];
    destroyHwpt(state, config, hwpt);
  }
}

/**
 * iommufd_hwpt_paging_alloc: a paging domain for `device` over `ioas`, attached first when
 * `immediateAttach` (the auto-domain path), then added to the IOAS (aperture reserved, filled).
 */
export function hwptPagingAlloc(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  device: DeviceObject,
  flags: number,
  hasUserData: boolean,
  immediateAttach: boolean,
  autoDomain: boolean,
): HwptPagingObject {
  const spec = deviceSpec(config, device);
  const validFlags = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID;
  if ((flags !== 0 || hasUserData) && !spec.domainAllocUser) refuse('EOPNOTSUPP');
  if ((flags & ~validFlags) !== 0) refuse('EOPNOTSUPP');
  if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0 && !spec.dirtyTracking) refuse('EOPNOTSUPP');
  // The driver's domain_alloc_user: no modelled driver takes data for a paging domain.
  if (hasUserData) refuse('EOPNOTSUPP');
  const hwpt = insertObject(state, (id): HwptPagingObject => ({
    type: 'hwpt_paging',
    id,
    users: 1,
    ioasId: ioas.id,
    iommu: spec.iommu,
    autoDomain,
    nestParent: (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0,
    enforceCacheCoherency: spec.enforceCacheCoherency,
    pgsizeBitmap: spec.pgsizeBitmap,
    aperture: spec.aperture,
    translations: {},
  }));
  ioas.users += 1;
  if (immediateAttach) hwptAttach(state, config, hwpt, device);
  addDomain(state, config, ioas, hwpt);
  ioas.hwptIds.push(hwpt.id);
  return hwpt;
}

export interface HwptAllocArgs {
  readonly devId: number;
  readonly ptId: number;
  readonly flags: number;
  /** `data_type`: IOMMU_HWPT_DATA_NONE, _VTD_S1 or _SELFTEST. */
  readonly dataType: number;
  /** `data_len` in bytes. */
  readonly dataLen: number;
  /** The selftest data's `iotlb` value. */
  readonly iotlb?: number;
}

/** IOMMU_HWPT_ALLOC: the new hwpt's id. */
export function hwptAlloc(state: IommufdState, config: IommufdConfig, args: HwptAllocArgs): number {
  if (
    (args.dataType === IOMMU_HWPT_DATA_NONE && args.dataLen !== 0) ||
    (args.dataType !== IOMMU_HWPT_DATA_NONE && args.dataLen === 0)
  ) {
    refuse('EINVAL');
  }
  const device = getObject(state, args.devId, 'device');
  let pt;
  try {
    pt = getAnyObject(state, args.ptId);
  } catch {
    return refuse('EINVAL');
  }
  let hwpt: HwptObject;
  if (pt.type === 'ioas') {
    hwpt = hwptPagingAlloc(state, config, pt, device, args.flags, args.dataLen > 0, false, false);
  } else if (pt.type === 'hwpt_paging') {
    const spec = deviceSpec(config, device);
    if ((args.flags & ~IOMMU_HWPT_FAULT_ID_VALID) !== 0 || args.dataLen === 0 || !spec.nesting) refuse('EOPNOTSUPP');
    if (pt.autoDomain || !pt.nestParent || pt.iommu !== spec.iommu) refuse('EINVAL');
    if (args.dataType !== nestedDataType(spec)) refuse('EOPNOTSUPP');
    const parent = pt;
    hwpt = insertObject(state, (id) => ({
      type: 'hwpt_nested' as const,
      id,
      users: 1,
      parentId: parent.id,
      iommu: spec.iommu,
      iotlb: args.iotlb ?? 0,
    }));
    parent.users += 1;
  } else return refuse('EINVAL');
  if ((args.flags & IOMMU_HWPT_FAULT_ID_VALID) !== 0) refuse('ENOENT');
  return hwpt.id;
}
