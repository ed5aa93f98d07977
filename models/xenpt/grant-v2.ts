/**
 * Grant table v2 and GNTTABOP_copy (the Xen model's `models/xen/grant-v2.ts`, `grant-copy.ts`) in the
 * Xen passthrough stack: the commands as the stack names them, each run as a Xen operation followed
 * by the stack's IOMMU sync (`xenOp` → `syncIommu`), and GNTTABOP_copy phased as the stack phases
 * its operations. Reference: docs/reference/xen-passthrough.md §9, docs/reference/xen.md §2.16–2.19.
 *
 * - XENMEM_add_to_physmap, XENMAPSPACE_grant_table (`mapGrantFrame`): xen/arch/x86/mm/p2m.c
 *   `xenmem_add_to_physmap_one` adds the frame with `p2m_add_page(d, gfn, mfn, PAGE_ORDER_4K,
 *   p2m_ram_rw)`, and `p2m_get_iommu_flags` (xen/arch/x86/include/asm/p2m.h) gives p2m_ram_rw
 *   `IOMMUF_readable | IOMMUF_writable`: a device of the domain reaches its grant-table frames
 *   (shared and v2 status frames) read/write at their gfn — through the EPT when the tables are
 *   shared, through the entry `ept_set_entry` maps with `iommu_legacy_map` when they are synced —
 *   and loses them when the frame leaves the p2m (`p2m_remove_page`: set_version back to v1,
 *   remapping, relinquish). The model's `grant_table` p2m entry is that p2m_ram_rw entry.
 * - GNTTABOP_set_version, GNTTABOP_get_status_frames, the granter's end of foreign access (v1:
 *   refused while GTF_reading/GTF_writing; v2: the entry cleared, the status word read): the Xen model's.
 * - GNTTABOP_copy, phased (`phased: true`): "claim" (`gnttab_copy_lock_domains`,
 *   `gnttab_copy_claim_buf`, the bounds: `startGrantCopy`) then, on `advance`, "memcpy"
 *   (`gnttab_copy_buf`, `gnttab_copy_release_buf`: `finishGrantCopy`); the claims (pins and page
 *   references) are held across the window, kept in the caller's `grantCopies`. The copy's reads
 *   and writes are Xen's on the caller's behalf, not DMA: they go to `XenState.lastGrantCopy`
 *   (C's copy invariants), never to the step's DMA `accesses`.
 * - Destruction of a domain whose vCPU is inside GNTTABOP_copy: xen/common/domain.c `domain_kill`
 *   starts with `domain_pause(d)`, whose `vcpu_sleep_sync` waits until every vCPU of the domain is
 *   descheduled — a vCPU in the (non-preemptible, for one segment) copy leaves the hypercall first.
 *   The model refuses XEN_DOMCTL_destroydomain with EBUSY while the domain's copy is in flight
 *   (`blocked`: it waits for that vCPU; the copy's advance needs nothing, so the wait ends) and the
 *   scheduler runs it later. A copy through the grant of a domain being destroyed goes on: its
 *   pin and page reference keep the frame (the granter stays a zombie until the copy releases it).
 */
import { fail } from '../result.js';
import type { OpResult } from '../result.js';
import { writableDomain } from '../xen/copy-on-write.js';
import { finishGrantCopy, grantCopy, startGrantCopy } from '../xen/grant-copy.js';
import type { GrantCopyArgs, GrantCopyPtr } from '../xen/grant-copy.js';
import { endAccess } from '../xen/grant-table.js';
import { getStatusFrames, mapGrantFrame, setGrantVersion, setUpGrantFrames } from '../xen/grant-v2.js';
import type { XenState } from '../xen/types.js';
import type { XenPtConfig, XenPtWorld } from './config.js';
import type { GrantCopyOp, XenPtOp, XenPtState } from './types.js';

/** `DOMID_SELF` (xen/include/public/xen.h): a copy pointer naming the caller (a gmfn, or a ref of its own table). */
export const DOMID_SELF = 0x7ff0;

/** The stack's grant v2 and copy commands (plain JSON; a copy's two pointers flattened). */
export type XenPtGrantV2Command =
  /** GNTTABOP_set_version by `domid` on its own table. */
  | { readonly kind: 'setGrantVersion'; readonly domid: number; readonly version: number }
  /** GNTTABOP_get_status_frames by `callerDomid` of `domid`'s table. */
  | {
      readonly kind: 'getStatusFrames';
      readonly callerDomid: number;
      readonly domid: number;
      readonly nrFrames: number;
    }
  /** XENMEM_add_to_physmap, XENMAPSPACE_grant_table: frame `idx` (a status frame when `status`) at `gfn`. */
  | {
      readonly kind: 'mapGrantFrame';
      readonly domid: number;
      readonly idx: number;
      readonly status: boolean;
      readonly gfn: number;
    }
  /** The granter ends foreign access to `ref` (gnttab_end_foreign_access_ref, v1 or v2). */
  | { readonly kind: 'endAccess'; readonly domid: number; readonly ref: number }
  /**
   * GNTTABOP_copy of one segment by `callerDomid`; each side a grant ref of `…Domid` (`…Gref`) or
   * a gmfn of the caller (`…Domid` DOMID_SELF); `phased`: claimed now, the memcpy on advance.
   */
  | {
      readonly kind: 'grantCopy';
      readonly callerDomid: number;
      readonly sourceDomid: number;
      readonly sourceGref: boolean;
      readonly sourceFrame: number;
      readonly sourceOffset: number;
      readonly destDomid: number;
      readonly destGref: boolean;
      readonly destFrame: number;
      readonly destOffset: number;
      readonly len: number;
      readonly phased?: boolean;
    };

