/**
 * PASIDs of the assigned devices (docs/reference/vtd.md §3.11): a vfio-pci device's PASID attached
 * to its group's VFIO domain, detached, and DMA requests carrying a PASID.
 *
 * Attach follows `iommu_attach_device_pasid` (drivers/iommu/iommu.c, v6.12) → the VT-d driver's
 * `intel_iommu_set_dev_pasid` → `intel_pasid_setup_second_level` (pasid.c): a PASID of 0
 * (`IOMMU_NO_PASID`, the requests without PASID) or beyond the PASID width is EINVAL; a PASID
 * already attached is EBUSY (`xa_insert` into the group's `pasid_array`, and the present PASID
 * entry); without scalable mode there is no PASID table (ENODEV). The new entry needs no cache
 * invalidation on real hardware (no caching mode: `pasid_flush_caches` flushes the write buffer
 * only). Detach is `iommu_detach_device_pasid` → `intel_iommu_remove_dev_pasid` →
 * `intel_pasid_tear_down_entry`, the design's `tearDown` hook (built-in below); one not attached
 * is ENODEV (the PASID helpers' "no entry"). When a device's fd closes, or its group leaves its
 * VFIO domain, every PASID it still has attached is torn down first, as the device's unbind does.
 *
 * In v6.12 no VFIO type1 ioctl reaches `iommu_attach_device_pasid` (vfio-pci gained
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT with a PASID over iommufd in v6.15; in v6.12 its callers are host
 * drivers such as idxd, and SVA): the commands here are that attach, driven by the device's user
 * on the domain the device's requests without PASID already translate through.
 *
 * A DMA with a PASID walks the domain its PASID entry names, through the PASID cache
 * (`models/iommu/pasid.ts`), and fills IOTLB entries tagged with (DID, PASID); refused as the
 * device's DMA without PASID is (`passthroughDmaRefusal`), and EINVAL for a PASID outside
 * 1..2^20-1. A device with no entry for the PASID faults.
 *
 * Left out: first-level-only and pass-through PASID entries (SVA, PGTT 1 and 4, and their
 * PASID-based IOTLB flushes), a PASID attached to a domain other than its device's VFIO domain,
 * per-device PASID widths (every device has the full 20 bits), PRI, device-TLBs.
 */
import { attachDevicePasid, clearPasidEntry, detachDevicePasid, isPasid, pasidEntryDomainId } from '../iommu/domain.js';
import { flushDomain } from '../iommu/invalidate.js';
import { deviceDmaRefusal } from '../vfio/device-dma.js';
import { domainOfGroup, refused, type1Backend } from '../vfio/state.js';
import type { VfioState } from '../vfio/types.js';
import { dmaThroughIommu, passthroughDmaRefusal, sourceIdOf } from './forward.js';
import type {
  PasidCommand,
  PasidTeardown,
  PassthroughConfig,
  PassthroughPasid,
  PassthroughResult,
  PassthroughState,
} from './types.js';

/**
 * `intel_pasid_tear_down_entry` for the second-level entry a VFIO domain's PASID has: the entry
 * cleared, the PASID-cache invalidation of (DID, PASID), a DSI of the DID.
 */
export const tearDownPasid: PasidTeardown = (iommu, sourceId, pasid) => {
  detachDevicePasid(iommu, { deviceId: sourceId, pasid });
};

/**
 * A teardown that clears the PASID entry and flushes the IOTLB, but never invalidates the PASID
 * cache (no `pasid_cache_invalidation_with_pasid`): the entry the IOMMU cached keeps the device's
 * requests with that PASID translating through the old domain — after its fd closed, after its
 * group left the domain, after the domain was freed and its DID handed to another. VT-d 3.3
 * §6.5.3.3 lists the PASID-cache invalidation as the step after clearing a present entry, and
 * `intel_pasid_tear_down_entry` issues it; this variant is the missing-invalidation class, not a
 * specific commit.
 */
export const tearDownSkippingPasidCache: PasidTeardown = (iommu, sourceId, pasid) => {
  const cleared = clearPasidEntry(iommu, { deviceId: sourceId, pasid });
  const domainId = cleared.detail?.['domainId'];
  if (typeof domainId === 'number') flushDomain(iommu, domainId);
};

