/**
 * Plain-data state of the XenGT stack: the Xen world, the GVT-g mediator's vGPU serving one
 * guest domain, the guest's memory contents as the mediator reads them, the gfns the mediator's
 * ioreq server write-protects, and the operations in flight (`inflight.ts`).
 */
import type { GpuAccess, GuestPage, GvtVgpu, ShadowPte } from '../gvt/types.js';
import type { XenFaultPoint } from '../xen/fault.js';
import type { OpResult } from '../result.js';
import type { XenState } from '../xen/types.js';
import type { XenGtOp } from './inflight.js';

export interface XenGtState {
  xen: XenState;
  /** The vGPU of the guest (`config.guestDomid`), or null before creation / after destruction. */
  vgpu: GvtVgpu | null;
  /** The guest's memory contents by gfn (pages never written read as zero). */
  guestPages: Record<string, GuestPage>;
  /**
   * Gfns of the guest claimed by the backend's ioreq server (p2m_ioreq_server): a guest store to
   * one of them is forwarded to the mediator after it reached memory.
   */
  writeProtected: number[];
  /**
   * Operations started and not finished, oldest first (what an `advance` picks among). A step
   * replaces the list, never edits it: steps share it with the state before them.
   */
  inflight: readonly XenGtOp[];
  /**
   * Fault injection (`fault.ts`): the `nth` attempt at `point` of each later command fails. Null:
   * nothing fails but what the real system refuses.
   */
  fault: XenGtFault | null;
  /**
   * The host GGTT entries the hardware keeps of the vGPU's ranges after the vGPU was destroyed,
   * as the KVMGT stack keeps them (`models/gvt/vgpu.ts` `releasedGgttOf`): null when destroy
   * left them on scratch, or while a vGPU owns the ranges.
   */
  releasedGgtt: ShadowPte[] | null;
}

/** An armed fault: the `nth` attempt at `point` of each command fails. */
export interface XenGtFault {
  readonly point: XenFaultPoint;
  readonly nth: number;
}

/** An operation's answer plus where the GPU's accesses of the step landed. */
export interface XenGtResult extends OpResult {
  readonly accesses: readonly GpuAccess[];
}
