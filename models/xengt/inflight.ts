/**
 * The XenGT stack's operations that take time, as plain data: what each has done and what its
 * next phase needs. A phased command started with `phased: true` runs its first phase and leaves
 * its operation here; `advance` runs the next phase (`step.ts`).
 *
 * - `gttWrite`: the mediator's emulation of a trapped GGTT write (`models/gvt/ggtt.ts`), split
 *   where the XenGT backend's hypercall returns. Phase 1 (on the trap, the guest's vCPU blocked
 *   on its ioreq): the backend translates the gfn — `lookup` reads the mfn with no reference,
 *   `map` maps the page into its p2m with one. Phase 2 (`shadow`): the mediator takes the DMA
 *   cache's reference, stores the guest's entry, releases the old host entry and writes the new
 *   one — it hands the address to the GPU. The vGPU's lock is held from trap to shadow write
 *   (`intel_vgpu_emulate_mmio_write` takes `vgpu->vgpu_lock`), so meanwhile only Xen, other
 *   domains, the guest's other vCPUs and the GPU run: Deegan's race lives exactly there.
 * - `gpuDma`: the GPU's access through a GGTT entry (`models/gvt/gpu-commands.ts`). Phase 1: the
 *   command is fetched and its graphics address translated (host entry → DMA address → frame,
 *   the IOTLB filled). Phase 2 (`access`): the write or read lands in that frame. Xen's IOTLB
 *   flush drains it earlier when the translation it used is removed (`host.ts`): it is then
 *   recorded as `landed` and reported by the step that flushed.
 */
import type { GgttWritePending } from '../gvt/ggtt.js';
import type { GgttDmaInFlight } from '../gvt/gpu-commands.js';
import type { GpuAccess } from '../gvt/types.js';
import type { XenBackendCall } from './backend.js';

/** A trapped GGTT write whose backend translation is done and whose shadow entry is not written yet. */
export interface GgttWriteOp {
  readonly kind: 'gttWrite';
  /** The guest vCPU that trapped (blocked on its ioreq until the write is emulated). */
  readonly vcpu: number;
  readonly pending: GgttWritePending;
  /** The backend's calls kept for the hand-over (`XenGtMapPlan.handOver`), made before the shadow write. */
  readonly handOver?: readonly XenBackendCall[];
}

/** A GPU access through the GGTT, translated at fetch and not landed yet. */
export interface GgttDmaOp {
  readonly kind: 'gpuDma';
  readonly dma: GgttDmaInFlight;
  /** Set by an IOTLB flush that drained the access: where it landed (the step reports it). */
  readonly landed?: GpuAccess;
}

export type XenGtOp = GgttWriteOp | GgttDmaOp;

/** The most operations in flight at once: an `advance`'s index is below it (its schema's bound). */
export const MAX_IN_FLIGHT = 64;

/** The XenGT kinds that have phases, and how many. */
export const xenGtPhases: Readonly<Record<string, number>> = { gttWrite: 2, gpuDma: 2 };

/** The next phase of an operation in flight, in the real code's words. */
export function nextPhase(op: XenGtOp): string {
  return op.kind === 'gttWrite' ? 'shadow' : 'access';
}

/** The GPU accesses in flight that an IOTLB flush of `dmaAddr` drains (translated through it, not landed). */
export function drainedBy(op: XenGtOp, dmaAddr: number): op is GgttDmaOp {
  return op.kind === 'gpuDma' && op.landed === undefined && op.dma.outcome === 'translated' && op.dma.dmaAddr === dmaAddr;
}
