/**
 * IOTLB invalidation (docs/reference/vtd.md §3.3): page-selective within a domain (PSI: DID + naturally
 * aligned 2^AM-page block), domain-selective (DSI: every entry with the DID) and global. Linux's
 * policy for a range (`cache_tag_flush_range`): one aligned block covering it, replaced by a DSI when
 * the IOMMU lacks PSI or the mask exceeds MAMV.
 *
 * DID-based invalidations (PSI and DSI) drop entries of every PASID tag carrying the DID: all
 * translations in the model are second-level or nested, for which VT-d uses DID-based flushes (§3.3,
 * PASID teardown for SL uses DSI). PASID-based IOTLB invalidation is used only for the caching-mode
 * flush of a new PASID entry.
 *
 * A flush of a nesting parent also flushes each nested domain on it (Linux: the parent's
 * CACHE_TAG_NESTING_IOTLB tags, §3.6; §3.7 inv. 7). That DID-based invalidation carries a stage-2
 * (GPA) address, while combined entries are indexed by GIOVA, so it drops every combined entry of
 * the nested DID, whatever its address.
 *
 * Every invalidation drains the translated requests it covers (`requests.ts`) before it completes.
 *
 * Left out: context-cache and PASID-cache invalidation (those caches are not modelled), device-TLB
 * invalidation, register-based vs queued submission, the invalidation-wait descriptor.
 */
import { PAGE_SIZE_BYTES, isNatural } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { iotlbDrop, iotlbEntryPages, psiBlock } from './iotlb.js';
import { drainRequests } from './requests.js';
import { fail, succeed } from '../result.js';
import type { OpResult, ResultDetail } from '../result.js';
import type { IommuState } from './types.js';

/** What one invalidation covered: a PSI block, or a DSI (`pages` null = the whole domain). */
export interface Flush {
  readonly granularity: 'psi' | 'dsi';
  readonly domainId: number | null;
  readonly addrPage: number | null;
  readonly pages: number | null;
  /** IOTLB entries it dropped. */
  readonly dropped: number;
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
  drainRequests(state, (request) => request.domainId === domainId);
  const dropped = iotlbDrop(state, (entry) => entry.domainId === domainId);
  return { granularity: 'dsi', domainId, addrPage: null, pages: null, dropped };
}

/** DSI: drops every entry tagged with the DID, and every entry of the nested domains on it. */
export function flushDomain(state: IommuState, domainId: number): Flush {
  const flush = dropDomain(state, domainId);
  return { ...flush, dropped: flush.dropped + flushNestedChildren(state, domainId) };
}

/** PASID-based IOTLB invalidation of all of one (DID, PASID) tag. */
export function flushPasid(state: IommuState, domainId: number, pasid: number): number {
  drainRequests(state, (request) => request.domainId === domainId && request.pasid === pasid);
  return iotlbDrop(state, (entry) => entry.domainId === domainId && entry.pasid === pasid);
}

/**
 * `cache_tag_flush_range` for the inclusive page range [startPage, lastPage] of a domain: a PSI of
 * the covering aligned block, or a DSI when PSI is unsupported or the mask exceeds MAMV; then the
 * flush of each nested domain on it.
 */
export function flushRange(
  state: IommuState,
  config: IommuConfig,
  domainId: number,
  startPage: number,
  lastPage: number,
): Flush {
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
      entry.domainId === domainId && entry.iovaPage < end && block.addrPage < entry.iovaPage + iotlbEntryPages(entry),
  );
  return { granularity: 'psi', domainId, addrPage: block.addrPage, pages, dropped };
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
