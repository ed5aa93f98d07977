/**
 * Commands of the XenGT stack, as data. Every field is a concrete value: domids, gfns, refs and
 * handles are numbers from small universes, so operations collide and invalid requests occur.
 * (Generators may write a field as a pick from the live set; `properties/xengt/resolve.ts`
 * turns that into one of these before the step runs, and the trace records the result.)
 * The mediator's own commands (page-table stores, PPGTT notifications, batch submission, the
 * GPU's PPGTT accesses and execution) are `GvtCommand`, shared with the KVMGT stack.
 */
import type { GvtCommand } from '../gvt/commands.js';
import { gvtCommandKinds } from '../gvt/commands.js';
import type { XenFaultPoint } from '../xen/fault.js';

/** Run the next phase of in-flight operation `op` (index into `XenGtState.inflight`, oldest first). */
export interface XenGtAdvance {
  readonly kind: 'advance';
  readonly op: number;
}

export type XenGtCommand =
  | GvtCommand
  | XenGtAdvance
  // Guest actions (the guest is the attacker).
  /**
   * Guest vCPU `vcpu` (0 when absent) writes GGTT entry `entry` with `gfn` through the trapped MMIO
   * range: the whole 8-byte entry, or (`sizeBytes` 4) the half at `offsetBytes` 0 or 4, the entry
   * then reading `present`/`gfn` in the guest's copy (absent: 8 bytes at offset 0, as before the
   * halves were modelled). `phased`: the emulation stops after the backend's translation
   * (`inflight.ts`), the shadow entry written by a later `advance`.
   */
  | {
      readonly kind: 'gttWrite';
      readonly entry: number;
      readonly gfn: number;
      readonly present: boolean;
      readonly sizeBytes?: number;
      readonly offsetBytes?: number;
      readonly vcpu?: number;
      readonly phased?: boolean;
    }
  /**
   * XENMEM_decrease_reservation by `domid` of its own `gfn` (balloon out). `phased`: the gfn leaves
   * the p2m, and the page's references are put by a later `advance` (`inflight.ts`).
   */
  | { readonly kind: 'decreaseReservation'; readonly domid: number; readonly gfn: number; readonly phased?: boolean }
  /** XENMEM_populate_physmap by `domid` at `gfn` (balloon in; another domain taking a free frame). */
  | { readonly kind: 'populatePhysmap'; readonly domid: number; readonly gfn: number }
  /** Granter `domid` writes grant entry `ref`: grantee, gfn, read-only flag. */
  | {
      readonly kind: 'grantAccess';
      readonly domid: number;
      readonly ref: number;
      readonly granteeDomid: number;
      readonly gfn: number;
      readonly readonly: boolean;
    }
  /** Granter `domid` ends foreign access to `ref` (v1). */
  | { readonly kind: 'endAccess'; readonly domid: number; readonly ref: number }
  // Host and hypervisor actions.
  /**
   * GNTTABOP_map_grant_ref issued by `mapperDomid`. `phased`: the checks and the pin run under the
   * granter's locks, and the page references, the host mapping and the maptrack entry (or the
   * unwind) at a later `advance` (`inflight.ts`).
   */
  | {
      readonly kind: 'mapGrantRef';
      readonly mapperDomid: number;
      readonly granterDomid: number;
      readonly ref: number;
      readonly host: boolean;
      readonly device: boolean;
      readonly readonly: boolean;
      readonly hostAddr: number | null;
      readonly phased?: boolean;
    }
  /**
   * GNTTABOP_unmap_grant_ref issued by `mapperDomid`. `phased`: `unmap_common` runs (mapping
   * removed, handle freed), and the TLB flush and `unmap_common_complete` (pins and page
   * references dropped) run at a later `advance` (`inflight.ts`).
   */
  | {
      readonly kind: 'unmapGrantRef';
      readonly mapperDomid: number;
      readonly handle: number;
      readonly hostAddr: number | null;
      readonly devBusAddr: number | null;
      readonly phased?: boolean;
    }
  /** XENMEM_add_to_physmap (gmfn_foreign) by `domid` at its `gfn`. */
  | {
      readonly kind: 'mapForeign';
      readonly domid: number;
      readonly gfn: number;
      readonly foreignDomid: number;
      readonly foreignGfn: number;
    }
  /** XENMEM_remove_from_physmap by `domid` of a foreign entry at `gfn`. */
  | { readonly kind: 'unmapForeign'; readonly domid: number; readonly gfn: number }
  /**
   * The toolstack destroys domain `domid` (a guest crash or shutdown). `phased`: `domain_kill`
   * stops after the domain is marked dying and its grant mappings are released, and its
   * continuation relinquishes the p2m and memory at a later `advance` (`inflight.ts`).
   */
  | { readonly kind: 'destroyDomain'; readonly domid: number; readonly phased?: boolean }
  /**
   * The toolstack creates domain `domid` again (XEN_DOMCTL_createdomain at that domid, then
   * populate_physmap of its RAM): EEXIST until the old domain is fully gone (`models/xen/create.ts`).
   */
  | { readonly kind: 'createDomain'; readonly domid: number }
  /** Arm fault injection: the `nth` attempt at `point` of each later command fails, until cleared (`fault.ts`). */
  | { readonly kind: 'injectFault'; readonly point: XenFaultPoint; readonly nth: number }
  /** Disarm fault injection. */
  | { readonly kind: 'clearFault' }
  /** The toolstack destroys the vGPU. */
  | { readonly kind: 'vgpuDestroy' }
  /** The toolstack creates a vGPU for the guest. */
  | { readonly kind: 'vgpuCreate' }
  // Device actions.
  /**
   * The GPU performs a DMA through GTT entry `entry`. `phased`: translated at fetch, landing at a
   * later `advance` (or when an IOTLB flush drains it).
   */
  | { readonly kind: 'gpuDma'; readonly entry: number; readonly write: boolean; readonly phased?: boolean };

export type XenGtCommandKind = XenGtCommand['kind'];

/** The Xen side of the stack: Xen's operations, the guest's GTT writes and the GPU's DMA through the GTT. */
export const xenGtXenCommandKinds: readonly XenGtCommandKind[] = [
  'gttWrite',
  'decreaseReservation',
  'populatePhysmap',
  'grantAccess',
  'endAccess',
  'mapGrantRef',
  'unmapGrantRef',
  'mapForeign',
  'unmapForeign',
  'destroyDomain',
  'createDomain',
  'vgpuDestroy',
  'vgpuCreate',
  'injectFault',
  'clearFault',
  'gpuDma',
];

export const xenGtCommandKinds: readonly XenGtCommandKind[] = [...xenGtXenCommandKinds, ...gvtCommandKinds];
