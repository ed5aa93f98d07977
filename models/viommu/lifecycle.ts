/**
 * The device's life in the guest's vIOMMU: detached from its guest domain, attached to another,
 * and the context-cache invalidation that makes the VMM follow (docs/reference/viommu.md §7.7).
 *
 * The guest (Linux v6.12 drivers/iommu/intel/iommu.c): `intel_iommu_attach_device` first blocks
 * the device (`device_block_translation` → `domain_context_clear` → `domain_context_clear_one`:
 * the context entry cleared, then a device-selective context-cache invalidation and a
 * domain-selective IOTLB invalidation of the old DID), then `dmar_domain_attach_device` →
 * `domain_attach_iommu` gives the new domain a DID (`ida_alloc_range`: the lowest free one, so the
 * DID the old domain just freed comes back) and `domain_context_mapping` writes the new context
 * entry, followed in caching mode by a context-cache and an IOTLB invalidation. The context entry
 * is guest memory: writing it does not exit; the invalidation does.
 *
 * The VMM (QEMU hw/i386/intel_iommu.c, `[Q]` in docs/reference/sources.md):
 * `vtd_process_context_cache_desc` → `vtd_context_device_invalidate` (device-selective) or
 * `vtd_context_global_invalidate` (global; domain-selective falls through to it): the cached
 * context entry is dropped (`context_cache_gen`), `vtd_switch_address_space` picks the IOMMU or
 * the no-DMAR region, and `vtd_address_space_sync` resyncs the shadow: a context entry that is
 * not present unmaps the whole address space (`vtd_address_space_unmap`), a present one replays
 * its whole range (`vtd_sync_shadow_page_table_range(…, 0, UINT64_MAX)`). The global flavour also
 * replays every address space with notifiers (`vtd_iommu_replay_all`); with one device the two
 * flavours do the same here. What the VMM does is its `context` hook (`vmm-hooks.ts`).
 *
 * An IOTLB invalidation reaches the device's address space only when the context entry's DID is
 * the invalidation's (`vtd_iotlb_page_invalidate_notify`, `vtd_iotlb_domain_invalidate`): with the
 * entry cleared, a page- or domain-selective invalidation reaches nothing (`step.ts`).
 *
 * Modelled as: `guestDetach` clears the context entry and frees the domain (its table is the
 * guest's business from then on: the model drops it); `guestAttach` points the entry at a new,
 * empty domain with the DID the command names (equal to the old one: a reused DID). Both record
 * in `GuestState.retired` what the device could reach through the earlier domain, and mark the
 * guest's context write pending until a context-cache invalidation submitted after it completes.
 * `guestInvalidateContext` is trapped like an IOTLB invalidation and phased the same way
 * (`phased.ts`): the VMM's requests, then the wait descriptor.
 *
 * GCMD.TE (`guestSetTranslation`): QEMU `vtd_handle_gcmd_write` → `vtd_handle_gcmd_te` →
 * `vtd_reset_caches`, `vtd_address_space_refresh_all` (`vtd_address_space_unmap_all`, then
 * `vtd_switch_address_space_all`), all within the register write's exit, before the guest's poll of
 * GSTS.TES returns: one atomic step. With translation off every device uses the no-DMAR alias of
 * guest memory, which VFIO's listener maps whole (IOVA = GPA); the context entry and the guest's
 * table are ignored, IOTLB invalidations reach no notifier, and the guest's claims on invalidated
 * or retired pages lapse (it gave the device all its RAM). Turned on again, the IOMMU region's
 * notifier replays the table (`vtd_iommu_replay`), and what the device could reach through the
 * no-DMAR region and the table does not map is retired at once. The VMM's `translation` hook
 * (`vmm-hooks.ts` `refreshAddressSpaces`, nested `flushNestedOnSwitch`).
 *
 * Left out: pass-through context entries, the device's own reset (the model has no notion of it:
 * its DMA engine is a command), several devices or domains at once, PASIDs, the device's DMA
 * between the ioctls of a GCMD.TE switch. In nested mode the model walks the guest's current table
 * (with translation off, guest RAM at IOVA = GPA, so stage 2 alone translates) and the VMM flushes
 * the cached first-level translations; a real VMM also re-binds the nested domain's first-level
 * pointer, or attaches the device to stage 2.
 */
import { clearedPages } from './phased.js';
import type { ViommuState } from './types.js';

/** Pages in either list, ascending. */
function union(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

/**
 * The guest writes the device's context entry: `did` null clears it, a number points it at a new,
 * empty domain with that DID. What the device can reach or the VMM has shadowed joins `retired`;
 * a context-cache invalidation in flight no longer covers the guest's last write.
 */
export function writeContext(state: ViommuState, did: number | null): ViommuState {
  const emptied: ViommuState = { ...state, guest: { ...state.guest, table: {} } };
  const retired = union(state.guest.retired, clearedPages(emptied, 'all'));
  const inflight = state.inflight.some((op) => op.context !== undefined)
    ? state.inflight.map((op) => (op.context === undefined ? op : { ...op, context: { ...op.context, covers: false } }))
    : state.inflight;
  return { ...state, guest: { ...state.guest, table: {}, did, contextPending: true, retired }, inflight };
}

/**
 * The guest sets GCMD.TE to `enabled` (QEMU `vtd_handle_gcmd_te`). Off, the device is given all of
 * guest RAM by the guest's own choice: nothing it invalidated or retired is owed to it any more.
 * On, what the device could reach with translation off and the guest's table does not map is
 * retired at once: the VMM's refresh runs before the guest's poll of GSTS.TES returns, so nothing
 * stays pending.
 */
export function setTranslation(state: ViommuState, enabled: boolean): ViommuState {
  // `vtd_reset_caches` empties the PASID cache too (QEMU v10.2.0 `vtd_pasid_cache_reset_locked`).
  const pasidCache = null;
  if (!enabled) {
    return { ...state, pasidCache, guest: { ...state.guest, translation: false, invalidated: [], retired: [] } };
  }
  const retired = union(state.guest.retired, clearedPages(state, 'all'));
  return { ...state, pasidCache, guest: { ...state.guest, translation: true, retired } };
}
