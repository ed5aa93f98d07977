/**
 * IOTLB invalidation (docs/reference/vtd.md §3.3): page-selective within a domain (PSI: DID + naturally
 * aligned 2^AM-page block), domain-selective (DSI: every entry with the DID) and global. Linux's
 * policy for a range (`cache_tag_flush_range`): one aligned block covering it, replaced by a DSI when
 * the IOMMU lacks PSI or the mask exceeds MAMV.
 *
 * DID-based invalidations (PSI and DSI, the IOTLB invalidate descriptor) drop the second-level and
 * nested entries of every PASID tag carrying the DID, and never a first-level entry: in scalable
 * mode first-level translations are invalidated by the PASID-based IOTLB invalidation (P_IOTLB,
 * `qi_flush_piotlb`, granularity all-of-a-PASID `QI_GRAN_NONG_PASID` or page-selective
 * `QI_GRAN_PSI_PASID`) alone, which is why v6.12's `cache_tag_flush_iotlb` issues it for a
 * `use_first_level` domain and `intel_pasid_tear_down_entry` for a PGTT 1 entry (§3.3, §3.12). A
 * first-level domain's flushes are therefore one PASID-based invalidation per cache tag
 * (`cache-tags.ts`); a request without PASID fills entries tagged with PASID 0 (RID2PASID) for
 * them. The PASID-based flush of a new PASID entry under caching mode (`flushPasid`) keeps the
 * model's earlier reach (every entry of the tag), which only matters for cached not-present
 * entries of second-level domains.
 *
 * A flush of a nesting parent also flushes each nested domain on it (Linux: the parent's
 * CACHE_TAG_NESTING_IOTLB tags, §3.6; §3.7 inv. 7). That DID-based invalidation carries a stage-2
 * (GPA) address, while combined entries are indexed by GIOVA, so it drops every combined entry of
 * the nested DID, whatever its address.
 *
 * Every invalidation drains the translated requests it covers (`requests.ts`) before it completes.
 *
 * Left out: context-cache invalidation (that cache is not modelled; the PASID cache's is in
 * `pasid.ts`), device-TLB invalidation, register-based vs queued submission, the invalidation-wait
 * descriptor, the IH hint, and the WARN of `qi_desc_piotlb` (the block is always aligned here).
 */
import { PAGE_SIZE_BYTES, isNatural } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { NO_PASID, cacheTagPasids, isFirstLevelDomain } from './cache-tags.js';
import { iotlbDrop, iotlbEntryPages, psiBlock } from './iotlb.js';
import type { PsiBlock } from './iotlb.js';
import { drainRequests } from './requests.js';
import { fail, succeed } from '../result.js';
import type { OpResult, ResultDetail } from '../result.js';
import { getDomain } from './state.js';
import type { IotlbEntry, IommuState, TranslatedRequest } from './types.js';

/**
 * What one invalidation covered: a PSI block, or a DSI (`pages` null = the whole domain); for a
 * first-level domain, `pasid` (its tags' PASID-based invalidations, page-selective or whole).
 */
export interface Flush {
  readonly granularity: 'psi' | 'dsi' | 'pasid';
  readonly domainId: number | null;
  readonly addrPage: number | null;
  readonly pages: number | null;
  /** IOTLB entries it dropped. */
  readonly dropped: number;
}

/** Whether an IOTLB entry was filled by a first-level walk (only PASID-based flushes reach it). */
export function isFirstLevelEntry(entry: IotlbEntry): boolean {
  return entry.kind === 'translation' && entry.firstLevel === true;
}

/** A DID-based invalidation drains the requests of its DID translated by a second-level domain. */
function drainsDidBased(state: IommuState, request: TranslatedRequest, domainId: number): boolean {
  return request.domainId === domainId && !isFirstLevelDomain(state, domainId);
}

/** The nested domains whose stage 2 is `parentDomainId`. */
export function nestedChildren(state: IommuState, parentDomainId: number): number[] {
  return Object.values(state.domains)
    .filter((domain) => domain.parentDomainId === parentDomainId)
    .map((domain) => domain.domainId);
}

