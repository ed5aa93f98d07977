/**
 * Configuration of the VT-d model: the deliberate bugs it can carry.
 *
 * A bug is a named deviation from the reference (`docs/reference/vtd.md` §3), injected into
 * the page-table or cache-invalidation code only — never into the flat reference map — so that the
 * exported checks (`pageTableMatchesFlat`, `staleIotlbOutsideFlushQueue`, …) can catch each one.
 * A correct model runs with no bugs.
 */
import type { WriteBackHook } from './coherency.js';

export const iommuBugs = [
  /** Strict unmap clears the PTEs but issues no IOTLB invalidation (caught by stale-IOTLB views). */
  'unmap-skips-iotlb-invalidate',
  /** Draining a flush queue releases its entries without the domain-wide flush (stale-IOTLB views). */
  'flush-queue-skips-iotlb',
  /**
   * Page-selective invalidation takes the mask from the page count alone and forgets to widen it
   * when the range straddles the block boundary (the misalignment case of
   * `calculate_psi_aligned_address`): the tail of the range stays cached (stale-IOTLB views).
   */
  'psi-mask-too-small',
  /** With caching mode, map skips the not-present→present flush: cached faults survive (stale views). */
  'caching-mode-map-skips-flush',
  /** Map writes over a present leaf instead of keeping it (caught by `pageTableMatchesFlat`). */
  'map-ignores-existing',
  /**
   * Unmapping part of a superpage neither rounds up nor removes the superpage: it reports the
   * requested size and leaves the leaf mapped (caught by `pageTableMatchesFlat`).
   */
  'partial-unmap-keeps-superpage',
  /** Clearing a range stops at the end of the first last-level table it touches (`pageTableMatchesFlat`). */
  'unmap-stops-at-table-boundary',
  /**
   * A stage-2 range flush of a nesting parent invalidates the parent's own DID but not its nested
   * domains' tags (no CACHE_TAG_NESTING_IOTLB flush): combined entries built through the changed
   * stage-2 translation survive it (stale-IOTLB views).
   */
  'stage2-flush-skips-nested-tags',
  /**
   * A lazy unmap's flush-queue entry is queued before its PTE clear is visible (dma-iommu.c
   * `queue_iova` orders them with `smp_mb()`): a flush between the two releases the entry while the
   * PTEs are still there, a DMA refills the IOTLB from them, and the clear that follows has no
   * flush left to wait for (`unmap.ts`). Only a window shows it.
   */
  'fq-queues-before-pte-clear',
] as const;

export type IommuBug = (typeof iommuBugs)[number];

/**
 * What a stack built on the VT-d model can make the IOMMU do, which a bug's code path needs (read
 * off the model code: the call that asks `hasIommuBug` and what reaches it):
 * - `strict-invalidation`: an unmap on a domain without a flush queue, invalidated before it returns;
 * - `flush-queue`: a `dma-fq` domain whose unmaps wait in a flush queue for the timer;
 * - `page-selective-invalidation`: a range flush (a strict unmap, or a map in caching mode);
 * - `caching-mode`: the IOMMU caches not-present entries (an emulated VT-d with CM=1);
 * - `map-over-present`: a map of an IOVA page that is already mapped;
 * - `partial-superpage-unmap`: an unmap of part of a 2M or 1G leaf;
 * - `unmap-across-leaf-tables`: an unmap whose range spans two last-level tables;
 * - `nested-domain`: a nested domain over a nesting parent (first-level over stage-2 translation).
 */
export type IommuStackFeature =
  | 'strict-invalidation'
  | 'flush-queue'
  | 'page-selective-invalidation'
  | 'caching-mode'
  | 'map-over-present'
  | 'partial-superpage-unmap'
  | 'unmap-across-leaf-tables'
  | 'nested-domain';

/** How a refusal says a stack lacks a feature: "the <stack> …". */
export const iommuFeatureMissing: Readonly<Record<IommuStackFeature, string>> = {
  'strict-invalidation': 'has no domain that invalidates on unmap (every unmap waits in a flush queue)',
  'flush-queue': 'has no flush queue (every domain invalidates on unmap)',
  'page-selective-invalidation': 'never flushes a page range (no strict unmap, no caching mode)',
  'caching-mode': 'has no IOMMU in caching mode',
  'map-over-present': 'never maps an IOVA page that is already mapped',
  'partial-superpage-unmap': 'never unmaps part of a superpage',
  'unmap-across-leaf-tables': 'never unmaps a range that spans two last-level tables',
  'nested-domain': 'has no nested domain',
};

/** What a bug needs of a stack, and what then never happens (the refusal's "so …"). */
export const iommuBugNeeds: Readonly<
  Record<IommuBug, { readonly needs: readonly IommuStackFeature[]; readonly otherwise: string }>
> = {
  'unmap-skips-iotlb-invalidate': {
    needs: ['strict-invalidation'],
    otherwise: 'no unmap issues the invalidation the bug skips',
  },
  'flush-queue-skips-iotlb': { needs: ['flush-queue'], otherwise: 'no flush queue is ever drained' },
  'fq-queues-before-pte-clear': { needs: ['flush-queue'], otherwise: 'no unmap is ever queued' },
  'psi-mask-too-small': {
    needs: ['page-selective-invalidation'],
    otherwise: 'no page-selective invalidation mask is ever computed',
  },
  'caching-mode-map-skips-flush': {
    needs: ['caching-mode'],
    otherwise: 'a map never flushes cached not-present entries',
  },
  'map-ignores-existing': { needs: ['map-over-present'], otherwise: 'no map ever meets a present leaf' },
  'partial-unmap-keeps-superpage': {
    needs: ['partial-superpage-unmap'],
    otherwise: 'no unmap ever splits a superpage',
  },
  'unmap-stops-at-table-boundary': {
    needs: ['unmap-across-leaf-tables'],
    otherwise: 'no unmap ever reaches a second last-level table',
  },
  'stage2-flush-skips-nested-tags': {
    needs: ['nested-domain'],
    otherwise: 'no stage-2 flush has nested tags to skip',
  },
};

export interface IommuConfig {
  readonly bugs: readonly IommuBug[];
  /**
   * Without coherent walks (`caps.coherentWalks` false): which of the PTEs a map or unmap path
   * wrote it writes back (`domain_flush_cache`); default all (`coherency.ts` `writeBackAll`).
   */
  readonly writeBack?: WriteBackHook;
}

export function hasIommuBug(config: IommuConfig, bug: IommuBug): boolean {
  return config.bugs.includes(bug);
}
