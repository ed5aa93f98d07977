/**
 * The container and group lifecycle: VFIO_SET_IOMMU, VFIO_GROUP_SET_CONTAINER /
 * UNSET_CONTAINER, opening and closing device fds, and the type1 backend's attach_group,
 * detach_group and release. Reference: docs/reference/vfio-type1.md §1.2, §1.9, §1.10, §1.8
 * (reaccounting), §1.16 (unwinds); Linux v6.12 drivers/vfio/vfio_iommu_type1.c, container.c.
 *
 * Two IOMMU drivers are registered: type1 (CHECK_EXTENSION says yes to types 1, 3, 6 and to the
 * VFIO_UNMAP_ALL extension 9, whose open then fails EINVAL) and vfio-noiommu (type 8, only for
 * containers of VFIO_NO_IOMMU groups; noiommu containers may use nothing else). A SET_IOMMU
 * argument no allowed driver supports ends with ENODEV. Attaching a group to an open backend
 * follows §1.9: vaddr invalid → EBUSY, already attached → EINVAL, emulated → recorded; an IOMMU
 * group: existing mappings outside the aperture (only checked once `iova_list` exists) or in a
 * reserved region → EINVAL, no interrupt remapping → EPERM, then it joins the domain of its class
 * or gets a new domain into which every mapping is replayed (pinning them if this is the first
 * domain, which is where RLIMIT_MEMLOCK or a munmapped vaddr can make the attach fail). A failed
 * replay is walked back as v6.12 does (`vfio_iommu_replay`'s unwind, aae7a75a821a; then
 * attach_group's `out_detach`, `out_domain`): the runner compares, it does not restore (§1.16).
 * Detach follows `vfio_iommu_type1_detach_group`: the last group of a domain frees it; the last
 * domain removes every mapping, or, with emulated groups left, reaccounts them
 * (`vfio_iommu_unmap_unpin_reaccount`). VFIO_GROUP_UNSET_CONTAINER started `phased` runs in two
 * phases when the group is in an IOMMU domain: `iommu_detach_group`, then the rest of the detach
 * and of the ioctl (`startGroupUnset`, `finishGroupUnsetOp`), holding the VMM and `iommu->lock`
 * between them; the device's DMA runs in that window (docs/reference/vtd.md §3.13.1). Not
 * preempted, it is the atomic ioctl. The last group out releases the backend, and
 * VFIO_SET_IOMMU opens a new one once a group is back, attaching every group of the container
 * (several, in a multi-group world) and, when one attach fails, detaching those attached so far
 * and releasing the new backend (`__vfio_container_attach_groups`' `unwind:`). A group's
 * `attachedDomain` is the hardware's record of `iommu_attach_group` / `iommu_detach_group`. Bug
 * hooks: `attach-skips-replay`, `replay-skips-unwind`, `detach-keeps-pins`,
 * `attach-groups-skips-unwind`, `release-skips-group-detach`, `attach-error-skips-detach` (`config.ts`).
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
import { lockAcct, mapRunIntoDomains, pinAndChargePage, removeDma, unmapUnpinDma, unpinUnmappedPage } from './pin.js';
import { writableTranslations } from './copied-parts.js';
import { attemptAlloc, deviceAt, domainOfGroup, err, groupAt, ok, runOp, unwound } from './state.js';
import type { OpContext, Outcome } from './state.js';
import type { PhaseStep } from './inflight.js';
import type { GroupUnsetOp, Type1Backend, VfioDomain, VfioGroup, VfioResult, VfioState } from './types.js';

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

/**
 * `vfio_iommu_type1_attach_group` (Linux v6.12 drivers/vfio/vfio_iommu_type1.c): null on
 * success, else the errno, with everything the call did walked back as its error labels do
 * (`out_detach`: the group leaves the new domain; `out_domain`: the domain is freed; the group
 * record freed; the IOVA list left as it was). The checks run on the group's properties, so the
 * model reports the group's attachment (`attach` effect) only once they pass; a replay that fails
 * is unwound (`replay`), then the group is detached and the new domain freed.
 */
