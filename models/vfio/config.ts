/**
 * Configuration of the VFIO type1 model, and the deliberate bugs it can carry.
 *
 * A bug is a named deviation from the reference (`docs/reference/vfio-type1.md` §1): flawed
 * variants of the stack are built from them, and the meta-tests show that the generic invariants
 * catch each one (`views.ts` says which view exposes which bug). A correct model runs with none.
 */
import type { VfioDevice, VfioState } from './types.js';

export const vfioBugs = [
  /** vfio_unmap_unpin removes the translations and uncharges locked_vm but never unpins the pages. */
  'unmap-skips-unpin',
  /** A MAP_DMA that fails part-way unmaps and frees the mapping but leaves the pages it pinned pinned. */
  'map-failure-leaks-pins',
  /** Unpinning IOMMU-path pages (unmap, release, detach) never uncharges mm->locked_vm. */
  'locked-vm-not-uncharged',
  /** The mediated driver's dma_unmap callback returns without unpinning (the kernel then BUG_ONs). */
  'mdev-ignores-unmap',
  /**
   * The generic mediated driver calls vfio_unpin_pages over a whole range, including IOVAs it
   * never pinned: the container-wide vfio_pfn counts drop under another driver's feet.
   */
  'mdev-unpins-foreign-pins',
  /** MAP_DMA treats the task as if it had CAP_IPC_LOCK: RLIMIT_MEMLOCK is never checked for the mapping. */
  'map-skips-memlock-check',
  /** Removing a mapping forgets to give its slot back (dma_avail is not incremented). */
  'unmap-leaks-dma-slot',
  /** Closing a device fd skips the driver's close_device: its external pins and I/O outlive it. */
  'close-keeps-pins',
  /** MAP_DMA skips the overlap search: a second mapping over the same IOVA replaces its translations. */
  'overlap-not-checked',
] as const;

export type VfioBug = (typeof vfioBugs)[number];

/**
 * The `dma_unmap` and `close_device` ops of a mediated driver that lives outside the VFIO model
 * (KVMGT's vGPU). When set they replace the generic mediated driver's for `mdev` devices; they run
 * on the state VFIO passes them, as the kernel calls a driver's op with the container locked.
 */
export interface MediatedDriverOps {
  dmaUnmap(state: VfioState, device: VfioDevice, iovaPage: number, npages: number): void;
  close(state: VfioState, device: VfioDevice): void;
}

export interface VfioConfig {
  readonly bugs: readonly VfioBug[];
  readonly mdevOps?: MediatedDriverOps;
}

export function hasVfioBug(config: VfioConfig, bug: VfioBug): boolean {
  return config.bugs.includes(bug);
}
