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
 * On an IOMMU whose VFIO domains are first-level (`ecap.FLTS` without `ecap.SLTS`,
 * `models/iommu/cache-tags.ts`) the entries are PGTT 1 (`intel_pasid_setup_first_level`), each
 * attach assigns the cache tag of (DID, PASID) that the domain's unmap flushes go through, and the
 * teardown's IOTLB flush is PASID-based. The attach is the design's `attach` hook (default
 * `attachPasid`).
 *
 * Left out: pass-through PASID entries (PGTT 4, `intel_pasid_setup_pass_through`: an identity
 * domain caches no translation in the model, so its teardown's flush choice could not show), SVA,
 * a PASID attached to a domain other than its device's VFIO domain, per-device PASID widths (every
 * device has the full 20 bits), PRI, device-TLBs.
 */
import { unassignCacheTag } from '../iommu/cache-tags.js';
import {
  attachDevicePasid,
  clearPasidEntry,
  detachDevicePasid,
  isPasid,
  pasidEntryDomainId,
  setupPasidEntry,
} from '../iommu/domain.js';
import { flushDomain, flushTornDownEntry } from '../iommu/invalidate.js';
import { invalidatePasidCache } from '../iommu/pasid.js';
import { deviceDmaRefusal } from '../vfio/device-dma.js';
import { domainOfGroup, refused, type1Backend } from '../vfio/state.js';
import type { VfioState } from '../vfio/types.js';
import { dmaThroughIommu, passthroughDmaRefusal, sourceIdOf } from './forward.js';
import type {
  PasidAttach,
  PasidCommand,
  PasidTeardown,
  PassthroughConfig,
  PassthroughPasid,
  PassthroughResult,
  PassthroughState,
} from './types.js';

/**
 * `intel_iommu_set_dev_pasid`: the cache tag of (DID, PASID) (`cache_tag_assign_domain`), then the
 * PASID entry — second-level (`intel_pasid_setup_second_level`) or first-level
 * (`intel_pasid_setup_first_level`) as the domain is.
 */
export const attachPasid: PasidAttach = (iommu, sourceId, pasid, domainId) =>
  attachDevicePasid(iommu, { deviceId: sourceId, pasid, domainId });

/**
 * An attach that writes the PASID entry without assigning the domain's cache tag for the PASID: a
 * first-level domain's unmap then flushes the PASIDs of its other tags only (`cache_tag_flush_range`
 * walks the tag list), and the translations the device cached with this PASID survive the unmap,
 * reaching frames VFIO unpinned. Nothing shows on a second-level domain, whose DID-based flushes
 * reach every PASID. The class of a missed `cache_tag_assign_domain` on an attach path (v6.12 calls
 * it from both `dmar_domain_attach_device` and `intel_iommu_set_dev_pasid`); not a specific commit.
 */
export const attachPasidWithoutCacheTag: PasidAttach = (iommu, sourceId, pasid, domainId) =>
  setupPasidEntry(iommu, { deviceId: sourceId, pasid, domainId });

/**
 * `intel_iommu_remove_dev_pasid` → `intel_pasid_tear_down_entry`: the cache tag unassigned, the
 * entry cleared, the PASID-cache invalidation of (DID, PASID), then the IOTLB by the entry's PGTT: a
 * DSI for a second-level entry, a PASID-based flush of the PASID for a first-level one.
 */
export const tearDownPasid: PasidTeardown = (iommu, sourceId, pasid) => {
  detachDevicePasid(iommu, { deviceId: sourceId, pasid });
};

/**
 * A teardown that flushes the IOTLB with a DSI whatever the entry's PGTT (the cache tag unassigned,
 * the entry cleared, the PASID cache invalidated): the PASID-based flush a first-level (or
 * pass-through) entry needs is never issued, and the first-level translations the device cached
 * with the PASID survive — once the tag is gone no unmap of the domain flushes them either, and the
 * PASID attached again (same domain, same DID) reaches frames VFIO unmapped and unpinned. The
 * mirror of the bug 8798d36 fixed ("iommu/vt-d: Fix incomplete cache flush in
 * intel_pasid_tear_down_entry()", v5.14; Fixes: 2cd1311a2667): before it, the teardown issued the
 * PASID-based flush for every PGTT, which misses second-level and nested entries; the fix chose by
 * PGTT, "per chapter 6.5.3.3 of VT-d spec 3.3". This variant makes the other wrong choice.
 */
export const tearDownWithDsiOnly: PasidTeardown = (iommu, sourceId, pasid) => {
  const domainId = pasidEntryDomainId(iommu, sourceId, pasid);
  if (domainId === null) return;
  unassignCacheTag(iommu, domainId, pasid);
  clearPasidEntry(iommu, { deviceId: sourceId, pasid });
  invalidatePasidCache(iommu, domainId, pasid);
  flushDomain(iommu, domainId);
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

/**
 * A teardown that clears the PASID entry without writing it back (no `clflush_cache_range` after
 * `pasid_clear_present`), then invalidates the PASID cache and flushes the IOTLB as v6.12 does: on
 * an IOMMU without coherent walks (`ecap.C` = 0) memory keeps the present entry, and the next
 * request with the PASID walks it again — into the old domain, and under its DID once the domain
 * is freed and the DID handed on. `intel_pasid_tear_down_entry` writes the entry back twice; this
 * is the missed-write-back class of XSA-321 applied to the PASID table, not a specific commit.
 */
export const tearDownSkippingWriteBack: PasidTeardown = (iommu, sourceId, pasid) => {
  const domainId = pasidEntryDomainId(iommu, sourceId, pasid);
  if (domainId === null) return;
  unassignCacheTag(iommu, domainId, pasid);
  clearPasidEntry(iommu, { deviceId: sourceId, pasid });
  invalidatePasidCache(iommu, domainId, pasid);
  flushTornDownEntry(iommu, domainId, pasid);
};

/** The sound PASID attachment: what v6.12 does. */
export const soundPasid: PassthroughPasid = { attach: attachPasid, tearDown: tearDownPasid };

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
  const attached = (config.pasid.attach ?? attachPasid)(state.iommu, sourceId, command.pasid, did);
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