export function attachGroup(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  group: VfioGroup,
): string | null {
  if (backend.vaddrInvalidCount > 0) return 'EBUSY';
  if (backend.emulatedGroupIds.includes(group.id) || domainOfGroup(backend, group.id) !== undefined) return 'EINVAL';
  const spec = group.spec;
  // kzalloc of the vfio_iommu_group.
  if (spec.kind !== 'noiommu' && !attemptAlloc(state, ctx)) return 'ENOMEM';
  if (spec.kind === 'emulated') {
    backend.emulatedGroupIds.push(group.id);
    return null;
  }
  if (spec.kind !== 'iommu') return 'EINVAL';
  // kzalloc of the vfio_domain (out_free_group frees the group record: nothing else to undo).
  if (!attemptAlloc(state, ctx)) return 'ENOMEM';
  if (!backend.iovaListEmpty && backend.dmas.some((dma) => dma.iovaPage + dma.npages > spec.apertureEndPage)) {
    return 'EINVAL';
  }
  const inReserved = backend.dmas.some((dma) =>
    spec.reservedRanges.some((range) => dma.iovaPage < range.endPage && range.startPage < dma.iovaPage + dma.npages),
  );
  if (inReserved) return 'EINVAL';
  if (!spec.msiIsolated && !state.params.allowUnsafeInterrupts) return 'EPERM';
  const compatible = backend.domains.find((domain) => domain.id === spec.domainClass);
  if (compatible !== undefined) {
    compatible.groupIds.push(group.id);
    iommuAttachGroup(ctx, compatible.id, group);
    backend.iovaListEmpty = false;
    return null;
  }
  const domain: VfioDomain = { id: spec.domainClass, groupIds: [group.id], translations: {} };
  iommuAttachGroup(ctx, domain.id, group);
  const error = hasVfioBug(config, 'attach-skips-replay') ? null : replay(state, config, ctx, backend, domain);
  if (error !== null) {
    // out_detach, out_domain: the group leaves the domain and the domain is freed.
    if (!hasVfioBug(config, 'attach-error-skips-detach')) iommuDetachGroup(state, ctx, domain.id, group.id);
    ctx.effects.push({ kind: 'domain-free', domainId: domain.id });
    return error;
  }
  backend.domains.push(domain);
  backend.iovaListEmpty = false;
  return null;
}

/**
 * `vfio_iommu_replay`: every mapping into the new domain, in IOVA order. A mapping already
 * `iommu_mapped` is read back from the first domain (`iommu_iova_to_phys`) and mapped; one that is
 * not (no domain existed: only emulated groups) is pinned and charged page by page first
 * (`vfio_pin_pages_remote`), and a map that then fails unpins and uncharges its page. Mappings are
 * marked `iommu_mapped` only after all of them are in (the second walk), so that the unwind knows
 * which pins are its own. The unwind (added by aae7a75a821a, "vfio/type1: Add proper error unwind
 * for vfio_iommu_replay()", v5.9) walks from the failing mapping back to the first: an
 * `iommu_mapped` one is unmapped from the new domain, any other has each page it translates in
 * the new domain unmapped, unpinned and uncharged. The bug `replay-skips-unwind` is the code before
 * that commit: it returns at once, each finished mapping already marked `iommu_mapped`.
 */
