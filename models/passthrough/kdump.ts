/**
 * The passthrough stack booted as a kdump kernel (docs/reference/vtd.md §3.14, `iommu/kdump.ts`):
 * the vfio-pci devices' context entries were copied from the crashed kernel and name its domain,
 * and the new kernel's probe attaches each device's default domain (`iommu_probe_device` → the
 * default domain's attach → `domain_context_mapping_one`, which meets the copied entry and tears it
 * down through the design's `tearDown` hook before writing its own).
 *
 * The attach runs in two phases: at boot the hook's steps up to its last invalidation; then, when
 * the kernel's probe goes on (`finishCopiedAttach`), the rest, `context_clear_entry` and the new
 * entry. The device, whose reset the crashed kernel never saw, may DMA in between. VFIO cannot
 * take the group before the probe has returned (the group's devices are not yet bound to a driver
 * VFIO could own): VFIO_GROUP_SET_CONTAINER on such a group waits, EBUSY here.
 *
 * Left out: devices probed in parallel by several threads, a device whose driver resets it during
 * probe (which ends its DMA: what the pre-fix comment relied on), the IOMMU groups of other
 * devices the copied tables name.
 */
import {
  copiedDomainId,
  copiedTeardownStep,
  finishCopiedAttach as finishAttach,
  splitCopiedTeardown,
} from '../iommu/kdump.js';
import type { CopiedContextTeardown } from '../iommu/kdump.js';
import { attachDevice } from '../iommu/domain.js';
import { refused } from '../vfio/state.js';
import { sourceIdOf } from './forward.js';
import type { PassthroughResult, PassthroughState } from './types.js';
import { withoutKey } from '../record.js';

/**
 * The probe's attach of `domainId` to `sourceId`: through the copied-entry teardown when the entry
 * is a copied one (the first phase, the rest left in `state.probing`), else `attachDevice`.
 */
export function probeAttach(
  state: PassthroughState,
  tearDown: CopiedContextTeardown | undefined,
  sourceId: number,
  domainId: number,
): void {
  const didOld = copiedDomainId(state.iommu, sourceId);
  if (didOld === null || tearDown === undefined) {
    attachDevice(state.iommu, { deviceId: sourceId, domainId });
    return;
  }
  const [first, rest] = splitCopiedTeardown(tearDown(sourceId, didOld));
  for (const step of first) copiedTeardownStep(state.iommu, sourceId, didOld, step);
  state.probing = { ...state.probing, [sourceId]: { domainId, didOld, rest } };
}

/** Whether a device of IOMMU group `groupId` is still being probed (its attach in flight). */
export function groupProbing(state: PassthroughState, groupId: number): boolean {
  const probing = state.probing;
  if (probing === undefined) return false;
  return state.vfio.devices.some(
    (device) => device.groupId === groupId && Object.hasOwn(probing, sourceIdOf(device.id)),
  );
}

/**
 * The probe of vfio-pci device `deviceId` goes on: the teardown's remaining steps, then
 * `domain_context_mapping_one`'s `context_clear_entry` and the default domain's entry. EINVAL when
 * no attach of the device is in flight (the state unchanged). Edits `state` in place.
 */
export function finishCopiedAttach(state: PassthroughState, deviceId: number): PassthroughResult {
  const sourceId = Number.isInteger(deviceId) ? sourceIdOf(deviceId) : -1;
  const pending =
    state.probing !== undefined && Object.hasOwn(state.probing, sourceId) ? state.probing[sourceId] : undefined;
  if (pending === undefined) return refused('EINVAL');
  for (const step of pending.rest) copiedTeardownStep(state.iommu, sourceId, pending.didOld, step);
  const attached = finishAttach(state.iommu, { deviceId: sourceId, domainId: pending.domainId });
  const rest = withoutKey(state.probing ?? {}, sourceId);
  if (rest === undefined) delete state.probing;
  else state.probing = rest;
  return {
    ok: true,
    detail: { deviceId, sourceId, didOld: pending.didOld, domainId: pending.domainId, attached: attached.ok },
    effects: [],
    accesses: [],
  };
}
