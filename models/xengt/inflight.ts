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
 * - `unmapGrantRef`: GNTTABOP_unmap_grant_ref (`models/xen/grant-table.ts`), split where
 *   `unmap_common` drops the grant table and active entry locks (xen/common/grant_table.c):
 *   phase 1 checks the handle, removes the host mapping and frees the handle
 *   (`put_maptrack_handle` runs after `grant_read_unlock`); phase 2 (`complete`) is the batch's
 *   `gnttab_flush_tlb` and `unmap_common_complete`, which takes the locks again to drop the page
 *   references and pins recorded in the op. Meanwhile other vCPUs map (and may reuse the handle),
 *   end access, balloon. The mapper's own vCPU is in the hypercall until phase 2.
 * - `decreaseReservation`: XENMEM_decrease_reservation of one gfn (`guest_remove_page`,
 *   xen/common/memory.c): phase 1 takes the temporary reference and removes the gfn from the p2m
 *   (`guest_physmap_remove_page`, with the IOMMU unmap and its flush); phase 2 (`put`) is
 *   `put_page_alloc_ref` and `put_page`, the frame freed if that was the last reference. The gfn's
 *   p2m lock (`get_gfn_query` … `put_gfn`) is held throughout, so nothing that reads or writes the
 *   domain's p2m runs in between (`step.ts` refuses it, EBUSY): what runs is other domains' work,
 *   the GPU, and releases of other references to the frame.
 * - `mapGrantRef`: GNTTABOP_map_grant_ref (`models/xen/grant-table.ts`), split where
 *   `map_grant_ref` drops the active entry's lock and the granter's grant-table read lock after
 *   pinning (xen/common/grant_table.c): phase 1 takes the maptrack handle, checks, sets the status
 *   bits, translates a first pin's gfn with a page reference (`get_paged_frame`) and raises the pin
 *   counters; phase 2 (`map`) reads the page's owner with its reference, takes the second
 *   reference, makes the host mapping and writes the maptrack entry, or unwinds (`undo_out`).
 *   Meanwhile the granter may end access (refused: GTF_reading is set), balloon the gfn out (the
 *   frame survives on a first pin's reference; an already pinned entry's may be freed: phase 2
 *   then finds it is not the granter's, XSA-236), or be destroyed; the mapper's other vCPUs map
 *   and unmap (the handle is taken: not live, not free). The mapper's vCPU is in the hypercall.
 * - `destroyDomain`: the toolstack's XEN_DOMCTL_destroydomain (`models/xen/destroy.ts`), split
 *   where `domain_kill` returns -ERESTART and is continued (xen/common/domain.c): phase 1 pauses
 *   the domain, marks it dying and releases its grant mappings (`domain_teardown` →
 *   `gnttab_release_mappings`); phase 2 (`relinquish`) is `domain_relinquish_resources`
 *   (`relinquish_p2m_mapping`, `relinquish_memory`), then dead once no one else holds its frames.
 *   Meanwhile the other domains run (maps of its grants are refused, GNTST_bad_domain), the GPU
 *   runs (the guest's vGPU went first), and the domain's own vCPUs stay paused.
 */
import type { GgttWritePending } from '../gvt/ggtt.js';
import type { GrantMapInFlight, GrantUnmapInFlight } from '../xen/grant-table.js';
import type { BalloonInFlight } from '../xen/memory-op.js';
import type { DomainTeardownInFlight } from '../xen/destroy.js';
import type { GgttDmaInFlight } from '../gvt/gpu-commands.js';
import type { GpuAccess } from '../gvt/types.js';
import type { XenBackendCall } from './backend.js';
import type { XenGtConfig } from './config.js';
import { hasXenGtBug } from './config.js';

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

/** A grant unmap between `unmap_common` and `unmap_common_complete` (`models/xen/grant-table.ts`). */
export interface GrantUnmapOp {
  readonly kind: 'unmapGrantRef';
  readonly pending: GrantUnmapInFlight;
}

/** A balloon-out between the p2m removal and the page puts (`models/xen/memory-op.ts`). */
export interface BalloonOp {
  readonly kind: 'decreaseReservation';
  readonly pending: BalloonInFlight;
}

/** A grant map between its pin (locks dropped) and its references and mapping (`models/xen/grant-table.ts`). */
export interface GrantMapOp {
  readonly kind: 'mapGrantRef';
  readonly pending: GrantMapInFlight;
}

/** A domain teardown between `domain_kill`'s first call and its continuation (`models/xen/destroy.ts`). */
export interface TeardownOp {
  readonly kind: 'destroyDomain';
  readonly pending: DomainTeardownInFlight;
}

export type XenGtOp = GgttWriteOp | GgttDmaOp | GrantUnmapOp | BalloonOp | GrantMapOp | TeardownOp;

/** The most operations in flight at once: an `advance`'s index is below it (its schema's bound). */
export const MAX_IN_FLIGHT = 64;

/** The XenGT kinds that have phases, and how many. */
export const xenGtPhases: Readonly<Record<string, number>> = {
  gttWrite: 2,
  gpuDma: 2,
  unmapGrantRef: 2,
  decreaseReservation: 2,
  mapGrantRef: 2,
  destroyDomain: 2,
};

/** The next phase of an operation in flight, in the real code's words. */
export function nextPhase(op: XenGtOp): string {
  switch (op.kind) {
    case 'gttWrite':
      return 'shadow';
    case 'gpuDma':
      return 'access';
    case 'unmapGrantRef':
      return op.pending.putFirst === true ? 'remove mapping' : 'complete';
    case 'decreaseReservation':
      return op.pending.putFirst === true ? 'remove p2m entry' : 'put';
    case 'mapGrantRef':
      return 'map';
    case 'destroyDomain':
      return 'relinquish';
  }
}

/**
 * The domain whose hypercall an operation in flight is (its vCPU is in it), or null (the
 * mediator's, the GPU's, the toolstack's teardown: its domctl is dom0's, whose vCPU the model
 * does not pause).
 */
export function hypercallDomain(op: XenGtOp): number | null {
  if (op.kind === 'unmapGrantRef' || op.kind === 'mapGrantRef') return op.pending.mapperDomid;
  if (op.kind === 'decreaseReservation') return op.pending.domid;
  return null;
}

/** The page references an operation in flight holds on `mfn` that no table records any more. */
export function inflightRefs(op: XenGtOp, mfn: number): number {
  if (op.kind === 'unmapGrantRef' && op.pending.putFirst !== true && op.pending.mfn === mfn) {
    return (op.pending.host ? 1 : 0) + (op.pending.device ? 1 : 0);
  }
  // The allocation reference and the temporary one (the frees-outright bug takes no temporary one:
  // its phase 2 frees the frame whatever it holds, which the accounting invariants catch anyway).
  if (op.kind === 'decreaseReservation' && op.pending.putFirst !== true && op.pending.mfn === mfn) return 2;
  // A first pin's reference, taken by get_paged_frame under the lock.
  if (op.kind === 'mapGrantRef' && op.pending.pageRef && op.pending.mfn === mfn) return 1;
  return 0;
}

/** The maptrack handles of `mapperDomid` that its grant maps in flight took and have not written yet. */
export function reservedHandles(inflight: readonly XenGtOp[], mapperDomid: number): number[] {
  return inflight.flatMap((op) =>
    op.kind === 'mapGrantRef' && op.pending.mapperDomid === mapperDomid ? [op.pending.handle] : [],
  );
}

/** The GPU accesses in flight that an IOTLB flush of `dmaAddr` drains (translated through it, not landed). */
export function drainedBy(op: XenGtOp, dmaAddr: number): op is GgttDmaOp {
  return (
    op.kind === 'gpuDma' && op.landed === undefined && op.dma.outcome === 'translated' && op.dma.dmaAddr === dmaAddr
  );
}

/**
 * Waits (issue 18, `src/waits.ts`): the resources of the locks and facts above, by name. The
 * vGPU's lock (`vgpu->vgpu_lock`, held by a trapped GGTT write from trap to shadow write); a guest
 * vCPU (blocked on its ioreq while its trapped write is emulated); a domain's p2m lock (held by its
 * balloon-out in flight, `guest_remove_page`'s `get_gfn_query` … `put_gfn`); a domain's vCPUs in
 * hypercalls (its destruction waits for them to leave, `domain_kill` pausing the domain).
 */
export const VGPU_LOCK = "the vGPU's lock";

export function vcpuResource(vcpu: number): string {
  return `guest vCPU${vcpu}`;
}

export function p2mLock(domid: number): string {
  return `dom${domid}'s p2m lock`;
}

export function inHypercall(domid: number): string {
  return `dom${domid}'s vCPUs in hypercalls`;
}

/**
 * What an operation in flight holds between its phases and what its next phase takes: a trapped
 * write its vCPU and the vGPU's lock (with `unlocked-translate` the mediator dropped the lock while
 * the backend translated: its shadow write takes it again); a balloon-out its domain's p2m lock; a
 * hypercall its domain's vCPU; a grant map whose next phase makes the host mapping the mapper's p2m
 * lock (`map_grant_ref` → `create_grant_host_mapping`). A GPU access, a grant unmap past
 * `unmap_common` (its locks dropped) and a teardown's continuation hold no lock.
 */
export function opHolds(config: XenGtConfig, op: XenGtOp): { holds: string[]; needs: string | null } {
  const hypercall = hypercallDomain(op);
  const held = hypercall === null ? [] : [inHypercall(hypercall)];
  switch (op.kind) {
    case 'gttWrite': {
      const unlocked = hasXenGtBug(config, 'unlocked-translate');
      return {
        holds: unlocked ? [vcpuResource(op.vcpu)] : [vcpuResource(op.vcpu), VGPU_LOCK],
        needs: unlocked ? VGPU_LOCK : null,
      };
    }
    case 'decreaseReservation':
      return { holds: [p2mLock(op.pending.domid), ...held], needs: null };
    case 'mapGrantRef':
      return { holds: held, needs: op.pending.host ? p2mLock(op.pending.mapperDomid) : null };
    case 'unmapGrantRef':
      return { holds: held, needs: null };
    case 'gpuDma':
    case 'destroyDomain':
      return { holds: [], needs: null };
  }
}