function replay(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  domain: VfioDomain,
): string | null {
  const first = backend.domains[0];
  const oldCode = hasVfioBug(config, 'replay-skips-unwind');
  for (let n = 0; n < backend.dmas.length; n++) {
    const dma = backend.dmas[n];
    if (dma === undefined) continue;
    for (let i = 0; i < dma.npages; i++) {
      const iovaPage = dma.iovaPage + i;
      let mfn: number;
      if (dma.iommuMapped) {
        const translation = first?.translations[iovaPage];
        if (translation === undefined) continue;
        mfn = translation.mfn;
      } else {
        const page = pinAndChargePage(state, ctx, config, dma, i);
        if (!page.ok) return oldCode ? page.errno : unwindReplay(state, config, ctx, backend, domain, n, page.errno);
        mfn = page.mfn;
      }
      const error = mapRunIntoDomains(state, ctx, [domain], dma, iovaPage, mfn);
      if (error === null) continue;
      if (!dma.iommuMapped) unpinUnmappedPage(state, config, dma, iovaPage, mfn);
      return oldCode ? error : unwindReplay(state, config, ctx, backend, domain, n, error);
    }
    if (oldCode) dma.iommuMapped = true;
  }
  for (const dma of backend.dmas) dma.iommuMapped = true;
  return null;
}

/** `vfio_iommu_replay`'s `unwind:` from mapping `failed` back to the first; returns `errno`. */
function unwindReplay(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  domain: VfioDomain,
  failed: number,
  errno: string,
): string {
  for (let n = failed; n >= 0; n--) {
    const dma = backend.dmas[n];
    if (dma === undefined) continue;
    for (let i = 0; i < dma.npages; i++) {
      const iovaPage = dma.iovaPage + i;
      const translation = domain.translations[iovaPage];
      if (translation === undefined) continue;
      delete writableTranslations(domain)[iovaPage];
      ctx.effects.push({ kind: 'unmap', domainId: domain.id, iovaPage, mfn: translation.mfn });
      if (!dma.iommuMapped) unpinUnmappedPage(state, config, dma, iovaPage, translation.mfn);
    }
    ctx.effects.push({ kind: 'iotlb-sync', domainId: domain.id });
  }
  return errno;
}

/** `vfio_iommu_unmap_unpin_all`. */
function removeAllDmas(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  for (const dma of [...backend.dmas]) removeDma(state, config, ctx, backend, dma);
}

/** `vfio_iommu_unmap_unpin_reaccount`: the last domain goes, emulated groups stay. */
function unmapUnpinReaccount(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  const keepPins = hasVfioBug(config, 'detach-keeps-pins');
  for (const dma of backend.dmas) {
    const unlocked = unmapUnpinDma(state, config, ctx, backend, dma, false, keepPins);
    const locked = Object.keys(dma.externalPins).length;
    lockAcct(state, config, dma, locked - unlocked);
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
  iommuDetachGroup(state, ctx, domain.id, group.id);
  finishDetachGroup(state, config, ctx, backend, domain);
}

/**
 * The rest of `vfio_iommu_type1_detach_group` after `iommu_detach_group`: a domain left without
 * groups is freed, and the last one takes every mapping with it (unmapped and unpinned first).
 */
function finishDetachGroup(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  domain: VfioDomain,
): void {
  if (domain.groupIds.length > 0) return;
  if (backend.domains.length === 1) {
    if (backend.emulatedGroupIds.length === 0) removeAllDmas(state, config, ctx, backend);
    else unmapUnpinReaccount(state, config, ctx, backend);
  }
  freeDomain(ctx, backend, domain);
}

/**
 * `vfio_iommu_type1_release`: emulated groups forgotten, every mapping removed
 * (`vfio_iommu_unmap_unpin_all`), then each domain released (`vfio_release_domain`: every group
 * still in it detached with `iommu_detach_group`, then `iommu_domain_free`). The bug
 * `release-skips-group-detach` frees the domains without detaching their groups.
 */
export function releaseBackend(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): void {
  backend.emulatedGroupIds = [];
  removeAllDmas(state, config, ctx, backend);
  const detach = !hasVfioBug(config, 'release-skips-group-detach');
  for (const domain of [...backend.domains]) {
    if (detach) for (const groupId of domain.groupIds) iommuDetachGroup(state, ctx, domain.id, groupId);
    freeDomain(ctx, backend, domain);
  }
}

/** `iommu_attach_group`: the group's devices now translate through the domain. */
function iommuAttachGroup(ctx: OpContext, domainId: number, group: VfioGroup): void {
  group.attachedDomain = domainId;
  ctx.effects.push({ kind: 'attach', domainId, groupId: group.id });
}

/** `iommu_detach_group`: the group's devices are back on VFIO's blocking domain. */
function iommuDetachGroup(state: VfioState, ctx: OpContext, domainId: number, groupId: number): void {
  const group = state.groups[groupId];
  if (group !== undefined) group.attachedDomain = null;
  ctx.effects.push({ kind: 'detach', domainId, groupId });
}

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * VFIO_SET_IOMMU (`vfio_ioctl_set_iommu`, Linux v6.12 drivers/vfio/container.c): the driver's
 * `open` makes a new backend, `__vfio_container_attach_groups` attaches every group of the
 * container to it (newest first: `container->group_list` has the newest at its head), and only
 * then does the container take it. An attach that fails is walked back as the source does: the
 * `unwind:` loop (`list_for_each_entry_continue_reverse`) detaches the groups attached so far,
 * newest attached first, then `vfio_ioctl_set_iommu` calls the driver's `release` on the backend
 * (`vfio_iommu_type1_release`) — step by step, compared by the runner, not restored. Bug
 * `attach-groups-skips-unwind`: the loop is missing (the error returned at once).
 */
export function setIommu(state: VfioState, config: VfioConfig, args: SetIommuArgs): VfioResult {
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
    // vfio_iommu_type1_open: the kzalloc of the vfio_iommu.
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
    const error = attachGroups(state, config, ctx, backend);
    if (error !== null) {
      // vfio_ioctl_set_iommu: `driver->ops->release(data)` on the attach's failure.
      releaseBackend(state, config, ctx, backend);
      return unwound(error);
    }
    container.backend = backend;
    return ok({ type: args.type, v2: backend.v2 });
  });
}

