/**
 * Domains and device attachment (docs/reference/vtd.md §3.1, §3.3, §3.4): domain allocation and free,
 * attaching a device's requests-without-PASID (its context entry) or one of its PASIDs (a PASID
 * table entry, scalable mode) to a domain, and detaching them.
 *
 * Cache maintenance follows Linux: installing a context entry with caching mode issues a DSI for
 * the new DID (`context_present_cache_flush`); a new PASID entry with caching mode a PASID-based
 * IOTLB flush (`pasid_flush_caches`); without caching mode only a write-buffer flush, which has no
 * effect here. Tearing down a context or PASID entry issues a DSI for the old DID (second-level
 * teardown), in every mode, or for a first-level domain (`cache-tags.ts`) a PASID-based flush of
 * the entry's PASID; the attaches and detaches of a first-level domain assign and unassign its
 * cache tags.
 *
 * Simplified: a domain's DID is assigned at allocation (Linux assigns it per IOMMU at first
 * attach): the lowest free DID from 1, ENOSPC when `domainIdCount` is exhausted. Domains are named
 * by DID and an unknown one is ENOENT (the real API passes a pointer). Attaching a device that is
 * already attached is EBUSY (the iommu core refuses to replace an attached non-default domain);
 * detach first. A nesting parent must be an `unmanaged` domain (EINVAL otherwise). With caching
 * mode a `dma-fq` request yields a strict `dma` domain (§3.4: CM forces strict). Freeing a domain
 * with devices still attached, or a nesting parent with a nested domain still on it, is EBUSY; freeing one releases its queued unmaps without a flush
 * (`iommu_dma_free_fq`), which is safe because detaching its last device issued a DSI.
 *
 * With the context cache modelled (`context-cache.ts`) the detach invalidates it device-selectively
 * (`intel_context_flush_present`) between the write-back and the DSI, and an attach only with
 * caching mode (`context_present_cache_flush`, DID 0). A request without PASID takes its DID from
 * the context cache first (`requestDomainId`).
 *
 * Left out: groups and default domains, domain-ID 0 tagging of invalid translations under caching
 * mode, pass-through PASID entries (PGTT 4)
 * (a nested domain, `nested.ts`, is attached like any other: its context entry points at it).
 */
import { isNatural } from './address.js';
import { NO_PASID, assignCacheTag, firstLevelByDefault, unassignCacheTag } from './cache-tags.js';
import {
  iommuContextEntry,
  iommuPasidEntry,
  orphanUnflushedContexts,
  orphanUnflushedPasids,
  recordContextWrite,
  recordPasidWrite,
  writeBackContextEntry,
  writeBackPasidEntry,
} from './coherency.js';
import { markOrphaned } from './cached-entries.js';
import { contextCacheLookup, invalidateContextCache, orphanContextCacheEntries } from './context-cache.js';
import { flushDomain, flushDetail, flushPasid, flushTornDownEntry } from './invalidate.js';
import { invalidatePasidCache, orphanPasidCacheEntries, pasidCacheLookup } from './pasid.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { allocDomainId, allocTable, getDomain, isPagingType, writableContext, writableContexts } from './state.js';
import type { WritableDeviceContext } from './state.js';
import { domainTypes } from './types.js';
import type { DeviceContext, DomainType, IommuState } from './types.js';

/** Source-ids are 16 bits (bus, device, function). */
export const DEVICE_ID_LIMIT = 0x10000;
/** `PASID_MAX`: PASIDs are 20 bits; PASID 0 is `IOMMU_NO_PASID` (requests without PASID). */
export const PASID_LIMIT = 2 ** 20;

export function isDeviceId(deviceId: number): boolean {
  return isNatural(deviceId) && deviceId < DEVICE_ID_LIMIT;
}

export function isPasid(pasid: number): boolean {
  return isNatural(pasid) && pasid >= 1 && pasid < PASID_LIMIT;
}

