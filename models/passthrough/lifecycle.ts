/**
 * The IOMMU side of an IOMMU group's life under VFIO (docs/reference/vtd.md §3.10), Linux v6.12:
 *
 * - At rest a group's devices sit in its default domain (`iommu_group_alloc_default_domain`), a
 *   DMA-API domain that maps none of the guest's memory (vfio-pci makes no DMA-API mappings).
 * - VFIO_GROUP_SET_CONTAINER claims the group's DMA ownership (`vfio_container_attach_group` →
 *   `iommu_group_claim_dma_owner` → `__iommu_take_dma_ownership`): the group moves to the blocking
 *   domain. On VT-d that is `blocking_domain_attach_dev` → `device_block_translation`: the context
 *   entry cleared (`domain_context_clear_one`: the entry, then a device-selective context-cache
 *   invalidation and a DSI of the DID it held), and `domain_detach_iommu` drops the DID (freed with
 *   `ida_free` when no device of that IOMMU is left in the domain).
 * - type1's attach (`vfio_iommu_type1_attach_group` → `iommu_attach_group`) moves the group from the
 *   blocking domain to VFIO's; the DID is allocated then (`domain_attach_iommu`: `ida_alloc_range`,
 *   the lowest free one, so a DID just freed is the next one handed out).
 * - type1's detach (`vfio_iommu_type1_detach_group` → `iommu_detach_group` →
 *   `__iommu_group_set_core_domain`): VFIO still owns the group, so it goes to the blocking domain
 *   again — the design's `blockTranslation` hook — and VFIO then frees its domain
 *   (`iommu_domain_free` → `intel_iommu_domain_free` → `domain_exit`: the page-table pages freed,
 *   no invalidation).
 * - `vfio_group_detach_container` → `iommu_group_release_dma_owner`: the default domain is attached
 *   again (`intel_iommu_attach_device`, which allocates its DID — often the one VFIO's domain just
 *   gave back).
 *
 * The model frees the default domain while the group is owned and allocates a new, empty one at
 * release: the same DIDs are allocated and freed as in Linux (where the default domain object
 * lives on and only its DID comes and goes), and nothing else of it is observable.
 *
 * With the context cache modelled (`caps.contextCacheEntries`, `iommu/context-cache.ts`) the
 * detach's device-selective context-cache invalidation is part of `blockTranslation`, and the
 * default domain's attach, a not-present entry made present, invalidates none (without caching
 * mode). VFIO_GROUP_UNSET_CONTAINER started phased (`vfio/container.ts`) leaves a window between
 * type1's `iommu_detach_group` and the rest of its detach (the unmaps, the unpins, the domain's
 * free, the default domain's attach), in which the device's requests walk what the detach left.
 *
 * Left out: the PASID table entry of scalable mode (RID2PASID: the same teardown), devices
 * rebound to a host driver after release (whose DMA-API mappings the default domain would hold),
 * `iommu.passthrough=1` (an identity default domain: a released device then reaches all memory).
 */
import { clearContext, createDomain, detachDevice, releaseDomain } from '../iommu/domain.js';
import { NO_PASID, unassignCacheTag } from '../iommu/cache-tags.js';
import { invalidateContextCache } from '../iommu/context-cache.js';
import { writeBackContextEntry } from '../iommu/coherency.js';
import { flushDomain, flushTornDownEntry } from '../iommu/invalidate.js';
import type { VfioState } from '../vfio/types.js';
import type { CopiedContextTeardown } from '../iommu/kdump.js';
import { probeAttach } from './kdump.js';
import type { BlockTranslation, PassthroughLifecycle, PassthroughState } from './types.js';

/**
 * `device_block_translation` as v6.12 does it: the context entry cleared, then the caches tagged
 * with the DID it held invalidated (`domain_context_clear_one` → `intel_context_flush_present`).
 */
export const blockTranslation: BlockTranslation = (iommu, sourceId) => {
  detachDevice(iommu, { deviceId: sourceId });
};

/**
 * The flush helper that reads the DID from the entry after clearing it: the entry is cleared and
 * the invalidation goes to DID 0 (reserved, nothing cached under it), so every IOTLB entry of the
 * old DID survives. Shipped in f90584f4beb8 ("iommu/vt-d: Add helper to flush caches for context
 * change", v6.11-rc), fixed by 7af6c720417f ("iommu/vt-d: Fix incorrect domain ID in context flush
 * helper", v6.11-rc6, reported by Alex Williamson from VFIO). Earlier, scalable mode flushed the
 * context entry's DID field, which that mode leaves unused, until 37764b952e1b ("iommu/vt-d:
 * Global devTLB flush when present context entry changed", v5.14; Fixes: 7373a8cc3819, v5.0).
 */
export const blockFlushingClearedDid: BlockTranslation = (iommu, sourceId) => {
  const cleared = clearContext(iommu, { deviceId: sourceId });
  if (!cleared.ok) return;
  writeBackContextEntry(iommu, sourceId);
  // intel_context_flush_present(info, context, ...) with did = context_domain_id(context): 0 now,
  // for the context cache's device-selective invalidation and the IOTLB's DSI alike.
  invalidateContextCache(iommu, { granularity: 'device', domainId: 0, sourceId });
  flushDomain(iommu, 0);
};