/** `__vfio_container_attach_groups`: null, or the failing attach's errno after the `unwind:` loop. */
function attachGroups(state: VfioState, config: VfioConfig, ctx: OpContext, backend: Type1Backend): string | null {
  const attached: VfioGroup[] = [];
  // container->group_list has the newest group first.
  for (const groupId of [...state.container.groupIds].reverse()) {
    const group = state.groups[groupId];
    if (group === undefined) continue;
    const error = attachGroup(state, config, ctx, backend, group);
    if (error === null) {
      attached.push(group);
      continue;
    }
    if (hasVfioBug(config, 'attach-groups-skips-unwind')) return error;
    // unwind: list_for_each_entry_continue_reverse — the groups before the failing one, back to the head.
    for (const done of [...attached].reverse()) detachGroup(state, config, ctx, backend, done);
    return error;
  }
  return null;
}

/** VFIO_GROUP_SET_CONTAINER. */
export function groupSetContainer(state: VfioState, config: VfioConfig, args: GroupArgs): VfioResult {
  return runOp(state, (ctx) => {
    const group = groupAt(state, args.groupId);
    if (group === undefined) return err('EBADF');
    if (group.inContainer) return err('EINVAL');
    const container = state.container;
    const noiommu = group.spec.kind === 'noiommu';
    if (container.groupIds.length > 0 && container.noiommu !== noiommu) return err('EPERM');
    const backend = container.backend;
    if (backend !== null && backend.kind === 'type1') {
      // vfio_container_attach_group: the backend's attach walked its own work back (compared, not restored).
      const error = attachGroup(state, config, ctx, backend, group);
      if (error !== null) return unwound(error);
    }
    group.inContainer = true;
    container.groupIds.push(group.id);
    container.noiommu = noiommu;
    return ok({ groupId: group.id });
  });
}

/**
 * VFIO_GROUP_UNSET_CONTAINER's checks, in order: the group (EBADF), in the container (EINVAL), none
 * of its devices open (EBUSY). The group that may leave, or the refusal.
 */
