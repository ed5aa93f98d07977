/**
 * The guest's scalable mode over an assigned device (docs/reference/viommu.md §7.9): QEMU's
 * intel-iommu with `x-scalable-mode=on` and `caching-mode=on`, shadowing the guest's second-level
 * table for VFIO (QEMU v10.2.0 hw/i386/intel_iommu.c; Linux v6.12 drivers/iommu/intel/pasid.c and
 * iommu.c for the guest).
 *
 * The device's scalable-mode context entry names a PASID directory; requests without PASID use the
 * entry of the context entry's RID2PASID field (0, Linux's IOMMU_NO_PASID): `vtd_dev_to_context_entry`
 * → `vtd_ce_rid2pasid_check` → `vtd_ce_get_rid2pasid_entry` → `vtd_get_pe_from_pasid_table`. That
 * RID_PASID entry carries the guest domain: PGTT second-level, the DID (`vtd_get_domain_id` reads it
 * from guest memory) and the second-level table the VMM shadows. The model keeps it as
 * `GuestState.did` (null: not present) and the guest's table; the context entry stays present.
 *
 * Guest (all guest memory, no exit): `guestClearPasid` (`device_block_translation` →
 * `intel_pasid_tear_down_entry`; nothing when not present) and `guestSetupPasid`
 * (`intel_pasid_setup_second_level` with a new domain and table; EBUSY on a present entry). Each
 * write owes a PASID-cache and then an IOTLB invalidation (`pasid-flush.ts`).
 *
 * VMM (one exit each, processed in order under the BQL):
 *
 * - PASID-cache invalidation (`vtd_process_pasid_desc`): what it re-syncs is the design's
 *   `pasidCache` hook (`vmm-hooks.ts` `syncPasidCacheWith`); it does nothing with translation off.
 * - PASID-based IOTLB invalidation (`vtd_process_piotlb_desc`): of all of a PASID
 *   (`vtd_piotlb_pasid_invalidate`) it reaches the device when the DID is the one in its RID_PASID
 *   entry in guest memory and the PASID its RID2PASID, and then replays the whole table
 *   (`vtd_address_space_sync`); page-selective (`vtd_piotlb_page_invalidate` →
 *   `vtd_iotlb_page_invalidate_notify`) it replays 2^mask pages from the address. Both through the
 *   design's `invalidation` hook, the shadow sync every invalidation reaches VFIO through.
 * - A GCMD.TE switch empties the PASID cache (`vtd_reset_caches` → `vtd_pasid_cache_reset_locked`;
 *   `lifecycle.ts` `setTranslation`).
 * - An IOTLB or context-cache invalidation reaches nothing while the RID_PASID entry is not present:
 *   `vtd_dev_to_context_entry` fails the RID2PASID check (a non-present entry: -VTD_FR_PASID_ENTRY_P;
 *   Linux zeroes it after the invalidations: -VTD_FR_PASID_TABLE_ENTRY_INV).
 *
 * Refusals: a PASID descriptor in legacy mode is a 256-bit descriptor in a 128-bit queue
 * (`vtd_inv_desc_reserved_check`), a granularity QEMU does not know (PASID-cache 2, PASID-IOTLB 0
 * or 1) fails `vtd_process_pasid_desc` / `vtd_process_piotlb_desc`: QEMU stops the queue with
 * FSTS.IQE (`vtd_handle_inv_queue_error`) and the guest's `qi_submit_sync` returns -EINVAL
 * (`qi_check_fault`) — EINVAL, nothing changed. So is a field the descriptor cannot hold (DID 16
 * bits, PASID 20, AM 6; QEMU checks no MAMV for PASID-IOTLB). The model's own: a RID_PASID write in
 * legacy mode, and a legacy context-entry write in scalable mode (not modelled) — EOPNOTSUPP.
 *
 * Simplified: the PASID descriptors run atomically (not phased); the context-cache invalidation in
 * scalable mode too. Left out: other PASIDs (the guest's PASID attach, SVA), PGTT first-level,
 * pass-through (QEMU allows it for a VFIO device: `vtd_dev_pt_enabled` switches to the no-DMAR
 * region) and nested, the scalable context entry's own writes, device-TLB invalidations.
 */
import { isPageNumber } from '../vfio/u64.js';
import { clearedPages, completeWait } from './phased.js';
import { writeContext } from './lifecycle.js';
import { iotlbCovers, owePasidFlush, pasidCacheCovers, settleIotlb, settlePasidCache } from './pasid-flush.js';
import { PASID_MAX, RID_PASID, noCosts, pasidCacheGranularities, piotlbGranularities } from './types.js';
import type { StepCosts, ViommuCommand, ViommuConfig, ViommuState } from './types.js';
import { handleInvalidation, performRequests, shadowedEntries } from './vmm.js';
import type { InvalidatedRange } from './vmm-hooks.js';

/** What a PASID step hands back: the state, or the refusal's error, and what it cost and did. */
export type PasidStep =
  | {
      readonly ok: true;
      readonly state: ViommuState;
      readonly costs: StepCosts;
      readonly detail: Readonly<Record<string, number | string | boolean | null>>;
    }
  | { readonly ok: false; readonly error: string };

const trap: StepCosts = { ...noCosts, vmExits: 1 };

function isDid(did: unknown): did is number {
  return Number.isInteger(did) && (did as number) >= 0 && (did as number) <= 0xffff;
}