/**
 * A detach that never writes the context entry (no `domain_context_clear_one`), while the software
 * still drops the device from the domain and frees the DID: the entry keeps the old DID, and its
 * cached translations stay. A domain the DID goes to next is met by a device nobody attached to it.
 */
export const blockKeepingContext: BlockTranslation = () => {};

/**
 * A detach that clears the context entry without writing it back (no `__iommu_flush_cache` after
 * `context_clear_present` in `domain_context_clear_one`), then invalidates the context cache and the
 * DID as v6.12 does (`intel_context_flush_present`: the context cache, then the IOTLB): on an IOMMU
 * without coherent walks (`ecap.C` = 0) memory keeps the present entry, and the device's next
 * request walks it again — into the old domain's translations while type1's detach has not yet
 * unmapped them (the window between `iommu_detach_group` and `vfio_iommu_unmap_unpin_all` in
 * `vfio_iommu_type1_detach_group`), and caches it in the context cache, which the default domain's
 * attach (`context_present_cache_flush`: no context-cache invalidation for a not-present entry made
 * present) leaves in place, under a DID VFIO frees and hands on. v6.12 writes the entry back
 * twice (after clearing Present, after zeroing it); this is the missed-write-back class of XSA-321
 * applied to the context table, not a specific commit.
 */
export const blockSkippingWriteBack: BlockTranslation = (iommu, sourceId) => {
  const cleared = clearContext(iommu, { deviceId: sourceId });
  const domainId = cleared.detail?.['domainId'];
  if (!cleared.ok || typeof domainId !== 'number') return;
  invalidateContextCache(iommu, { granularity: 'device', domainId, sourceId });
  unassignCacheTag(iommu, domainId, NO_PASID);
  flushTornDownEntry(iommu, domainId, null);
};

/**
 * A detach that clears the context entry and writes it back, then flushes the IOTLB for the DID it
 * held but never invalidates the context cache (`domain_context_clear_one` calling the IOTLB flush
 * alone, without `intel_context_flush_present`'s `flush_context(..., DMA_CCMD_DEVICE_INVL)`): the
 * context cache keeps the entry a request cached before the detach, so the device keeps translating
 * through VFIO's domain while type1's detach has yet to unmap it, and through its DID once VFIO frees
 * it (the default domain's attach invalidates no context cache: the entry was not present). A
 * missed invalidation a driver could ship, not a specific commit.
 */
export const blockSkippingContextCacheFlush: BlockTranslation = (iommu, sourceId) => {
  const cleared = clearContext(iommu, { deviceId: sourceId });
  const domainId = cleared.detail?.['domainId'];
  if (!cleared.ok || typeof domainId !== 'number') return;
  writeBackContextEntry(iommu, sourceId);
  unassignCacheTag(iommu, domainId, NO_PASID);
  flushTornDownEntry(iommu, domainId, null);
};

/** The sound lifecycle: what v6.12 does. */
export const soundLifecycle: PassthroughLifecycle = { blockTranslation };

/** Source-ids of the vfio-pci devices of IOMMU group `groupId`. */
function groupSourceIds(vfio: VfioState, groupId: number, sourceIdOf: (deviceId: number) => number): number[] {
  return vfio.devices.filter((device) => device.groupId === groupId).map((device) => sourceIdOf(device.id));
}

/** The IOMMU groups (VFIO_IOMMU) in the container, in id order. */
export function ownedIommuGroups(vfio: VfioState): number[] {
  return vfio.groups.filter((group) => group.spec.kind === 'iommu' && group.inContainer).map((group) => group.id);
}

/**
 * `iommu_group_claim_dma_owner`: the group's devices leave its default domain for the blocking
 * domain (`device_block_translation`, as v6.12 does it), and the default domain's DID goes back.
 */
export function claimGroup(state: PassthroughState, groupId: number, sourceIdOf: (deviceId: number) => number): void {
  const defaults = state.defaults;
  if (defaults === undefined) return;
  for (const sourceId of groupSourceIds(state.vfio, groupId, sourceIdOf)) blockTranslation(state.iommu, sourceId);
  const did = defaults[groupId];
  if (did === undefined) return;
  releaseDomain(state.iommu, did);
  delete defaults[groupId];
}

/**
 * `iommu_group_release_dma_owner`: the group's default domain is attached again (a DID allocated
 * for it). A device whose context entry is still present keeps it (`domain_context_mapping_one`
 * leaves a present entry alone). One copied from a crashed kernel (kdump) is torn down first, through
 * `copiedTeardown`, the attach left in flight at its window (`kdump.ts`).
 */
export function releaseGroup(
  state: PassthroughState,
  groupId: number,
  sourceIdOf: (deviceId: number) => number,
  copiedTeardown?: CopiedContextTeardown,
): void {
  const defaults = state.defaults;
  if (defaults === undefined || defaults[groupId] !== undefined) return;
  const created = createDomain(state.iommu, { type: 'dma' });
  const did = created.detail?.['domainId'];
  if (typeof did !== 'number') return;
  defaults[groupId] = did;
  for (const sourceId of groupSourceIds(state.vfio, groupId, sourceIdOf))
    probeAttach(state, copiedTeardown, sourceId, did);
}
