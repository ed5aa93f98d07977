/**
 * The container and group lifecycle: VFIO_SET_IOMMU, VFIO_GROUP_SET_CONTAINER /
 * UNSET_CONTAINER, opening and closing device fds, and the type1 backend's attach_group,
 * detach_group and release. Reference: docs/reference/vfio-type1.md §1.2, §1.9, §1.10, §1.8 (reaccounting).
 *
 * Two IOMMU drivers are registered: type1 (CHECK_EXTENSION says yes to types 1, 3, 6 and to the
 * VFIO_UNMAP_ALL extension 9, whose open then fails EINVAL) and vfio-noiommu (type 8, only for
 * containers of VFIO_NO_IOMMU groups; noiommu containers may use nothing else). A SET_IOMMU
 * argument no allowed driver supports ends with ENODEV. Attaching a group to an open backend
 * follows §1.9: vaddr invalid → EBUSY, already attached → EINVAL, emulated → recorded; an IOMMU
 * group: existing mappings outside the aperture (only checked once `iova_list` exists) or in a
 * reserved region → EINVAL, no interrupt remapping → EPERM, then it joins the domain of its class
 * or gets a new domain into which every mapping is replayed (pinning them if this is the first
 * domain, which is where RLIMIT_MEMLOCK or a munmapped vaddr can make the attach fail).
 *
 * Left out: more than one container, iommufd, the CAP_SYS_RAWIO check of noiommu (the process has
 * it), nesting enablement failures, the group viability check, several fds per device (a second
 * open of an open device is refused EBUSY), GET_INFO / CHECK_EXTENSION queries, and ioctls the
 * backend does not know (ENOTTY) — commands are typed, so no unknown ioctl can be issued.
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { hasDmaUnmapOp } from './external-pin.js';
import { closeDeviceDriver } from './mdev.js';
import { domainMapPage, lockAcct, pinAndMapDma, removeDma, unmapUnpinDma } from './pin.js';
import { attemptAlloc, deviceAt, domainOfGroup, err, groupAt, ok, runOp } from './state.js';
import type { OpContext } from './state.js';
import type { Type1Backend, VfioDomain, VfioGroup, VfioResult, VfioState } from './types.js';

export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_NOIOMMU_IOMMU = 8;
/** Extension number type1 answers CHECK_EXTENSION for, but cannot be opened as a backend. */
export const VFIO_UNMAP_ALL = 9;

export interface SetIommuArgs {
  readonly type: number;
}

export interface GroupArgs {
  readonly groupId: number;
}

export interface DeviceArgs {
  readonly deviceId: number;
}

// ---------------------------------------------------------------------------------------------
// Backend side: attach_group, detach_group, release

/** `vfio_iommu_type1_attach_group`: null on success, else the errno (partial work is rolled back by the runner). */
export function attachGroup(state: VfioState, ctx: OpContext, backend: Type1Backend, group: VfioGroup): string | null {
  if (backend.vaddrInvalidCount > 0) return 'EBUSY';
  if (backend.emulatedGroupIds.includes(group.id) || domainOfGroup(backend, group.id) !== undefined) return 'EINVAL';
  const spec = group.spec;
  if (spec.kind === 'emulated') {
    if (!attemptAlloc(state, ctx)) return 'ENOMEM';
    backend.emulatedGroupIds.push(group.id);
    return null;
  }
  if (spec.kind !== 'iommu') return 'EINVAL';
  // The group record, then the domain.
  if (!attemptAlloc(state, ctx) || !attemptAlloc(state, ctx)) return 'ENOMEM';
  if (!backend.iovaListEmpty && backend.dmas.some((dma) => dma.iovaPage + dma.npages > spec.apertureEndPage)) {
    return 'EINVAL';
  }
  const inReserved = backend.dmas.some((dma) =>
    spec.reservedRanges.some((range) => dma.iovaPage < range.endPage && range.startPage < dma.iovaPage + dma.npages),
  );
  if (inReserved) return 'EINVAL';
  if (!spec.msiIsolated && !state.params.allowUnsafeInterrupts) return 'EPERM';
  backend.iovaListEmpty = false;
  const compatible = backend.domains.find((domain) => domain.id === spec.domainClass);
  if (compatible !== undefined) {
    compatible.groupIds.push(group.id);
    ctx.effects.push({ kind: 'attach', domainId: compatible.id, groupId: group.id });
    return null;
  }
  const domain: VfioDomain = { id: spec.domainClass, groupIds: [group.id], translations: {} };
  ctx.effects.push({ kind: 'attach', domainId: domain.id, groupId: group.id });
  const error = replay(state, ctx, backend, domain);
  if (error !== null) return error;
  backend.domains.push(domain);
  return null;
}

