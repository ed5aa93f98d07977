/**
 * Nested translation (docs/reference/vtd.md §3.6): a nested domain on a nesting parent. The parent is an
 * `unmanaged` second-level domain allocated as a nesting parent (VFIO type 6, or an iommufd
 * nesting-parent HWPT) whose table maps GPA → frame; the nested domain carries a guest's
 * first-level table (GIOVA → GPA), which lives in guest memory and is walked by DMA (`dma.ts`,
 * given the table). The IOTLB caches the combined GIOVA → frame translation under the nested
 * domain's DID.
 *
 * Caches: first-stage entries that are not present are never cached, even with caching mode
 * (§3.4), so a guest's new first-level entry is visible at once; a changed or removed one stays
 * cached until the guest asks for an invalidation (`invalidateNested`, IOMMU_HWPT_INVALIDATE: the
 * host never learns of first-level edits otherwise, §3.7 inv. 8). A stage-2 change flushes the
 * nested domains on the parent (`invalidate.ts`, §3.7 inv. 7).
 *
 * Order of checks of `createNestedDomain` (`intel_nested_domain_alloc` and attach): unknown parent
 * → ENOENT; a parent that is not an `unmanaged` nesting parent → EINVAL; no free DID → ENOSPC. Of
 * `invalidateNested` (`intel_nested_cache_invalidate_user`, one entry): unknown domain → ENOENT;
 * not a nested domain → EINVAL; npages 'all' with an address other than 0, or npages below 1 →
 * EINVAL.
 *
 * Left out: the nested HWPT's data (`pgtbl_addr`, address width, SRE/WPE/EAFE flags and their
 * capability checks), 5-level first-level tables, first-level superpages (every first-level leaf is
 * 4 KiB), accessed/dirty bits, the walk of first-level table pages through stage 2 (the table is
 * handed over as data), device-TLB invalidation, the LEAF flag, batches of invalidation entries.
 */
import { isNatural } from './address.js';
import type { IommuConfig } from './config.js';
import { flushDetail, flushDomain, flushRange } from './invalidate.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { allocDomainId, getDomain } from './state.js';
import type { IommuState } from './types.js';

export function createNestedDomain(state: IommuState, args: { readonly parentDomainId: number }): OpResult {
  const parent = getDomain(state, args.parentDomainId);
  if (parent === undefined) return fail('ENOENT');
  if (parent.type !== 'unmanaged' || !parent.nestingParent) return fail('EINVAL');
  const domainId = allocDomainId(state);
  if (domainId === null) return fail('ENOSPC');
  state.domains[domainId] = {
    domainId,
    type: 'nested',
    nestingParent: false,
    rootTableId: null,
    flushQueue: [],
    parentDomainId: parent.domainId,
  };
  return succeed({ domainId, parentDomainId: parent.domainId });
}

export interface InvalidateNestedArgs {
  readonly domainId: number;
  readonly iovaPage: number;
  /** Pages from `iovaPage`, or `all` (U64_MAX: the whole first-level address space, at address 0). */
  readonly npages: number | 'all';
}

/**
 * IOMMU_HWPT_INVALIDATE of a nested domain, as a VMM forwards a guest's first-level invalidation:
 * the covering aligned block of GIOVA pages (a PASID-based page-selective flush), or every entry of
 * the domain for `all`.
 */
export function invalidateNested(state: IommuState, config: IommuConfig, args: InvalidateNestedArgs): OpResult {
  const domain = getDomain(state, args.domainId);
  if (domain === undefined) return fail('ENOENT');
  if (domain.type !== 'nested') return fail('EINVAL');
  if (!isNatural(args.iovaPage)) return fail('EINVAL');
  if (args.npages === 'all') {
    if (args.iovaPage !== 0) return fail('EINVAL');
    const flush = flushDomain(state, domain.domainId);
    return succeed({ ...flushDetail(flush), dropped: flush.dropped });
  }
  if (!isNatural(args.npages) || args.npages < 1) return fail('EINVAL');
  const flush = flushRange(state, config, domain.domainId, args.iovaPage, args.iovaPage + args.npages - 1);
  return succeed({ ...flushDetail(flush), dropped: flush.dropped });
}