// ---------------------------------------------------------------------------------------------
// Domain allocation and free

export interface CreateDomainArgs {
  readonly type: DomainType;
  readonly nestingParent?: boolean;
}

export function createDomain(state: IommuState, args: CreateDomainArgs): OpResult {
  if (!domainTypes.includes(args.type)) return fail('EINVAL');
  const nestingParent = args.nestingParent ?? false;
  if (nestingParent && args.type !== 'unmanaged') return fail('EINVAL');
  const type: DomainType = args.type === 'dma-fq' && state.caps.cachingMode ? 'dma' : args.type;
  const domainId = allocDomainId(state);
  if (domainId === null) return fail('ENOSPC');
  let rootTableId: number | null = null;
  if (isPagingType(type)) {
    rootTableId = allocTable(state, domainId, 4);
    if (rootTableId === null) return fail('ENOMEM');
    state.flat[domainId] = [];
  }
  const domain = { domainId, type, nestingParent, rootTableId, flushQueue: [], parentDomainId: null };
  // `alloc_domain`: `first_level_by_default(type)` (`cache-tags.ts`); a nesting parent is second-level.
  const firstLevel = isPagingType(type) && !nestingParent && firstLevelByDefault(state.caps, type);
  state.domains[domainId] = firstLevel ? { ...domain, firstLevel: true, cacheTags: {} } : domain;
  return succeed(firstLevel ? { domainId, type, firstLevel } : { domainId, type });
}

/** A device translates through the domain, or a nested domain uses it as its stage 2. */
function domainInUse(state: IommuState, domainId: number): boolean {
  return (
    Object.values(state.contexts).some(
      (context) => context.domainId === domainId || Object.values(context.pasids).includes(domainId),
    ) || Object.values(state.domains).some((domain) => domain.parentDomainId === domainId)
  );
}

export function destroyDomain(state: IommuState, args: { readonly domainId: number }): OpResult {
  const domain = getDomain(state, args.domainId);
  if (domain === undefined) return fail('ENOENT');
  if (domainInUse(state, domain.domainId)) return fail('EBUSY');
  return releaseDomain(state, domain.domainId);
}

/**
 * The domain's memory and its DID go back, whatever still refers to them: what Linux does once the
 * software says no device is attached (`domain_detach_iommu` frees the DID with `ida_free`,
 * `intel_iommu_domain_free` → `domain_exit` frees the page-table pages; neither looks at the
 * hardware, and neither flushes — the detach's `domain_context_clear_one` did, §3.10). What the
 * hardware still holds under the DID — an IOTLB entry, a context entry pointing at it — stays, and
 * is marked `orphaned` (the model's mark for the invariants; the hardware has no such bit): the
 * next domain given the DID meets it. ENOENT for an unknown domain.
 */
export function releaseDomain(state: IommuState, domainId: number): OpResult {
  const domain = getDomain(state, domainId);
  if (domain === undefined) return fail('ENOENT');
  for (const [key, table] of Object.entries(state.tables)) {
    if (table.domainId !== domain.domainId) continue;
    delete state.tables[key];
    if (state.unflushed !== undefined) delete state.unflushed[key];
  }
  delete state.flat[domain.domainId];
  delete state.domains[domain.domainId];
  state.unsynced = state.unsynced.filter((pending) => pending.domainId !== domain.domainId);
  state.iotlb = markOrphaned(state.iotlb, domainId);
  if (Object.values(state.contexts).some((context) => context.domainId === domainId)) {
    for (const context of Object.values(writableContexts(state))) {
      if (context.domainId === domainId) context.orphaned = true;
    }
  }
  orphanPasidCacheEntries(state, domainId);
  orphanUnflushedPasids(state, domainId);
  orphanUnflushedContexts(state, domainId);
  orphanContextCacheEntries(state, domainId);
  return succeed({ domainId: domain.domainId, releasedEntries: domain.flushQueue.length });
}

