/**
 * Plain-data state and commands of the KVMGT stack (docs/reference/gvt-kvmgt.md §4, §1.11, §5.1): a
 * KVM guest whose RAM is the VMM process's memory, mapped into a VFIO container at IOVA == GPA, a
 * vGPU that is an emulated-IOMMU (mdev) device of that container, and the host IOMMU domain of the
 * physical GPU, through which every DMA address the mediator hands the GPU is translated.
 */
import type { GvtCommand } from '../gvt/commands.js';
import type { GvtOp } from '../gvt/inflight.js';
import type { OpResult } from '../result.js';
import type { GpuAccess, GuestPage, GvtVgpu, ShadowPte } from '../gvt/types.js';
import type { VfioState } from '../vfio/types.js';

/**
 * The physical GPU's DMA-API domain on the host (`dma_map_page` through the host IOMMU, strict
 * mode): DMA address page → frame. Free addresses are handed out last-freed first, so an address
 * a stale shadow entry still holds is the next one reused.
 */
export interface HostDmaDomain {
  /**
   * DMA address page → frame. Shared between copies of the state until one writes it
   * (`writableHostDmaMap`, `host.ts`; `../copy-on-write.ts`): only a map or an unmap does.
   */
  map: Readonly<Record<string, number>>;
  /** Free DMA address pages; the last one is handed out next. */
  free: number[];
}

export interface KvmgtState {
  vfio: VfioState;
  vgpu: GvtVgpu | null;
  guestPages: Record<string, GuestPage>;
  hostDma: HostDmaDomain;
  /** KVMGT's protect table: gfns write-tracked in KVM on the vGPU's behalf (each counted once). */
  writeProtected: number[];
  /** The VM was destroyed (guest crash or shutdown): the VMM released everything and is gone. */
  vmDestroyed: boolean;
  /**
   * The mediator's and the GPU's operations in flight, oldest first (`models/gvt/inflight.ts`):
   * trapped guest stores, PPGTT shadowing and batch submissions of the guest's vCPUs, and the
   * GPU's PPGTT access. The VMM's and the toolstack's commands are atomic.
   */
  inflight: GvtOp[];
  /**
   * Fault injection (issue 18): while armed, the `nth` attempt at `point` made by any single
   * command fails (`fault.ts`). Null: nothing fails but what the real system refuses.
   */
  fault: KvmgtFault | null;
  /**
   * The host GGTT entries of the vGPU's ranges while no vGPU owns them (issue 18, "hardware
   * outlives software"), by GGTT index as in `GvtVgpu.ggttHost`: what the last destroy left in the
   * hardware's table, for the next vGPU created over the same ranges. Null while a vGPU owns them
   * (they are its `ggttHost` then), and while they point at scratch throughout (as v6.12's destroy
   * leaves them).
   */
  releasedGgtt: ShadowPte[] | null;
}

/**
 * Where an injected fault strikes: `pin` (vfio_pin_pages in `gvt_pin_guest_page`), `dmaMap`
 * (`dma_map_page` in `gvt_dma_map_page`: dma_mapping_error), `cacheAdd` (the `gvt_dma` allocation
 * in `__gvt_cache_add`), `trackAdd` (`kvm_write_track_add_gfn` in `kvmgt_page_track_add`).
 */
export type KvmgtFaultPoint = 'pin' | 'dmaMap' | 'cacheAdd' | 'trackAdd';

export interface KvmgtFault {
  readonly point: KvmgtFaultPoint;
  readonly nth: number;
}

/** The mediator's commands that take time (`models/gvt/inflight.ts`). */
export type PhasedKind = 'guestWritePte' | 'ppgttCreate' | 'submitBatch' | 'gpuDmaPpgtt';

/** A mediator command; a kind that takes time may be started and left in flight (`phased: true`). */
export type KvmgtGvtCommand = GvtCommand extends infer C
  ? C extends { readonly kind: PhasedKind }
    ? C & { readonly phased?: boolean }
    : C
  : never;

export type KvmgtCommand =
  /** The mediator's own: page-table and command stores, PPGTT notifications, submission, GPU work. */
  | KvmgtGvtCommand
  // Guest actions (the guest is the attacker).
  /** A GGTT entry written through the trapped GTT MMIO range. */
  | {
      readonly kind: 'ggttWrite';
      readonly index: number;
      readonly gfn: number;
      readonly present: boolean;
      readonly sizeBytes: number;
      readonly offsetBytes: number;
      /** Started and left in flight: translated, its entries not yet written (`models/gvt/ggtt-phased.ts`). */
      readonly phased?: boolean;
    }
  // Host actions: the VMM's memory and the toolstack.
  /** The VMM removes guest RAM `[gfn, gfn + npages)` from the container (VFIO_IOMMU_UNMAP_DMA, IOVA == GPA). */
  | { readonly kind: 'vmmUnmapRam'; readonly gfn: number; readonly npages: number }
  /** The VMM maps guest RAM into the container again (VFIO_IOMMU_MAP_DMA). */
  | { readonly kind: 'vmmMapRam'; readonly gfn: number; readonly npages: number }
  /** The VMM unplugs guest RAM: munmap of its vaddrs (the frames go unless something pins them). */
  | { readonly kind: 'vmmUnplugRam'; readonly gfn: number; readonly npages: number }
  /** The VMM plugs guest RAM back in: mmap of its vaddrs, faulted in on first touch. */
  | { readonly kind: 'vmmPlugRam'; readonly gfn: number; readonly npages: number }
  /** Another VM takes the next free frame. */
  | { readonly kind: 'otherVmAllocate' }
  /** Another VM frees frame `mfn`. */
  | { readonly kind: 'otherVmRelease'; readonly mfn: number }
  | { readonly kind: 'vgpuCreate' }
  | { readonly kind: 'vgpuDestroy' }
  /** The guest crashes or shuts down: the VMM closes the vGPU, unmaps and releases guest RAM, and exits. */
  | { readonly kind: 'vmDestroy' }
  /** Arm fault injection: the `nth` attempt at `point` of each later command fails, until cleared. */
  | { readonly kind: 'injectFault'; readonly point: KvmgtFaultPoint; readonly nth: number }
  /** Disarm fault injection. */
  | { readonly kind: 'clearFault' }
  // Device actions.
  /** The GPU accesses the page at GGTT index `entry`. */
  | { readonly kind: 'gpuDma'; readonly entry: number; readonly write: boolean }
  /** The next phase of the operation in flight at index `op` (oldest first). */
  | { readonly kind: 'advance'; readonly op: number };

export type KvmgtCommandKind = KvmgtCommand['kind'];

/** An operation's answer plus where the GPU's accesses of the step landed. */
export interface KvmgtResult extends OpResult {
  readonly accesses: readonly GpuAccess[];
}