/** `vfio_iommu_replay`: every mapping into the new domain; pinned now if there was no domain yet. */
function replay(state: VfioState, ctx: OpContext, backend: Type1Backend, domain: VfioDomain): string | null {
  const first = backend.domains[0];
  if (first !== undefined) {
    for (const dma of backend.dmas) {
      for (let i = 0; i < dma.npages; i++) {
        const translation = first.translations[dma.iovaPage + i];
        if (translation === undefined) continue;
        const error = domainMapPage(state, ctx, domain, dma.iovaPage + i, translation.mfn, dma);
        if (error !== null) return error;
      }
    }
    return null;
  }
  backend.domains = [domain];
  for (const dma of backend.dmas) {
    const error = pinAndMapDma(state, ctx, backend, dma, []);
    if (error !== null) return error;
  }
  backend.domains = [];
  return null;
}

/** `vfio_iommu_unmap_unpin_all`. */
function removeAllDmas(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  for (const dma of [...backend.dmas]) removeDma(state, config, ctx, backend, dma);
}

/** `vfio_iommu_unmap_unpin_reaccount`: the last domain goes, emulated groups stay. */
function unmapUnpinReaccount(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  for (const dma of backend.dmas) {
    const unlocked = unmapUnpinDma(state, config, ctx, backend, dma, false);
    const locked = Object.keys(dma.externalPins).length;
    lockAcct(state, dma, locked - unlocked);
  }
}

function freeDomain(ctx: OpContext, backend: Type1Backend, domain: VfioDomain): void {
  backend.domains = backend.domains.filter((other) => other !== domain);
  ctx.effects.push({ kind: 'domain-free', domainId: domain.id });
}

/** `vfio_iommu_type1_detach_group`. */
export function detachGroup(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  group: VfioGroup,
): void {
  if (backend.emulatedGroupIds.includes(group.id)) {
    backend.emulatedGroupIds = backend.emulatedGroupIds.filter((id) => id !== group.id);
    if (backend.emulatedGroupIds.length === 0 && backend.domains.length === 0) {
      removeAllDmas(state, config, ctx, backend);
    }
    return;
  }
  const domain = domainOfGroup(backend, group.id);
  if (domain === undefined) return;
  domain.groupIds = domain.groupIds.filter((id) => id !== group.id);
  ctx.effects.push({ kind: 'detach', domainId: domain.id, groupId: group.id });
  if (domain.groupIds.length > 0) return;
  if (backend.domains.length === 1) {
    if (backend.emulatedGroupIds.length === 0) removeAllDmas(state, config, ctx, backend);
    else unmapUnpinReaccount(state, config, ctx, backend);
  }
  freeDomain(ctx, backend, domain);
}