function isPasid(pasid: unknown): pasid is number {
  return Number.isInteger(pasid) && (pasid as number) >= 0 && (pasid as number) <= PASID_MAX;
}

/**
 * The guest writes its RID_PASID entry (`did` null clears it): the earlier domain is retired
 * (`writeContext`), the VMM's cached copy no longer matches guest memory, an IOTLB invalidation in
 * flight no longer settles what this write owes, and the write owes its invalidations.
 */
export function writePasidEntry(state: ViommuState, did: number | null): ViommuState {
  const written = writeContext(state, did);
  const cache = state.pasidCache;
  const pasidCache = cache === null || !cache.current ? cache : { ...cache, current: false };
  const inflight = written.inflight.some((op) => op.pasidStep === true)
    ? written.inflight.map((op) => (op.pasidStep === true ? { ...op, pasidStep: false } : op))
    : written.inflight;
  return owePasidFlush({ ...written, pasidCache, inflight }, state.guest.did, did);
}

/** `guestClearPasid` / `guestSetupPasid`. */
export function writeRidPasid(state: ViommuState, config: ViommuConfig, did: number | null): PasidStep {
  if (!config.scalable) return { ok: false, error: 'EOPNOTSUPP' };
  if (did === null) {
    // `intel_pasid_tear_down_entry` returns at once when the entry is not present.
    if (state.guest.did === null) return { ok: true, state, costs: noCosts, detail: { changed: false } };
    return { ok: true, state: writePasidEntry(state, null), costs: noCosts, detail: { changed: true } };
  }
  // DID 0 is reserved when caching mode is reported (VT-d §6.2.2.1).
  if (!isDid(did) || did === 0) return { ok: false, error: 'EINVAL' };
  // `intel_pasid_setup_second_level`: "if (pasid_pte_is_present(pte)) … return -EBUSY".
  if (state.guest.did !== null) return { ok: false, error: 'EBUSY' };
  const reusedDid = state.guest.pasidFlush?.dids.includes(did) ?? false;
  return { ok: true, state: writePasidEntry(state, did), costs: noCosts, detail: { reusedDid } };
}

/** A PASID-cache invalidation descriptor (VTD_INV_DESC_PC). */
export function invalidatePasidCache(
  state: ViommuState,
  config: ViommuConfig,
  command: Extract<ViommuCommand, { kind: 'guestInvalidatePasidCache' }>,
): PasidStep {
  const { granularity, did, pasid } = command;
  if (!config.scalable || !pasidCacheGranularities.includes(granularity) || !isDid(did) || !isPasid(pasid))
    return { ok: false, error: 'EINVAL' };
  const settled = pasidCacheCovers(state, granularity, did, pasid) ? settlePasidCache(state) : state;
  // `vtd_pasid_cache_sync`: "if (!s->root_scalable || !s->dmar_enabled) return;".
  if (!state.guest.translation) return { ok: true, state: settled, costs: trap, detail: { handled: false } };
  let mapped: ReadonlyMap<number, { gpaPage: number; write: boolean }> | undefined;
  const sync = config.vmm.pasidCache({
    state,
    granularity,
    did,
    pasid,
    cached: state.pasidCache,
    get mapped() {
      mapped ??= shadowedEntries(state);
      return mapped;
    },
  });
  const handled = performRequests(state, config, sync.requests);
  const { mappedPages, unmappedPages, failedPages } = handled;
  return {
    ok: true,
    state: { ...settled, host: handled.host, pasidCache: sync.cache },
    costs: { ...handled.costs, vmExits: 1 },
    detail: { handled: true, mappedPages, unmappedPages, failedPages, cached: sync.cache?.did ?? null },
  };
}

/** A PASID-based IOTLB invalidation descriptor (VTD_INV_DESC_PIOTLB). */
export function invalidatePiotlb(
  state: ViommuState,
  config: ViommuConfig,
  command: Extract<ViommuCommand, { kind: 'guestInvalidatePiotlb' }>,
): PasidStep {
  const { granularity, did, pasid, giovaPage, mask } = command;
  if (!config.scalable || !piotlbGranularities.includes(granularity) || !isDid(did) || !isPasid(pasid))
    return { ok: false, error: 'EINVAL' };
  if (!isPageNumber(giovaPage) || !Number.isInteger(mask) || mask < 0 || mask > 63)
    return { ok: false, error: 'EINVAL' };
  if (granularity === 'pasid' && (giovaPage !== 0 || mask !== 0)) return { ok: false, error: 'EINVAL' };
  const settle = (next: ViommuState): ViommuState => (iotlbCovers(state, command) ? settleIotlb(next) : next);
  // Only the RID_PASID address space of the device, while its entry is present and names `did`;
  // with translation off the IOMMU region has no notifier left to reach.
  if (!state.guest.translation || state.guest.did !== did || pasid !== RID_PASID)
    return { ok: true, state: settle(state), costs: trap, detail: { handled: false } };
  const range: InvalidatedRange =
    granularity === 'pasid' ? 'all' : { startPage: giovaPage, endPage: giovaPage + 2 ** mask };
  const cleared = clearedPages(state, range);
  const handled = handleInvalidation(state, config, range);
  const { mappedPages, unmappedPages, failedPages } = handled;
  return {
    ok: true,
    state: settle(completeWait({ ...state, host: handled.host }, cleared)),
    costs: { ...handled.costs, vmExits: 1 },
    detail: { handled: true, mappedPages, unmappedPages, failedPages },
  };
}
