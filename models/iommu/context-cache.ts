/**
 * The context cache (docs/reference/vtd.md §3.13.1; VT-d 3.3 §6.1, §6.5.1.1): the IOMMU caches the
 * context entries requests walk through, so a request without PASID from a source-id translates
 * through the domain (DID) its cached entry names until a context-cache invalidation drops it,
 * whatever the context table now says. Hardware caches present entries only (caching mode aside:
 * then it may cache not-present ones under DID 0, which the model leaves out).
 *
 * Linux v6.12 (drivers/iommu/intel/iommu.c `domain_context_clear_one`, pasid.c
 * `intel_context_flush_no_pasid`, read in Debian's linux-source-6.12 6.12.118) invalidates it through `iommu->flush.flush_context` (`qi_flush_context` with queued invalidation,
 * `__iommu_flush_context` with the register interface), in three granularities
 * (`DMA_CCMD_GLOBAL_INVL`, `DMA_CCMD_DOMAIN_INVL`, `DMA_CCMD_DEVICE_INVL`):
 * - a present entry cleared: `domain_context_clear_one` clears it and writes it back
 *   (`__iommu_flush_cache`), then `intel_context_flush_present(info, context, did, true)` issues a
 *   device-selective context-cache invalidation of (DID, source-id), then (legacy mode) a DSI of
 *   the IOTLB for the DID;
 * - a not-present entry made present: `domain_context_mapping_one` writes it back
 *   (`clflush_cache_range` when `!ecap_coherent`), then `context_present_cache_flush`: with caching
 *   mode a device-selective invalidation of DID 0 and a DSI of the new DID; without, only the
 *   write-buffer flush (hardware caches no not-present entry, so there is nothing to drop).
 *
 * Modelled when `caps.contextCacheEntries` is set: entries keyed by source-id, filled by a request
 * without PASID that walks a present context entry (as memory holds it, `coherency.ts`), FIFO-evicted
 * beyond capacity. Device-selective invalidation matches the DID and the source-id (VT-d 3.3
 * §6.5.1.1, legacy mode); domain-selective the DID; global everything.
 *
 * Like the rest of the model's context-entry path (`domain.ts`: `attachDevice`, `detachDevice`
 * follow `domain_context_mapping_one` and `domain_context_clear_one`), this is legacy mode's context
 * entry, which holds the DID, whatever `caps.scalableMode` says. Left out: scalable mode, where a
 * request without PASID finds its DID in the RID2PASID entry through the PASID cache, the context
 * entry only names the PASID directory, and the hardware ignores a device-selective invalidation's
 * DID (`intel_context_flush_present`'s comment); the function mask of a device-selective
 * invalidation (one function per source-id here); not-present entries cached under caching mode;
 * the root-table pointer and its global invalidation at `iommu_set_root_entry`. Entries copied from
 * a previous kernel (kdump) and their teardown are in `kdump.ts`.
 */
import { appendBounded, markOrphaned } from './cached-entries.js';
import type { ContextCacheEntry, IommuState } from './types.js';

/** The cached context entry of requests without PASID from `deviceId`, if any. */
export function contextCacheLookup(state: IommuState, deviceId: number): ContextCacheEntry | undefined {
  return state.contextCache?.find((entry) => entry.deviceId === deviceId);
}

/**
 * A walk read `deviceId`'s present context entry naming `domainId`: cache it (the oldest entry goes
 * when the cache is full). Nothing when the context cache is not modelled or the entry is cached.
 */
export function contextCacheFill(state: IommuState, deviceId: number, domainId: number): void {
  const cache = state.contextCache;
  const capacity = state.caps.contextCacheEntries ?? 0;
  if (cache === undefined || capacity <= 0 || contextCacheLookup(state, deviceId) !== undefined) return;
  state.contextCache = appendBounded(cache, { deviceId, domainId }, capacity);
}

/** `flush_context`'s granularity: `DMA_CCMD_GLOBAL_INVL`, `DMA_CCMD_DOMAIN_INVL`, `DMA_CCMD_DEVICE_INVL`. */
export type ContextInvalidation =
  | { readonly granularity: 'global' }
  | { readonly granularity: 'domain'; readonly domainId: number }
  | { readonly granularity: 'device'; readonly domainId: number; readonly sourceId: number };

function covers(entry: ContextCacheEntry, request: ContextInvalidation): boolean {
  switch (request.granularity) {
    case 'global':
      return true;
    case 'domain':
      return entry.domainId === request.domainId;
    case 'device':
      return entry.deviceId === request.sourceId && entry.domainId === request.domainId;
  }
}

/**
 * `iommu->flush.flush_context(iommu, did, source_id, DMA_CCMD_MASK_NOBIT, type)`: drops every cached
 * context entry the invalidation covers. Returns how many (0 when the cache is not modelled).
 */
export function invalidateContextCache(state: IommuState, request: ContextInvalidation): number {
  const cache = state.contextCache;
  if (cache === undefined) return 0;
  const kept = cache.filter((entry) => !covers(entry, request));
  if (kept.length === cache.length) return 0;
  state.contextCache = kept;
  return cache.length - kept.length;
}

/** A domain is freed: the cached context entries naming its DID get the model's orphan mark. */
export function orphanContextCacheEntries(state: IommuState, domainId: number): void {
  if (state.contextCache !== undefined) state.contextCache = markOrphaned(state.contextCache, domainId);
}