/** `vfio_iommu_type1_release`: emulated groups forgotten, every mapping removed, domains freed. */
export function releaseBackend(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  backend.emulatedGroupIds = [];
  removeAllDmas(state, config, ctx, backend);
  for (const domain of [...backend.domains]) {
    for (const groupId of domain.groupIds) ctx.effects.push({ kind: 'detach', domainId: domain.id, groupId });
    freeDomain(ctx, backend, domain);
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

/** VFIO_SET_IOMMU. */
export function setIommu(state: VfioState, _config: VfioConfig, args: SetIommuArgs): VfioResult {
  return runOp(state, (ctx) => {
    const container = state.container;
    if (container.groupIds.length === 0 || container.backend !== null) return err('EINVAL');
    if (container.noiommu) {
      if (args.type !== VFIO_NOIOMMU_IOMMU) return err('ENODEV');
      container.backend = { kind: 'noiommu' };
      return ok({ type: args.type });
    }
    const supported = [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_NESTING_IOMMU, VFIO_UNMAP_ALL];
    if (!supported.includes(args.type)) return err('ENODEV');
    if (args.type === VFIO_UNMAP_ALL) return err('EINVAL');
    if (!attemptAlloc(state, ctx)) return err('ENOMEM');
    const backend: Type1Backend = {
      kind: 'type1',
      v2: args.type !== VFIO_TYPE1_IOMMU,
      nesting: args.type === VFIO_TYPE1_NESTING_IOMMU,
      domains: [],
      emulatedGroupIds: [],
      deviceIds: [],
      dmas: [],
      dmaAvail: state.params.dmaEntryLimit,
      dmaEntryLimit: state.params.dmaEntryLimit,
      vaddrInvalidCount: 0,
      iovaListEmpty: true,
    };
    // container->group_list has the newest group first.
    for (const groupId of [...container.groupIds].reverse()) {
      const group = state.groups[groupId];
      if (group === undefined) continue;
      const error = attachGroup(state, ctx, backend, group);
      if (error !== null) return err(error);
    }
    container.backend = backend;
    return ok({ type: args.type, v2: backend.v2 });
  });
}

/** VFIO_GROUP_SET_CONTAINER. */
export function groupSetContainer(state: VfioState, _config: VfioConfig, args: GroupArgs): VfioResult {
  return runOp(state, (ctx) => {
    const group = groupAt(state, args.groupId);
    if (group === undefined) return err('EBADF');
    if (group.inContainer) return err('EINVAL');
    const container = state.container;
    const noiommu = group.spec.kind === 'noiommu';
    if (container.groupIds.length > 0 && container.noiommu !== noiommu) return err('EPERM');
    const backend = container.backend;
    if (backend !== null && backend.kind === 'type1') {
      const error = attachGroup(state, ctx, backend, group);
      if (error !== null) return err(error);
    }
    group.inContainer = true;
    container.groupIds.push(group.id);
    container.noiommu = noiommu;
    return ok({ groupId: group.id });
  });
}

/** VFIO_GROUP_UNSET_CONTAINER: the last group out releases the backend. */
export function groupUnsetContainer(state: VfioState, config: VfioConfig, args: GroupArgs): VfioResult {
  return runOp(state, (ctx) => {
    const group = groupAt(state, args.groupId);
    if (group === undefined) return err('EBADF');
    if (!group.inContainer) return err('EINVAL');
    if (state.devices.some((device) => device.groupId === group.id && device.open)) return err('EBUSY');
    const container = state.container;
    const backend = container.backend;
    if (backend !== null && backend.kind === 'type1') detachGroup(state, config, ctx, backend, group);
    group.inContainer = false;
    container.groupIds = container.groupIds.filter((id) => id !== group.id);
    if (container.groupIds.length === 0 && backend !== null) {
      if (backend.kind === 'type1') releaseBackend(state, config, ctx, backend);
      container.backend = null;
    }
    return ok({ groupId: group.id, released: container.backend === null });
  });
}

/** VFIO_GROUP_GET_DEVICE_FD: needs the group in a container with a backend. */
export function openDevice(state: VfioState, _config: VfioConfig, args: DeviceArgs): VfioResult {
  return runOp(state, () => {
    const device = deviceAt(state, args.deviceId);
    if (device === undefined) return err('EBADF');
    const group = state.groups[device.groupId];
    const backend = state.container.backend;
    if (group === undefined || !group.inContainer || backend === null) return err('EINVAL');
    if (device.open) return err('EBUSY');
    device.open = true;
    if (backend.kind === 'type1' && hasDmaUnmapOp(device)) backend.deviceIds.push(device.id);
    return ok({ deviceId: device.id });
  });
}

/** Closing the device fd: the driver's close_device releases its pins, then it is unregistered. */
export function closeDevice(state: VfioState, config: VfioConfig, args: DeviceArgs): VfioResult {
  return runOp(state, () => {
    const device = deviceAt(state, args.deviceId);
    if (device === undefined) return err('EBADF');
    if (!device.open) return err('EINVAL');
    if (!hasVfioBug(config, 'close-keeps-pins')) closeDeviceDriver(state, config, device);
    const backend = state.container.backend;
    if (backend !== null && backend.kind === 'type1') {
      backend.deviceIds = backend.deviceIds.filter((id) => id !== device.id);
    }
    device.open = false;
    return ok({ deviceId: device.id });
  });
}