// ---------------------------------------------------------------------------------------------
// Context entries (requests without PASID)

function contextOf(state: IommuState, deviceId: number): DeviceContext | undefined {
  return Object.hasOwn(state.contexts, deviceId) ? state.contexts[deviceId] : undefined;
}

/** Drops a context record that no longer points anywhere. */
function tidyContext(state: IommuState, deviceId: number, context: DeviceContext): void {
  if (context.domainId === null && Object.keys(context.pasids).length === 0) delete writableContexts(state)[deviceId];
}

export interface AttachDeviceArgs {
  readonly deviceId: number;
  readonly domainId: number;
}

export function attachDevice(state: IommuState, args: AttachDeviceArgs): OpResult {
  if (!isDeviceId(args.deviceId)) return fail('EINVAL');
  if (getDomain(state, args.domainId) === undefined) return fail('ENOENT');
  const context = contextOf(state, args.deviceId);
  if (context !== undefined && context.domainId !== null) return fail('EBUSY');
  recordContextWrite(state, args.deviceId);
  const own = writableContext(state, args.deviceId);
  if (own === undefined) writableContexts(state)[args.deviceId] = { domainId: args.domainId, pasids: {} };
  else own.domainId = args.domainId;
  // `domain_context_mapping_one`: the present entry written back (`!ecap_coherent`:
  // `clflush_cache_range(context, …)`) before `context_present_cache_flush`.
  writeBackContextEntry(state, args.deviceId);
  // `context_present_cache_flush`: with caching mode, a device-selective context-cache
  // invalidation of DID 0 (where such hardware caches not-present entries) and a DSI of the new
  // DID; without, the write-buffer flush alone (hardware caches no not-present entry).
  if (state.caps.cachingMode)
    invalidateContextCache(state, { granularity: 'device', domainId: 0, sourceId: args.deviceId });
  // `dmar_domain_attach_device`: the tag of (DID, IOMMU_NO_PASID).
  assignCacheTag(state, args.domainId, NO_PASID);
  const flush = state.caps.cachingMode ? flushDomain(state, args.domainId) : null;
  return succeed({ deviceId: args.deviceId, domainId: args.domainId, ...flushDetail(flush) });
}

export function detachDevice(state: IommuState, args: { readonly deviceId: number }): OpResult {
  const cleared = clearContext(state, args);
  const domainId = cleared.detail?.['domainId'];
  if (!cleared.ok || typeof domainId !== 'number') return cleared;
  // `domain_context_clear_one`: the cleared entry written back (`__iommu_flush_cache`) before the
  // context-cache and IOTLB invalidations that rely on it.
  writeBackContextEntry(state, args.deviceId);
  // `intel_context_flush_present(info, context, did, true)`: the device-selective context-cache
  // invalidation of (DID, source-id) first, then the IOTLB.
  invalidateContextCache(state, { granularity: 'device', domainId, sourceId: args.deviceId });
  // `device_block_translation`: the tag of (DID, IOMMU_NO_PASID) goes; the entry's teardown flushes
  // the DID (a second-level entry) or PASID 0 of it (a first-level one, scalable mode's
  // `intel_pasid_tear_down_entry(dev, IOMMU_NO_PASID)`).
  unassignCacheTag(state, domainId, NO_PASID);
  const flush = flushTornDownEntry(state, domainId, null);
  return succeed({ deviceId: args.deviceId, domainId, ...flushDetail(flush) });
}

/**
 * The context entry's write alone (`context_clear_entry`), without the write-back and the
 * invalidations that must follow it: `detachDevice` is this, the write-back, then the DSI of the
 * DID the entry held. Hardware that cached
 * the old entry's translations keeps them until that DSI. EINVAL for a bad source-id, ENODEV when
 * no entry is present; the detail names the DID the entry held.
 */
