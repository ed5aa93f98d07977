/**
 * The invalidations a scalable-mode guest owes after writing the device's RID_PASID entry, and when
 * each is settled (VT-d §6.5.2.1, caching mode; docs/reference/viommu.md §7.9). The guest's
 * contract is the same as in legacy mode (invariants 7 and 8): once it has written the entry and
 * the invalidations that follow the write have completed, the device reaches nothing through the
 * earlier domain. Here they are two, in order, as Linux v6.12 issues them
 * (drivers/iommu/intel/pasid.c):
 *
 * 1. a PASID-cache invalidation covering the entry: PASID-selective for RID_PASID or
 *    domain-selective, with a DID an entry written since named (`intel_pasid_tear_down_entry`
 *    uses the old DID, `pasid_flush_caches` the new one), or global;
 * 2. then an IOTLB invalidation of the entry's domain: a PASID-based IOTLB invalidation of all of
 *    RID_PASID (`qi_flush_piotlb(…, 0, -1, 0)` in `pasid_flush_caches`) or a domain-selective IOTLB
 *    invalidation (`flush_iotlb(…, DMA_TLB_DSI_FLUSH)` in the teardown of a second-level entry),
 *    with the DID of the entry now present, or with a DID of the entries written since when it is
 *    not present; or a global IOTLB invalidation.
 *
 * A write while invalidations are still owed adds its DIDs and starts over at step 1.
 */
import type { PasidCacheGranularity, ViommuCommand, ViommuState } from './types.js';
import { RID_PASID } from './types.js';

/** The guest wrote its RID_PASID entry, which named `before` and now names `after` (null: not present). */
export function owePasidFlush(state: ViommuState, before: number | null, after: number | null): ViommuState {
  const named = [...(state.guest.pasidFlush?.dids ?? []), before, after].filter((did): did is number => did !== null);
  const dids = [...new Set(named)].sort((a, b) => a - b);
  return { ...state, guest: { ...state.guest, pasidFlush: { stage: 'pasid-cache', dids }, contextPending: true } };
}

/** Whether a PASID-cache invalidation settles step 1. */
export function pasidCacheCovers(
  state: ViommuState,
  granularity: PasidCacheGranularity,
  did: number,
  pasid: number,
): boolean {
  const flush = state.guest.pasidFlush;
  if (flush === null || flush.stage !== 'pasid-cache') return false;
  if (granularity === 'global') return true;
  return (granularity === 'domain' || pasid === RID_PASID) && flush.dids.includes(did);
}

/** Step 1 done: the IOTLB invalidation is owed next. */
export function settlePasidCache(state: ViommuState): ViommuState {
  const flush = state.guest.pasidFlush;
  if (flush === null || flush.stage !== 'pasid-cache') return state;
  return { ...state, guest: { ...state.guest, pasidFlush: { ...flush, stage: 'iotlb' } } };
}

/**
 * Whether an IOTLB invalidation the guest submits now would settle step 2 on completing (checked
 * again then: the stage must have reached `iotlb`): a global one, or one of the whole domain whose
 * DID the entry names (or, the entry not present, one of the DIDs written since).
 */
export function iotlbCovers(state: ViommuState, command: ViommuCommand): boolean {
  const flush = state.guest.pasidFlush;
  if (flush === null) return false;
  const matches = (did: number): boolean =>
    state.guest.did === null ? flush.dids.includes(did) : did === state.guest.did;
  if (command.kind === 'guestInvalidate')
    return command.granularity === 'global' || (command.granularity === 'domain' && matches(command.did));
  if (command.kind === 'guestInvalidatePiotlb')
    return command.granularity === 'pasid' && command.pasid === RID_PASID && matches(command.did);
  return false;
}

/** Step 2 done (after step 1): the guest owes nothing and counts on the device not reaching the earlier domain. */
export function settleIotlb(state: ViommuState): ViommuState {
  if (state.guest.pasidFlush?.stage !== 'iotlb') return state;
  return { ...state, guest: { ...state.guest, pasidFlush: null, contextPending: false } };
}
