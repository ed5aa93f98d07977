/**
 * The PASID cache (docs/reference/vtd.md §3.3, §3.11): the IOMMU caches the PASID-table entries
 * requests with a PASID walk through, so a request translates through the domain (DID) its cached
 * entry names until a PASID-cache invalidation drops it, whatever the table now says. Linux
 * v6.12 (drivers/iommu/intel/pasid.c, stored version read: commit 0604aa87) therefore follows every
 * teardown of a present entry with one: `intel_pasid_tear_down_entry` clears the entry
 * (`intel_pasid_clear_entry`), then `pasid_cache_invalidation_with_pasid(iommu, did, pasid)` (a
 * PASID-selective descriptor, `QI_PC_PASID_SEL`: every cached entry of that DID and PASID), then
 * the IOTLB (a DSI for a second-level or nested entry). A new entry needs one only with caching
 * mode (`pasid_flush_caches`): real hardware caches present entries only.
 *
 * Modelled when `caps.pasidCacheEntries` is set: entries for PASIDs 1..2^20-1 (requests with a
 * PASID), filled by a DMA that finds a present entry, FIFO-evicted beyond capacity, keyed by
 * (source-id, PASID) and dropped by (DID, PASID).
 *
 * Left out: RID2PASID (the entry of requests without PASID, PASID 0: the model's context record,
 * every modelled change of which invalidates at once, as `device_block_translation` does), the
 * PASID directory and the not-present entries caching mode may cache, domain-selective and global
 * PASID-cache invalidation (Linux issues the PASID-selective form only).
 */
import { appendBounded, markOrphaned } from './cached-entries.js';
import type { IommuState, PasidCacheEntry } from './types.js';

/** The cached PASID entry of requests from `deviceId` with `pasid`, if any. */
export function pasidCacheLookup(state: IommuState, deviceId: number, pasid: number): PasidCacheEntry | undefined {
  return state.pasidCache?.find((entry) => entry.deviceId === deviceId && entry.pasid === pasid);
}

/**
 * A walk read the present PASID entry naming `domainId`: cache it (the oldest entry goes when the
 * cache is full). Nothing when the PASID cache is not modelled or the entry is already cached.
 */
export function pasidCacheFill(state: IommuState, deviceId: number, pasid: number, domainId: number): void {
  const cache = state.pasidCache;
  const capacity = state.caps.pasidCacheEntries ?? 0;
  if (cache === undefined || capacity <= 0 || pasidCacheLookup(state, deviceId, pasid) !== undefined) return;
  state.pasidCache = appendBounded(cache, { deviceId, pasid, domainId }, capacity);
}

/**
 * `pasid_cache_invalidation_with_pasid(iommu, did, pasid)`: the PASID-selective PASID-cache
 * invalidation drops every cached entry of (DID, PASID), of any source-id. Returns how many.
 */
export function invalidatePasidCache(state: IommuState, domainId: number, pasid: number): number {
  const cache = state.pasidCache;
  if (cache === undefined) return 0;
  const kept = cache.filter((entry) => entry.domainId !== domainId || entry.pasid !== pasid);
  if (kept.length === cache.length) return 0;
  state.pasidCache = kept;
  return cache.length - kept.length;
}

/** The PASIDs of `deviceId` the PASID cache holds entries for, ascending. */
export function cachedPasids(state: IommuState, deviceId: number): number[] {
  if (state.pasidCache === undefined) return [];
  return state.pasidCache
    .filter((entry) => entry.deviceId === deviceId)
    .map((entry) => entry.pasid)
    .sort((left, right) => left - right);
}

/** A domain is freed: the cached entries naming its DID get the model's orphan mark. */
export function orphanPasidCacheEntries(state: IommuState, domainId: number): void {
  if (state.pasidCache !== undefined) state.pasidCache = markOrphaned(state.pasidCache, domainId);
}