export function clearContext(state: IommuState, args: { readonly deviceId: number }): OpResult {
  if (!isDeviceId(args.deviceId)) return fail('EINVAL');
  const context = contextOf(state, args.deviceId);
  if (context === undefined || context.domainId === null) return fail('ENODEV');
  const domainId = context.domainId;
  recordContextWrite(state, args.deviceId);
  const own = writableContext(state, args.deviceId) as WritableDeviceContext;
  own.domainId = null;
  delete own.orphaned;
  tidyContext(state, args.deviceId, own);
  return succeed({ deviceId: args.deviceId, domainId });
}

// ---------------------------------------------------------------------------------------------
// PASID table entries (scalable mode)

export interface AttachPasidArgs {
  readonly deviceId: number;
  readonly pasid: number;
  readonly domainId: number;
}

/**
 * `intel_iommu_set_dev_pasid` via `iommu_attach_device_pasid`: the cache tag of (DID, PASID)
 * (`cache_tag_assign_domain`, a first-level domain's only: `cache-tags.ts`), then the PASID entry
 * (`setupPasidEntry`). EINVAL for a bad source-id or a PASID outside 1..2^20-1, ENODEV without
 * scalable mode (no PASID table), ENOENT for an unknown domain, EBUSY when the PASID entry is
 * already present (replacing requires a teardown first); a refusal leaves no tag (the real code
 * unassigns it on the way out).
 */
export function attachDevicePasid(state: IommuState, args: AttachPasidArgs): OpResult {
  const result = setupPasidEntry(state, args);
  if (result.ok) assignCacheTag(state, args.domainId, args.pasid);
  return result;
}

/**
 * The PASID entry's write alone, with the caching-mode flush of a new entry (`pasid_flush_caches`):
 * `intel_pasid_setup_second_level` (PGTT 2), or for a first-level domain
 * `intel_pasid_setup_first_level` (PGTT 1) — the same checks and the same flush. The refusals of
 * `attachDevicePasid`; the detail says which PGTT the entry got.
 */
export function setupPasidEntry(state: IommuState, args: AttachPasidArgs): OpResult {
  if (!isDeviceId(args.deviceId) || !isPasid(args.pasid)) return fail('EINVAL');
  if (!state.caps.scalableMode) return fail('ENODEV');
  if (getDomain(state, args.domainId) === undefined) return fail('ENOENT');
  const context = contextOf(state, args.deviceId);
  if (context !== undefined && Object.hasOwn(context.pasids, args.pasid)) return fail('EBUSY');
  recordPasidWrite(state, args.deviceId, args.pasid);
  const own = writableContext(state, args.deviceId);
  if (own === undefined)
    writableContexts(state)[args.deviceId] = { domainId: null, pasids: { [args.pasid]: args.domainId } };
  else own.pasids[args.pasid] = args.domainId;
  // `pasid_flush_caches`: the new entry written back (`!ecap_coherent`) before any invalidation.
  writeBackPasidEntry(state, args.deviceId, args.pasid);
  const dropped = state.caps.cachingMode ? flushPasid(state, args.domainId, args.pasid) : 0;
  return succeed({
    deviceId: args.deviceId,
    pasid: args.pasid,
    domainId: args.domainId,
    pgtt: getDomain(state, args.domainId)?.firstLevel === true ? 'first-level' : 'second-level',
    invalidation: state.caps.cachingMode ? 'pasid' : 'none',
    dropped,
  });
}

export interface DetachPasidArgs {
  readonly deviceId: number;
  readonly pasid: number;
}

/**
 * `intel_iommu_remove_dev_pasid` (iommu.c): the cache tag of (DID, PASID) unassigned
 * (`cache_tag_unassign_domain`), then `intel_pasid_tear_down_entry` (pasid.c): the entry cleared
 * (`clearPasidEntry`), the PASID-cache invalidation of (DID, PASID)
 * (`pasid_cache_invalidation_with_pasid`), then the IOTLB by the entry's PGTT (`flushTornDownEntry`):
 * a DSI of the DID for a second-level or nested entry (a PASID-based flush would not reach
 * second-level entries, VT-d 3.3 §6.5.3.3), `qi_flush_piotlb(did, pasid, 0, -1)` for a first-level
 * one (a DSI would not reach it). EINVAL for a bad source-id or PASID, ENODEV when the entry is not
 * present.
 */
