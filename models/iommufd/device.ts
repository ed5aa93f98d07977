/**
 * Devices: a VFIO cdev bound to the context (VFIO_DEVICE_BIND_IOMMUFD → iommufd_device_bind),
 * attached to an IOAS (auto domain) or a hwpt (VFIO_DEVICE_ATTACH_IOMMUFD_PT, a replace when
 * already attached), detached (VFIO_DEVICE_DETACH_IOMMUFD_PT), and unbound (closing the cdev).
 * Reference: docs/reference/iommufd.md §4.4–4.6.
 *
 * Sources (v6.12): drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd (flags, or a second
 * bind → -EINVAL), vfio_df_ioctl_attach_pt / detach_pt (flags → -EINVAL; before bind → -EINVAL);
 * drivers/vfio/iommufd.c vfio_iommufd_physical_attach_ioas (replace when attached);
 * drivers/iommu/iommufd/device.c iommufd_device_bind (no IOMMU_CAP_CACHE_COHERENCY → -EINVAL;
 * MSIs not isolated and allow_unsafe_interrupts off → -EPERM; the selftest mock skips that),
 * iommufd_device_change_pt (pt_id absent → -ENOENT, not an IOAS or hwpt → -EINVAL),
 * iommufd_device_auto_get_domain (an existing auto domain of the IOAS, -EINVAL means try the
 * next, else a new auto domain attached immediately), iommufd_device_do_replace (not attached →
 * -EINVAL; reserved regions moved when the IOAS changes; the users references move to the new
 * hwpt), iommufd_device_detach.
 *
 * Left out: iommu_device_claim_dma_owner's -EBUSY (one context owns every modelled group), PASID.
 */
import type { IommufdConfig } from './config.js';
import {
  checkDomainCompatible,
  deviceSpec,
  findHwptPaging,
  groupOf,
  hwptAttach,
  hwptDetach,
  hwptPagingAlloc,
  hwptPut,
  ioasOf,
  reserveDeviceRegions,
} from './hwpt.js';
import { recordEffect } from './effects.js';
import { removeReserved } from './iova.js';
import { findObject, getAnyObject, insertObject } from './objects.js';
import { Refusal, refuse } from './refusal.js';
import type { DeviceObject, HwptObject, IoasObject, IommufdState } from './types.js';

/** The bound device object of a device index, or -EINVAL (the cdev is not bound). */
export function boundDevice(state: IommufdState, deviceIndex: unknown): DeviceObject {
  const id = typeof deviceIndex === 'number' ? state.boundDevices[deviceIndex] : undefined;
  const device = id === undefined ? undefined : findObject(state, id, 'device');
  if (device === undefined) refuse('EINVAL');
  return device;
}

export function isAttached(state: IommufdState, config: IommufdConfig, device: DeviceObject): boolean {
  return groupOf(state, deviceSpec(config, device)).deviceIds.includes(device.id);
}

/** VFIO_DEVICE_BIND_IOMMUFD: the device object id (`out_devid`). */
export function deviceBind(state: IommufdState, config: IommufdConfig, deviceIndex: unknown, flags: unknown): number {
  const spec = typeof deviceIndex === 'number' ? config.devices[deviceIndex] : undefined;
  if (spec === undefined || typeof deviceIndex !== 'number') return refuse('EINVAL');
  if (flags !== 0) refuse('EINVAL');
  if (state.boundDevices[deviceIndex] !== undefined) refuse('EINVAL');
  if (!spec.cacheCoherent) refuse('EINVAL');
  if (!spec.mock && !spec.msiIsolated && !config.allowUnsafeInterrupts) refuse('EPERM');
  groupOf(state, spec);
  // users: the xarray's reference and the VFIO driver's until unbind.
  const device = insertObject(state, (id): DeviceObject => ({ type: 'device', id, users: 2, deviceIndex }));
  state.boundDevices[deviceIndex] = device.id;
  return device.id;
}

type Mode = 'attach' | 'replace';

/** iommufd_device_do_replace: the hwpt the group left (the caller puts it), or null when unchanged. */
function doReplace(
  state: IommufdState,
  config: IommufdConfig,
  device: DeviceObject,
  hwpt: HwptObject,
): HwptObject | null {
  const spec = deviceSpec(config, device);
  const group = groupOf(state, spec);
  if (group.hwptId === null || !group.deviceIds.includes(device.id)) refuse('EINVAL');
  if (group.hwptId === hwpt.id) return null;
  const old = state.objects[group.hwptId];
  if (old === undefined || (old.type !== 'hwpt_paging' && old.type !== 'hwpt_nested')) refuse('EINVAL');
  const newIoas = ioasOf(state, findHwptPaging(state, hwpt));
  const oldIoas = ioasOf(state, findHwptPaging(state, old));
  const members = group.deviceIds
    .map((id) => findObject(state, id, 'device'))
    .filter((d): d is DeviceObject => d !== undefined);
  const removeNew = (): void => members.forEach((member) => removeReserved(newIoas, `device:${member.id}`));
  try {
    if (newIoas !== oldIoas)
      members.forEach((member) => reserveDeviceRegions(newIoas, deviceSpec(config, member), member));
    checkDomainCompatible(state, hwpt, spec);
  } catch (refusal) {
    // err_unresv: iommufd_group_remove_reserved_iova on the new hwpt's IOAS — also when it is the
    // old one, whose reservations the still-attached devices keep relying on. That removal is the
    // source's own state change on an error path: the refusal keeps it.
    removeNew();
    if (newIoas === oldIoas && refusal instanceof Refusal) throw new Refusal(refusal.errno, true);
    throw refusal;
  }
  if (newIoas !== oldIoas) members.forEach((member) => removeReserved(oldIoas, `device:${member.id}`));
  group.hwptId = hwpt.id;
  recordEffect({ kind: 'attach', domainId: findHwptPaging(state, hwpt).id, groupId: spec.groupId });
  hwpt.users += members.length;
  old.users -= members.length - 1;
  return old;
}