/** The nesting tags' flushes of a stage-2 change: every entry of each nested domain on the parent. */
function flushNestedChildren(state: IommuState, parentDomainId: number): number {
  const children = nestedChildren(state, parentDomainId);
  if (children.length === 0) return 0;
  drainRequests(state, (request) => children.includes(request.domainId));
  return iotlbDrop(state, (entry) => children.includes(entry.domainId));
}

function dropDomain(state: IommuState, domainId: number): Flush {
  drainRequests(state, (request) => drainsDidBased(state, request, domainId));
  const dropped = iotlbDrop(state, (entry) => entry.domainId === domainId && !isFirstLevelEntry(entry));
  return { granularity: 'dsi', domainId, addrPage: null, pages: null, dropped };
}

/**
 * DSI: drops every second-level and nested entry tagged with the DID, and every entry of the
 * nested domains on it.
 */
export function flushDomain(state: IommuState, domainId: number): Flush {
  const flush = dropDomain(state, domainId);
  return { ...flush, dropped: flush.dropped + flushNestedChildren(state, domainId) };
}

/**
 * The caching-mode flush of a new PASID entry (`pasid_flush_caches` → `qi_flush_piotlb(did, pasid,
 * 0, -1)`): every entry of one (DID, PASID) tag.
 */
export function flushPasid(state: IommuState, domainId: number, pasid: number): number {
  drainRequests(state, (request) => request.domainId === domainId && request.pasid === pasid);
  return iotlbDrop(state, (entry) => entry.domainId === domainId && entry.pasid === pasid);
}

/**
 * `cache_tag_flush_range` for the inclusive page range [startPage, lastPage] of a domain: a PSI of
 * the covering aligned block, or a DSI when PSI is unsupported or the mask exceeds MAMV; then the
 * flush of each nested domain on it. A first-level domain: a page-selective PASID-based
 * invalidation of the block per cache tag (`cache_tag_flush_iotlb`; no MAMV fallback there).
 */
export function flushRange(
  state: IommuState,
  config: IommuConfig,
  domainId: number,
  startPage: number,
  lastPage: number,
): Flush {
  if (isFirstLevelDomain(state, domainId)) {
    return flushCacheTags(state, domainId, psiBlock(config, startPage, lastPage));
  }
  const own = flushOwnRange(state, config, domainId, startPage, lastPage);
  if (hasIommuBug(config, 'stage2-flush-skips-nested-tags')) return own;
  return { ...own, dropped: own.dropped + flushNestedChildren(state, domainId) };
}

function flushOwnRange(
  state: IommuState,
  config: IommuConfig,
  domainId: number,
  startPage: number,
  lastPage: number,
): Flush {
  const block = psiBlock(config, startPage, lastPage);
  if (!state.caps.pageSelectiveInvalidation || block.mask > state.caps.maxAddressMaskValue) {
    return dropDomain(state, domainId);
  }
  const pages = 2 ** block.mask;
  const end = block.addrPage + pages;
  drainRequests(
    state,
    (request) => request.domainId === domainId && request.iovaPage >= block.addrPage && request.iovaPage < end,
  );
  const dropped = iotlbDrop(
    state,
    (entry) =>
      entry.domainId === domainId &&
      !isFirstLevelEntry(entry) &&
      entry.iovaPage < end &&
      block.addrPage < entry.iovaPage + iotlbEntryPages(entry),
  );
  return { granularity: 'psi', domainId, addrPage: block.addrPage, pages, dropped };
}

/**
 * `qi_flush_piotlb(iommu, did, pasid, addr, npages, ih)` (dmar.c, `qi_desc_piotlb` in iommu.h): the
 * PASID-based IOTLB invalidation, of the first-level entries tagged (DID, PASID) in `block`, or of
 * all of them (`block` null: `npages` -1, `QI_GRAN_NONG_PASID`). Second-level and nested entries are
 * not reached. A request without PASID is tagged PASID 0 (`IOMMU_NO_PASID`) here. Returns how many
 * entries it dropped.
 */
export function flushPasidBased(state: IommuState, domainId: number, pasid: number, block: PsiBlock | null): number {
  const end = block === null ? 0 : block.addrPage + 2 ** block.mask;
  const inBlock = (first: number, pages: number): boolean =>
    block === null || (first < end && block.addrPage < first + pages);
  if (isFirstLevelDomain(state, domainId)) {
    drainRequests(
      state,
      (request) =>
        request.domainId === domainId && (request.pasid ?? NO_PASID) === pasid && inBlock(request.iovaPage, 1),
    );
  }
  return iotlbDrop(
    state,
    (entry) =>
      isFirstLevelEntry(entry) &&
      entry.domainId === domainId &&
      (entry.pasid ?? NO_PASID) === pasid &&
      inBlock(entry.iovaPage, iotlbEntryPages(entry)),
  );
}