export function detachDevicePasid(state: IommuState, args: DetachPasidArgs): OpResult {
  const domainBefore =
    isDeviceId(args.deviceId) && isPasid(args.pasid) ? pasidEntryDomainId(state, args.deviceId, args.pasid) : null;
  if (domainBefore !== null) unassignCacheTag(state, domainBefore, args.pasid);
  const cleared = clearPasidEntry(state, args);
  const domainId = cleared.detail?.['domainId'];
  if (!cleared.ok || typeof domainId !== 'number') return cleared;
  // The cleared entry written back (`!ecap_coherent`) before the invalidations that rely on it.
  writeBackPasidEntry(state, args.deviceId, args.pasid);
  const pasidCacheDropped = invalidatePasidCache(state, domainId, args.pasid);
  const flush = flushTornDownEntry(state, domainId, args.pasid);
  return succeed({ deviceId: args.deviceId, pasid: args.pasid, domainId, pasidCacheDropped, ...flushDetail(flush) });
}

/**
 * The PASID entry's write alone (`intel_pasid_clear_entry`), without the write-back and the
 * invalidations that must follow it: `detachDevicePasid` is this, the write-back, the PASID-cache
 * invalidation and the IOTLB flush. A PASID cache
 * that holds the old entry keeps translating through it until invalidated. EINVAL for a bad
 * source-id or PASID, ENODEV when no entry is present; the detail names the DID the entry held.
 */
export function clearPasidEntry(state: IommuState, args: DetachPasidArgs): OpResult {
  if (!isDeviceId(args.deviceId) || !isPasid(args.pasid)) return fail('EINVAL');
  const context = contextOf(state, args.deviceId);
  const domainId =
    context !== undefined && Object.hasOwn(context.pasids, args.pasid) ? context.pasids[args.pasid] : undefined;
  if (context === undefined || domainId === undefined) return fail('ENODEV');
  recordPasidWrite(state, args.deviceId, args.pasid);
  const own = writableContext(state, args.deviceId) as WritableDeviceContext;
  delete own.pasids[args.pasid];
  tidyContext(state, args.deviceId, own);
  return succeed({ deviceId: args.deviceId, pasid: args.pasid, domainId });
}

/** The DID the PASID table entry of (`deviceId`, `pasid`) names, the PASID cache aside; null when not present. */
export function pasidEntryDomainId(state: IommuState, deviceId: number, pasid: number): number | null {
  const context = contextOf(state, deviceId);
  if (context === undefined || !Object.hasOwn(context.pasids, pasid)) return null;
  return context.pasids[pasid] ?? null;
}

/**
 * The domain serving a request from `deviceId` with `pasid` (null = without PASID), if any: with a
 * PASID, the PASID cache's entry first (`pasid.ts`), else the PASID table's; without, the context
 * cache's entry first (`context-cache.ts`), else the context entry's. Both as memory holds them (`coherency.ts`: without coherent walks, an entry the CPU
 * changed and did not write back is still the old one).
 */
export function requestDomainId(state: IommuState, deviceId: number, pasid: number | null): number | null {
  if (pasid !== null && state.pasidCache !== undefined) {
    const cached = pasidCacheLookup(state, deviceId, pasid);
    if (cached !== undefined) return cached.domainId;
  }
  if (pasid !== null) return iommuPasidEntry(state, deviceId, pasid);
  const cached = state.contextCache === undefined ? undefined : contextCacheLookup(state, deviceId);
  return cached !== undefined ? cached.domainId : iommuContextEntry(state, deviceId);
}