/** The sound PASID attachment: what v6.12 does. */
export const soundPasid: PassthroughPasid = { tearDown: tearDownPasid };

/** The DID of the VFIO domain holding `deviceId`'s group, if any. */
function deviceDid(state: PassthroughState, deviceId: number): number | undefined {
  const device = state.vfio.devices[deviceId];
  const backend = type1Backend(state.vfio);
  const domain = device === undefined || backend === null ? undefined : domainOfGroup(backend, device.groupId);
  return domain === undefined ? undefined : state.dids[domain.id];
}

/** The PASIDs attached for a vfio-pci device (its source-id's PASID entries), ascending. */
export function attachedPasids(state: PassthroughState, deviceId: number): number[] {
  const context = state.iommu.contexts[sourceIdOf(deviceId)];
  if (context === undefined) return [];
  return Object.keys(context.pasids)
    .map(Number)
    .sort((left, right) => left - right);
}

/** vfio-pci devices with PASIDs attached that must lose them: fd closed, or group in no VFIO domain. */
export function devicesLosingPasids(state: PassthroughState, vfio: VfioState = state.vfio): number[] {
  const losing: number[] = [];
  for (const device of vfio.devices) {
    if (device.kind !== 'pci' || attachedPasids(state, device.id).length === 0) continue;
    const backend = type1Backend(vfio);
    const inDomain = backend !== null && domainOfGroup(backend, device.groupId) !== undefined;
    if (!device.open || !inDomain) losing.push(device.id);
  }
  return losing;
}

/** Tears down, through the design's hook, every PASID of the devices that must lose them. */
export function tearDownLostPasids(state: PassthroughState, config: PassthroughConfig): void {
  const teardown = config.pasid?.tearDown;
  if (teardown === undefined) return;
  for (const deviceId of devicesLosingPasids(state)) {
    for (const pasid of attachedPasids(state, deviceId)) teardown(state.iommu, sourceIdOf(deviceId), pasid);
  }
}

/** Runs a PASID command on a draft the caller already copied. */
export function applyPasidCommand(
  state: PassthroughState,
  config: PassthroughConfig,
  command: PasidCommand,
): PassthroughResult {
  if (state.vfio.crash !== null) return refused('BUG_ON', { where: state.vfio.crash.where });
  if (config.pasid === undefined) return refused('ENODEV');
  if (command.kind === 'pasidDma') return pasidDma(state, command);
  const refusal = deviceDmaRefusal(state.vfio, { deviceId: command.deviceId, addressPage: 0, write: false });
  if (refusal !== null) return refused(refusal);
  if (!isPasid(command.pasid)) return refused('EINVAL');
  const sourceId = sourceIdOf(command.deviceId);
  if (command.kind === 'detachPasid') {
    const domainId = pasidEntryDomainId(state.iommu, sourceId, command.pasid);
    if (domainId === null) return refused('ENODEV');
    config.pasid.tearDown(state.iommu, sourceId, command.pasid);
    return { ok: true, detail: { pasid: command.pasid, domainId }, effects: [], accesses: [] };
  }
  const did = deviceDid(state, command.deviceId);
  if (did === undefined) return refused('ENODEV');
  const attached = attachDevicePasid(state.iommu, { deviceId: sourceId, pasid: command.pasid, domainId: did });
  if (!attached.ok) return refused(attached.error ?? 'EINVAL');
  return { ok: true, detail: { pasid: command.pasid, domainId: did }, effects: [], accesses: [] };
}

/** A DMA request with a PASID through the VT-d model. */
function pasidDma(state: PassthroughState, command: Extract<PasidCommand, { kind: 'pasidDma' }>): PassthroughResult {
  const refusal = passthroughDmaRefusal(state, command);
  if (refusal !== null) return refused(refusal);
  if (!isPasid(command.pasid)) return refused('EINVAL');
  const { access, via } = dmaThroughIommu(state, command, command.pasid);
  return {
    ok: true,
    detail: { pasid: command.pasid, outcome: access.outcome, mfn: access.mfn, owner: access.owner, via },
    effects: [],
    accesses: [access],
  };
}
