/**
 * What the mediator needs from its hypervisor (GVT-g's `intel_gvt_mpt` ops): turning a guest gfn
 * into a DMA address the GPU can use and back, write-protecting guest pages, reading guest memory,
 * and, for the model's GPU, where a DMA address lands. KVMGT and XenGT each implement it over
 * their own state; the mediator code in this folder is the same for both.
 */
import type { GuestPage, GvtWorld } from './types.js';

export type DmaMapResult =
  { readonly ok: true; readonly dmaAddr: number } | { readonly ok: false; readonly errno: string };

export interface GvtHost<W extends GvtWorld> {
  /**
   * Pin the guest page and map it for the GPU (KVMGT: vfio_pin_pages + dma_map_page). `pages`
   * (default 1): a 2M map (`huge2m.ts`), pinning that many pages from `gfn` and mapping them at
   * as many DMA addresses from the one returned; a host that cannot refuses it.
   */
  dmaMap(world: W, gfn: number, pages?: number): DmaMapResult;
  /**
   * The DMA cache's allocation of an entry for a page `dmaMap` just mapped (`__gvt_cache_add`'s
   * kzalloc): false when it fails. Absent: it never fails.
   */
  cacheAdd?(world: W, gfn: number): boolean;
  /**
   * Undo `dmaMap` for a cache entry whose last reference went (dma_unmap_page + vfio_unpin_pages):
   * `pages` (default 1) from `gfn` and `dmaAddr` (`gvt_dma_unmap_page(..., entry->size)`).
   */
  dmaUnmap(world: W, gfn: number, dmaAddr: number, pages?: number): void;
  /** Write-protect a guest page (KVM page track); an errno name when refused. */
  trackAdd(world: W, gfn: number): string | null;
  trackRemove(world: W, gfn: number): void;
  /** The guest page at `gfn` as the mediator reads it (vfio_dma_rw), or `null` if it cannot be read. */
  readGuest(world: W, gfn: number): GuestPage | null;
  /** Where a GPU access to `dmaAddr` lands: a frame, or `null` for an IOMMU fault. */
  translate(world: W, dmaAddr: number): number | null;
  /** Owner of a frame (`null` when free). */
  frameOwner(world: W, mfn: number): number | null;
}