export type XenPtGrantV2Kind = XenPtGrantV2Command['kind'];

export const xenPtGrantV2Kinds: readonly XenPtGrantV2Kind[] = [
  'setGrantVersion',
  'getStatusFrames',
  'mapGrantFrame',
  'endAccess',
  'grantCopy',
];

export function isXenPtGrantV2Kind(kind: string): kind is XenPtGrantV2Kind {
  return (xenPtGrantV2Kinds as readonly string[]).includes(kind);
}

function ptr(domid: number, gref: boolean, frame: number, offset: number): GrantCopyPtr {
  return { domid: domid === DOMID_SELF ? 'self' : domid, gref, frame, offset };
}

/** C's arguments of a copy command. */
export function grantCopyArgs(command: Extract<XenPtGrantV2Command, { kind: 'grantCopy' }>): GrantCopyArgs {
  return {
    callerDomid: command.callerDomid,
    source: ptr(command.sourceDomid, command.sourceGref, command.sourceFrame, command.sourceOffset),
    dest: ptr(command.destDomid, command.destGref, command.destFrame, command.destOffset),
    len: command.len,
  };
}

/** What the stack's step gives a grant v2 operation: its Xen op wrapper, and a phased start. */
export interface XenPtOpRunner<Step> {
  /** Runs a Xen operation on a copy of the state, then the IOMMU sync; a refusal leaves the state. */
  readonly xenOp: (run: (xen: XenState) => OpResult) => Step;
  /** Like `xenOp`, the operation left in flight as `op` when it succeeds and says so. */
  readonly xenOpInFlight: (run: (xen: XenState) => { result: OpResult; op?: XenPtOp }) => Step;
}

/** One grant v2 / copy command on the stack (`stepXenPt`'s dispatch). */
export function stepXenPtGrantV2<Step>(
  state: XenPtState,
  config: XenPtConfig,
  command: XenPtGrantV2Command,
  runner: XenPtOpRunner<Step>,
): Step {
  const xen = config.xen;
  switch (command.kind) {
    case 'setGrantVersion':
      return runner.xenOp((work) => setGrantVersion(work, xen, command));
    case 'getStatusFrames':
      return runner.xenOp((work) => getStatusFrames(work, command));
    case 'mapGrantFrame':
      return runner.xenOp((work) => mapGrantFrame(work, xen, command));
    case 'endAccess':
      return runner.xenOp((work) => endAccess(work, xen, command));
    case 'grantCopy': {
      const args = grantCopyArgs(command);
      if (command.phased !== true) return runner.xenOp((work) => grantCopy(work, xen, args).result);
      return runner.xenOpInFlight((work) => {
        const started = startGrantCopy(work, xen, args);
        if (started.pending === undefined) return { result: started.result };
        const incarnation = state.xen.domains[command.callerDomid]?.incarnation ?? 0;
        const op: GrantCopyOp = { kind: 'grantCopy', callerDomid: command.callerDomid, incarnation };
        return { result: started.result, op };
      });
    }
  }
}

/**
 * The memcpy and release of copy `op`, at `index` of `inflight` (before it was taken out): the
 * caller's copies in flight are kept in the order they started, in `grantCopies` and in
 * `inflight` alike, so its segment is the caller's copy number (its earlier copies in flight).
 */
export function advanceGrantCopy(
  xen: XenState,
  config: XenPtConfig,
  inflight: readonly XenPtOp[],
  op: GrantCopyOp,
  index: number,
): OpResult {
  const segment = inflight
    .slice(0, index)
    .filter((other) => other.kind === 'grantCopy' && other.callerDomid === op.callerDomid).length;
  return finishGrantCopy(xen, config.xen, op.callerDomid, segment).result;
}

/**
 * XEN_DOMCTL_destroydomain of a domain with a vCPU inside GNTTABOP_copy: `domain_pause` waits for
 * it (EBUSY, `blocked`), or null when none is.
 */
export function destroyWaitsForCopy(state: XenPtState, domid: number): OpResult | null {
  const copying = state.inflight.some((op) => op.kind === 'grantCopy' && op.callerDomid === domid);
  if (!copying) return null;
  return {
    ...fail('EBUSY', { waitsFor: 'GNTTABOP_copy' }),
    blocked: { waitsFor: `dom${domid}'s vCPU leaving GNTTABOP_copy (domain_pause)`, holds: [] },
  };
}

/**
 * The world's grant tables whose frames are host frames (`XenPtWorld.grantTableFrames`: the
 * domains that map them): `grant_table_init`'s shared frame, at start and at each creation.
 */
export function setUpWorldGrantFrames(xen: XenState, world: XenPtWorld, domid: number): void {
  // The domain's highest grant version, as the toolstack created it (`max_grant_version`).
  const max = world.domains[domid]?.maxGrantVersion;
  if (max !== undefined && xen.domains[domid]?.maxGrantVersion !== max) {
    const domain = writableDomain(xen, domid);
    if (domain !== undefined) domain.maxGrantVersion = max;
  }
  if (world.grantTableFrames?.includes(domid) === true) setUpGrantFrames(xen, domid);
}

/** The phase a copy in flight runs next. */
export const grantCopyPhase = 'memcpy';
