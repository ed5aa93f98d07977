/**
 * The vGPU's `dma_unmap` op, as a hook a design supplies (kvmgt.c `intel_vgpu_dma_unmap`,
 * docs/reference/gvt-kvmgt.md §4.7): VFIO calls it when the VMM's UNMAP_DMA removes a range of
 * guest RAM the vGPU has pinned pages in, and the op must let go of them before VFIO goes on
 * (with pins left, VFIO retries and the kernel BUG_ONs). The hook reads the state and returns what
 * the op does, in the mediator's own calls (`KvmgtUnmapAction`); the stack performs them in order.
 *
 * A hook is pure: it returns a new list and never modifies the state or anything else it is given
 * (the engine's purity guard, `strict`, reports a step that changed its input as a crash).
 *
 * The built-in ops are written with it: `releaseShadows` (`kvmgt/unmap-callback`: every shadow
 * entry that uses a page of the range pointed at scratch, then the page unmapped and unpinned) and
 * `dropCache` (the op as shipped, `kvmgt/shipped-unmap`: the cache entries removed whatever their
 * references, the shadow entries holding their DMA addresses left dangling). An op that returns
 * nothing is the driver that ignores the call (`kvmgt/ignores-unmap` reaches the same through the
 * VFIO bug `mdev-ignores-unmap`).
 */
import type { DmaCacheEntry } from '../gvt/types.js';
import type { KvmgtState } from './types.js';

/** A call the op makes, performed by the stack. */
export type KvmgtUnmapAction =
  /**
   * Points every shadow entry of the vGPU (its GGTT entries and PPGTT leaves) that holds DMA
   * address `dmaAddr` at the scratch page. Their DMA cache references are not given back.
   */
  | { readonly kind: 'scratchShadowUsers'; readonly dmaAddr: number }
  /**
   * `gvt_dma_unmap_page` then `__gvt_cache_remove_entry`: the DMA cache entry of guest page `gfn`
   * unmapped for the GPU (dma_unmap_page), unpinned (vfio_unpin_pages) and removed, whatever its
   * references. Nothing when the cache has no entry for `gfn`.
   */
  | { readonly kind: 'removeCacheEntry'; readonly gfn: number };

/** VFIO's call of the op. */
export interface KvmgtUnmapRequest {
  /** The state as VFIO calls the op, in the middle of UNMAP_DMA. Do not modify. */
  readonly state: KvmgtState;
  /** The IOVA (= GPA) pages being unmapped: [iovaPage, iovaPage + npages). */
  readonly iovaPage: number;
  readonly npages: number;
  /** The vGPU's DMA cache entries whose guest page lies in the range, in cache order. */
  readonly entries: readonly DmaCacheEntry[];
}

/** The vGPU's `dma_unmap` op: what it does for an unmapped range, in order. */
export type KvmgtUnmapCallback = (request: KvmgtUnmapRequest) => readonly KvmgtUnmapAction[];

/** The shorthand names of the built-in ops. */
export type KvmgtUnmapCallbackName = 'release-shadows' | 'drop-cache';

/** `kvmgt/unmap-callback`: each entry's shadow users pointed at scratch, then the entry released. */
export const releaseShadows: KvmgtUnmapCallback = ({ entries }) =>
  entries.flatMap((entry): KvmgtUnmapAction[] => [
    { kind: 'scratchShadowUsers', dmaAddr: entry.dmaAddr },
    { kind: 'removeCacheEntry', gfn: entry.gfn },
  ]);

/** As shipped (§4.7): each entry released whatever its references; shadow entries left in place. */
export const dropCache: KvmgtUnmapCallback = ({ entries }) =>
  entries.map((entry): KvmgtUnmapAction => ({ kind: 'removeCacheEntry', gfn: entry.gfn }));