function leavingGroup(state: VfioState, args: GroupArgs): VfioGroup | Outcome {
  const group = groupAt(state, args.groupId);
  if (group === undefined) return err('EBADF');
  if (!group.inContainer) return err('EINVAL');
  if (state.devices.some((device) => device.groupId === group.id && device.open)) return err('EBUSY');
  return group;
}

/** VFIO_GROUP_UNSET_CONTAINER: the last group out releases the backend. */
export function groupUnsetContainer(state: VfioState, config: VfioConfig, args: GroupArgs): VfioResult {
  return runOp(state, (ctx) => {
    const group = leavingGroup(state, args);
    if ('ok' in group) return group;
    const backend = state.container.backend;
    if (backend !== null && backend.kind === 'type1') detachGroup(state, config, ctx, backend, group);
    return finishGroupUnset(state, config, ctx, group);
  });
}

/** The ioctl's end: the group out of the container, and the last group out releases the backend. */
function finishGroupUnset(state: VfioState, config: VfioConfig, ctx: OpContext, group: VfioGroup): Outcome {
  const container = state.container;
  const backend = container.backend;
  group.inContainer = false;
  container.groupIds = container.groupIds.filter((id) => id !== group.id);
  if (container.groupIds.length === 0 && backend !== null) {
    if (backend.kind === 'type1') releaseBackend(state, config, ctx, backend);
    container.backend = null;
  }
  return ok({ groupId: group.id, released: container.backend === null });
}

/**
 * VFIO_GROUP_UNSET_CONTAINER's first phase (`vfio_group_detach_container` →
 * `vfio_iommu_type1_detach_group` under `iommu->lock`, Linux v6.12): the checks, then
 * `iommu_detach_group` (the group's devices go to VFIO's blocking domain, the `detach` effect). The
 * operation stays in flight when the group was in an IOMMU domain of a type1 backend: the window
 * before the domain's mappings are unmapped and unpinned, in which the device still issues DMA.
 * Otherwise the whole ioctl runs here. Same refusals as the atomic command.
 */
export function startGroupUnset(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  args: GroupArgs,
): PhaseStep<GroupUnsetOp> {
  const group = leavingGroup(state, args);
  if ('ok' in group) return { outcome: group, op: null };
  const backend = state.container.backend;
  const domain =
    backend !== null && backend.kind === 'type1' && !backend.emulatedGroupIds.includes(group.id)
      ? domainOfGroup(backend, group.id)
      : undefined;
  if (backend === null || backend.kind !== 'type1' || domain === undefined) {
    if (backend !== null && backend.kind === 'type1') detachGroup(state, config, ctx, backend, group);
    return { outcome: finishGroupUnset(state, config, ctx, group), op: null };
  }
  domain.groupIds = domain.groupIds.filter((id) => id !== group.id);
  iommuDetachGroup(state, ctx, domain.id, group.id);
  return {
    outcome: ok({ groupId: group.id, detached: domain.id }),
    op: { kind: 'groupUnsetContainer', groupId: group.id, domainId: domain.id },
  };
}

/** VFIO_GROUP_UNSET_CONTAINER's second phase: the rest of type1's detach, then the ioctl's end. */
export function finishGroupUnsetOp(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  op: GroupUnsetOp,
): PhaseStep<GroupUnsetOp> {
  state.inflight = state.inflight.filter((other) => other !== op);
  const group = state.groups[op.groupId];
  const backend = state.container.backend;
  if (group === undefined) return { outcome: err('EBADF'), op: null };
  const domain =
    backend !== null && backend.kind === 'type1'
      ? backend.domains.find((found) => found.id === op.domainId)
      : undefined;
  if (backend !== null && backend.kind === 'type1' && domain !== undefined) {
    finishDetachGroup(state, config, ctx, backend, domain);
  }
  return { outcome: finishGroupUnset(state, config, ctx, group), op: null };
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