/** A first-level domain's flush: one PASID-based invalidation per cache tag (`block` null: all). */
function flushCacheTags(state: IommuState, domainId: number, block: PsiBlock | null): Flush {
  const domain = getDomain(state, domainId);
  let dropped = 0;
  for (const pasid of domain === undefined ? [] : cacheTagPasids(domain)) {
    dropped += flushPasidBased(state, domainId, pasid, block);
  }
  const pages = block === null ? null : 2 ** block.mask;
  return { granularity: 'pasid', domainId, addrPage: block?.addrPage ?? null, pages, dropped };
}

/**
 * `cache_tag_flush_all`: the whole domain, through each of its tags — a DSI for a second-level
 * domain (and its nested domains), a PASID-based invalidation of all of each tag's PASID for a
 * first-level one. What a flush queue's drain issues (`flush_iotlb_all`).
 */
export function flushAllTags(state: IommuState, domainId: number): Flush {
  return isFirstLevelDomain(state, domainId) ? flushCacheTags(state, domainId, null) : flushDomain(state, domainId);
}

/**
 * The IOTLB step of `intel_pasid_tear_down_entry` (pasid.c) for the entry of `pasid` (null: the
 * RID2PASID entry, PASID 0) that named `domainId`: a PASID-based invalidation of all of that PASID
 * for a first-level entry (PGTT 1), a DSI for a second-level or nested one. The PGTT is read off the
 * domain (a freed domain's entry counts as second-level).
 */
export function flushTornDownEntry(state: IommuState, domainId: number, pasid: number | null): Flush {
  if (!isFirstLevelDomain(state, domainId)) return flushDomain(state, domainId);
  const dropped = flushPasidBased(state, domainId, pasid ?? NO_PASID, null);
  return { granularity: 'pasid', domainId, addrPage: null, pages: null, dropped };
}

/** A result detail describing the flush an operation issued (or none). */
export function flushDetail(flush: Flush | null): ResultDetail {
  return {
    invalidation: flush === null ? 'none' : flush.granularity,
    flushIovaPage: flush?.addrPage ?? null,
    flushPages: flush?.pages ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Commands: explicit invalidations, as a driver (or a guest driving an emulated IOMMU) issues them.

export interface InvalidatePageArgs {
  readonly domainId: number;
  readonly iova: number;
  readonly sizeBytes: number;
}

/**
 * Invalidates [iova, iova + sizeBytes) of a DID: PSI of the covering block, or DSI. The range must
 * be page-aligned and non-empty (EINVAL). An unknown DID simply matches nothing.
 */
export function invalidatePage(state: IommuState, config: IommuConfig, args: InvalidatePageArgs): OpResult {
  if (!isNatural(args.domainId) || !isNatural(args.iova) || !isNatural(args.sizeBytes)) return fail('EINVAL');
  if (args.iova % PAGE_SIZE_BYTES !== 0 || args.sizeBytes % PAGE_SIZE_BYTES !== 0 || args.sizeBytes === 0) {
    return fail('EINVAL');
  }
  const startPage = args.iova / PAGE_SIZE_BYTES;
  const flush = flushRange(state, config, args.domainId, startPage, startPage + args.sizeBytes / PAGE_SIZE_BYTES - 1);
  return succeed({ ...flushDetail(flush), dropped: flush.dropped });
}

export function invalidateDomain(state: IommuState, args: { readonly domainId: number }): OpResult {
  if (!isNatural(args.domainId)) return fail('EINVAL');
  const flush = flushDomain(state, args.domainId);
  return succeed({ ...flushDetail(flush), dropped: flush.dropped });
}

export function invalidateGlobal(state: IommuState): OpResult {
  drainRequests(state, () => true);
  const dropped = state.iotlb.length;
  state.iotlb = [];
  return succeed({ invalidation: 'global', flushIovaPage: null, flushPages: null, dropped });
}
