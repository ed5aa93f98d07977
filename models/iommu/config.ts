/**
 * Configuration of the VT-d model: the deliberate bugs it can carry.
 *
 * A bug is a named deviation from the reference (`docs/reference/vtd.md` §3), injected into
 * the page-table or cache-invalidation code only — never into the flat reference map — so that the
 * exported checks (`pageTableMatchesFlat`, `staleIotlbOutsideFlushQueue`, …) can catch each one.
 * A correct model runs with no bugs.
 */
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
] as const;

export type IommuBug = (typeof iommuBugs)[number];

export interface IommuConfig {
  readonly bugs: readonly IommuBug[];
}

export function hasIommuBug(config: IommuConfig, bug: IommuBug): boolean {
  return config.bugs.includes(bug);
}