function doAttachOrReplace(
  state: IommufdState,
  config: IommufdConfig,
  device: DeviceObject,
  hwpt: HwptObject,
  mode: Mode,
): HwptObject | null {
  if (mode === 'replace') return doReplace(state, config, device, hwpt);
  hwptAttach(state, config, hwpt, device);
  return null;
}

/** iommufd_device_auto_get_domain: the hwpt id the device ended up on, and what to put. */
function autoGetDomain(
  state: IommufdState,
  config: IommufdConfig,
  device: DeviceObject,
  ioas: IoasObject,
  mode: Mode,
): { readonly ptId: number; readonly destroy: HwptObject | null } {
  for (const hwptId of [...ioas.hwptIds]) {
    const hwpt = findObject(state, hwptId, 'hwpt_paging');
    if (hwpt === undefined || !hwpt.autoDomain) continue;
    try {
      return { ptId: hwpt.id, destroy: doAttachOrReplace(state, config, device, hwpt, mode) };
    } catch (refusal) {
      if (refusal instanceof Refusal && refusal.errno === 'EINVAL') continue;
      throw refusal;
    }
  }
  const hwpt = hwptPagingAlloc(state, config, ioas, device, 0, false, mode === 'attach', true);
  const destroy = mode === 'attach' ? null : doReplace(state, config, device, hwpt);
  return { ptId: hwpt.id, destroy };
}

/** iommufd_device_change_pt: the pt id written back (a hwpt id for an IOAS). */
function changePt(state: IommufdState, config: IommufdConfig, device: DeviceObject, ptId: unknown, mode: Mode): number {
  const pt = getAnyObject(state, ptId);
  let result: { readonly ptId: number; readonly destroy: HwptObject | null };
  if (pt.type === 'hwpt_paging' || pt.type === 'hwpt_nested') {
    result = { ptId: pt.id, destroy: doAttachOrReplace(state, config, device, pt, mode) };
  } else if (pt.type === 'ioas') result = autoGetDomain(state, config, device, pt, mode);
  else return refuse('EINVAL');
  if (result.destroy !== null) hwptPut(state, config, result.destroy);
  return result.ptId;
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach, or replace when already attached; the pt id out. */
export function deviceAttach(
  state: IommufdState,
  config: IommufdConfig,
  deviceIndex: unknown,
  ptId: unknown,
  flags: unknown,
): number {
  if (flags !== 0) refuse('EINVAL');
  const device = boundDevice(state, deviceIndex);
  if (isAttached(state, config, device)) return changePt(state, config, device, ptId, 'replace');
  const out = changePt(state, config, device, ptId, 'attach');
  device.users += 1;
  return out;
}

/** VFIO_DEVICE_DETACH_IOMMUFD_PT (and the detach of unbind): nothing when not attached. */
export function deviceDetach(state: IommufdState, config: IommufdConfig, deviceIndex: unknown, flags: unknown): void {
  if (flags !== 0) refuse('EINVAL');
  const device = boundDevice(state, deviceIndex);
  if (!isAttached(state, config, device)) return;
  hwptPut(state, config, hwptDetach(state, config, device));
  device.users -= 1;
}

/** Closing the cdev: detach, then iommufd_device_unbind (the driver's reference, then the object). */
export function deviceUnbind(state: IommufdState, config: IommufdConfig, deviceIndex: unknown): void {
  const device = boundDevice(state, deviceIndex);
  deviceDetach(state, config, deviceIndex, 0);
  device.users -= 1;
  if (device.users !== 1) throw new Error(`iommufd model: device ${device.id} unbound with ${device.users} users`);
  device.users = 0;
  delete state.objects[device.id];
  delete state.boundDevices[device.deviceIndex];
}

/** The compat path's attach of a device opened through its group (vfio_iommufd_compat_attach_ioas). */
export function deviceAttachIoas(
  state: IommufdState,
  config: IommufdConfig,
  deviceIndex: number,
  ioasId: number,
): number {
  return deviceAttach(state, config, deviceIndex, ioasId, 0);
}
