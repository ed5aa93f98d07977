/**
 * Configuration of the VFIO type1 model, and the deliberate bugs it can carry.
 *
 * A bug is a named deviation from the reference (`shared/reference/semantics.md` §1): flawed
 * variants of the stack are built from them, and the meta-tests show that the generic invariants
 * catch each one (`views.ts` says which view exposes which bug). A correct model runs with none.
 */
export const vfioBugs = [
  /** vfio_unmap_unpin removes the translations and uncharges locked_vm but never unpins the pages. */
  'unmap-skips-unpin',
  /** A MAP_DMA that fails part-way unmaps and frees the mapping but leaves the pages it pinned pinned. */
  'map-failure-leaks-pins',
  /** Unpinning IOMMU-path pages (unmap, release, detach) never uncharges mm->locked_vm. */
  'locked-vm-not-uncharged',
  /** The mediated driver's dma_unmap callback returns without unpinning (the kernel then BUG_ONs). */
  'mdev-ignores-unmap',
  /** MAP_DMA skips the overlap search: a second mapping over the same IOVA replaces its translations. */
  'overlap-not-checked',
] as const;

export type VfioBug = (typeof vfioBugs)[number];

export interface VfioConfig {
  readonly bugs: readonly VfioBug[];
}

export function hasVfioBug(config: VfioConfig, bug: VfioBug): boolean {
  return config.bugs.includes(bug);
}
