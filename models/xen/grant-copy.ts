/**
 * GNTTABOP_copy: Xen copies bytes between two frames for the caller, each named by a grant ref of
 * another domain (GNTCOPY_source_gref / GNTCOPY_dest_gref) or by a gmfn of the caller
 * (DOMID_SELF). Reference: docs/reference/xen.md §2.18.
 *
 * Source (xen-project/xen at c447b7308b, xen/common/grant_table.c): `gnttab_copy` (a batch; the
 * model runs batches of one segment), `gnttab_copy_one`, `gnttab_copy_lock_domains` /
 * `gnttab_copy_lock_domain`, `gnttab_copy_claim_buf` → `acquire_grant_for_copy` (a grant ref) or
 * `get_paged_frame` (a gmfn), `get_page_type(PGT_writable_page)` for the destination,
 * `gnttab_copy_buf` (the bounds, the `memcpy`), `gnttab_copy_release_buf` →
 * `release_grant_for_copy`, `put_page_type`, `put_page`.
 *
 * What a claim holds: through a grant ref, a transient pin (`act->pin += GNTPIN_hstr_inc` for the
 * source, `GNTPIN_hstw_inc` for the destination: a grant copied from while mapped by the caller
 * shares its active entry), the status bits set as for a map (`_set_status`, in the v1 entry or
 * the v2 status word), and one page reference (`get_paged_frame`, or
 * `page_get_owner_and_reference` on an entry already pinned); through a gmfn, the page reference.
 * The release undoes the pin (`reduce_status_for_pin`) and puts the reference.
 *
 * Phases: `startGrantCopy` is the hypercall up to the `memcpy` (locks, claims, bounds), leaving the
 * claimed segment in the caller's `grantCopies`; `finishGrantCopy` is the `memcpy` and the release
 * of both buffers. Between the two, other vCPUs run (the pins and references are what keep the
 * frames). `grantCopy` runs both. The frames the `memcpy` touched are returned (`accesses`) and
 * recorded in `XenState.lastGrantCopy`: on x86-64 `map_domain_page` is the direct map, so bytes
 * beyond a page land in the next machine frame.
 *
 * Decisions as hooks (`GrantCopyChecks`, Xen's `soundGrantCopy`): the bounds of the segment, the
 * write pin of a read-only grant, when the claims are released.
 *
 * Simplified / left out: sub-page and transitive grants (every buffer is a whole page, offset 0,
 * length 4096, so the buffer bounds follow from the page bounds); batches of more than one segment
 * and their buffer reuse (`gnttab_copy_buf_valid`), preemption (`count - i`), -EFAULT; the type
 * reference of the destination is checked (a frame typed as anything but writable is
 * GNTST_general_error) but not counted; paging and sharing (no GNTST_eagain); a gmfn or granted
 * gfn must be RAM (`ram_rw`), as for grant maps in `grant-table.ts`; XSM allows every copy.
 */
import { getRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { XenConfig } from './config.js';
import { writableActiveEntry, writableDomain, writableMemory } from './copy-on-write.js';
import { grantStatusBits, setGrantStatusBits } from './grant-status.js';
import { PIN_COUNTER_MAX, pinTotal, reduceStatusForPin } from './grant-table.js';
import { pageTypeOf } from './page-info.js';
import { gntst } from './status.js';
import type { GntstName } from './status.js';
import { dropFrameRef, liveDomain, runningDomain } from './state.js';
import type { GrantCopyAccess, GrantCopyBuf, GrantCopyInFlight, XenState } from './types.js';

/** `PAGE_SIZE`. */
export const PAGE_SIZE_BYTES = 4096;

/** One side of a copy as the caller names it (`struct gnttab_copy_ptr` and its GNTCOPY_*_gref flag). */
export interface GrantCopyPtr {
  /** `ptr.domid`: a domid, or DOMID_SELF. */
  readonly domid: number | 'self';
  /** GNTCOPY_source_gref / GNTCOPY_dest_gref: `frame` is a grant ref of `domid`, else a gmfn of the caller. */
  readonly gref: boolean;
  /** `ptr.u.ref` or `ptr.u.gmfn`. */
  readonly frame: number;
  /** `ptr.offset`, in bytes. */
  readonly offset: number;
}

export interface GrantCopyArgs {
  readonly callerDomid: number;
  readonly source: GrantCopyPtr;
  readonly dest: GrantCopyPtr;
  /** `op.len`, in bytes. */
  readonly len: number;
}

/** What `gnttab_copy_buf` checks: the segment and the two claimed buffers (offset and length within their page). */
export interface GrantCopySegment {
  readonly sourceOffset: number;
  readonly destOffset: number;
  readonly len: number;
  readonly source: { readonly offset: number; readonly len: number };
  readonly dest: { readonly offset: number; readonly len: number };
}

/** GNTTABOP_copy's decisions, as hooks (`XenConfig.grantCopy`); Xen's is `soundGrantCopy`. */
export interface GrantCopyChecks {
  readonly name: string;
  /**
   * `gnttab_copy_buf`: the status refusing the segment, or `null` when it fits. Xen's: beyond the
   * page GNTST_bad_copy_arg, outside either buffer GNTST_general_error.
   */
  readonly bounds: (segment: GrantCopySegment) => 'bad_copy_arg' | 'general_error' | null;
  /**
   * `_set_status` for a writable claim (the destination): may an entry the granter marked
   * GTF_readonly be pinned for writing? Xen's: no (GNTST_general_error).
   */
  readonly writePinAllowed: (entry: { readonly readonly: boolean }) => boolean;
  /**
   * When the claims' pins and references are given back: after the `memcpy` (Xen's:
   * `gnttab_copy_release_buf` after `gnttab_copy_buf`), or as soon as they are taken.
   */
  readonly release: 'after-copy' | 'at-claim';
}

/** `gnttab_copy` as Xen runs it. */
export const soundGrantCopy: GrantCopyChecks = {
  name: 'xen',
  bounds: ({ sourceOffset, destOffset, len, source, dest }) => {
    if (sourceOffset + len > PAGE_SIZE_BYTES || destOffset + len > PAGE_SIZE_BYTES) return 'bad_copy_arg';
    if (sourceOffset < source.offset || sourceOffset + len > source.offset + source.len) return 'general_error';
    if (destOffset < dest.offset || destOffset + len > dest.offset + dest.len) return 'general_error';
    return null;
  },
  writePinAllowed: ({ readonly }) => !readonly,
  release: 'after-copy',
};

function copyChecks(config: XenConfig): GrantCopyChecks {
  return config.grantCopy ?? soundGrantCopy;
}

function status(name: GntstName): OpResult {
  return fail(`GNTST_${name}`, { status: gntst[name] });
}

export interface GrantCopyResult {
  /** `op.status`: GNTST_okay (`ok`) or the refusal. */
  readonly result: OpResult;
  /** The frames the `memcpy` read and wrote (empty when refused or `len` is 0). */
  readonly accesses: readonly GrantCopyAccess[];
}

/**
 * A claim: the buffer, or the refusal — with what the failed claim still holds (`partial`: a
 * destination whose grant was acquired but whose frame would not take the writable type), which
 * `gnttab_copy` releases after the source.
 */
type Claimed = { readonly buf: GrantCopyBuf } | { readonly refused: OpResult; readonly partial?: GrantCopyBuf };

/** `gnttab_copy_lock_domain`: a gmfn only through DOMID_SELF, the domain must exist (it may be dying). */
function lockDomain(state: XenState, callerDomid: number, ptr: GrantCopyPtr): number | OpResult {
  if (ptr.domid !== 'self' && !ptr.gref) return status('permission_denied');
  const domid = ptr.domid === 'self' ? callerDomid : ptr.domid;
  if (liveDomain(state, domid) === undefined) return status('bad_domain');
  return domid;
}

/**
 * `get_paged_frame`: the gfn's frame in `domid`'s p2m with a page reference (`get_page(page, rd)`:
 * the domain's own RAM), else GNTST_bad_page.
 */
function getPagedFrame(state: XenState, domid: number, gfn: number): number | null {
  const entry = state.domains[domid]?.p2m[gfn];
  if (entry === undefined || entry.type !== 'ram_rw') return null;
  if (state.memory.frames[entry.mfn]?.owner !== domid) return null;
  getRef(writableMemory(state), entry.mfn);
  return entry.mfn;
}

/**
 * `acquire_grant_for_copy(rd, gref, ldom, readonly)` for a v1 or full-page v2 grant, in its order:
 * the ref within the table (GNTST_bad_gntref); pinned by another domain or a counter about to
 * overflow (GNTST_general_error); unpinned, or first pinned for writing: `_set_status` (the entry
 * permits access to `ldom`, and not read-only for a write, else GNTST_general_error; the status
 * bits set), the frame with its reference (`get_paged_frame`: GNTST_bad_page, the status reduced
 * again) and, already pinned, the same frame as the pin's (else GNTST_general_error); pinned
 * otherwise: `page_get_owner_and_reference` of the pinned frame (another owner or a dying granter:
 * GNTST_bad_domain); then the pin.
 */
function acquireGrantForCopy(
  state: XenState,
  config: XenConfig,
  checks: GrantCopyChecks,
  granterDomid: number,
  ref: number,
  callerDomid: number,
  readonly: boolean,
): Claimed {
  const granter = state.domains[granterDomid];
  const entry = granter?.grantTable[ref];
  const act = granter?.active[ref];
  if (granter === undefined || entry === undefined || act === undefined) return { refused: status('bad_gntref') };
  const counter = readonly ? 'hstr' : 'hstw';
  const pinned = pinTotal(act) > 0;
  if (pinned && (act.domid !== callerDomid || act[counter] >= PIN_COUNTER_MAX)) {
    return { refused: status('general_error') };
  }
  const grantReadonly = entry.readonly;
  let mfn: number;
  if (!pinned || (!readonly && act.hstw + act.devw === 0)) {
    if (!pinned && (!entry.permitAccess || entry.domid !== callerDomid)) return { refused: status('general_error') };
    if (!readonly && !checks.writePinAllowed({ readonly: entry.readonly })) return { refused: status('general_error') };
    // _set_status wrote GTF_reading (and GTF_writing); `unlock_out_clear` reduces them again.
    const claimed = getPagedFrame(state, granterDomid, entry.frame);
    if (claimed === null) return { refused: status('bad_page') };
    if (pinned && claimed !== act.mfn) {
      dropFrameRef(state, config, claimed);
      return { refused: status('general_error') };
    }
    mfn = claimed;
  } else {
    const pinnedMfn = act.mfn;
    const owner = pinnedMfn === null ? null : state.memory.frames[pinnedMfn]?.owner;
    if (pinnedMfn === null || owner !== granterDomid || granter.life !== 'running') {
      return { refused: status('bad_domain') };
    }
    getRef(writableMemory(state), pinnedMfn);
    mfn = pinnedMfn;
  }
  const written = writableActiveEntry(state, granterDomid, ref);
  if (written === undefined) return { refused: status('bad_gntref') };
  written.domid = callerDomid;
  written.mfn = mfn;
  written[counter] += 1;
  const bits = grantStatusBits(granter, ref);
  setGrantStatusBits(state, granterDomid, ref, { reading: true, writing: bits.writing || !readonly });
  reduceStatusForPin(state, granterDomid, ref, written);
  return { buf: { domid: granterDomid, ref, gmfn: null, mfn, readonly, grantReadonly } };
}

/** `gnttab_copy_claim_buf`: a grant ref acquired, or the caller's gmfn; a destination's frame must take the writable type. */
function claimBuf(
  state: XenState,
  config: XenConfig,
  checks: GrantCopyChecks,
  args: GrantCopyArgs,
  domid: number,
  ptr: GrantCopyPtr,
  readonly: boolean,
): Claimed {
  let claimed: Claimed;
  if (ptr.gref) {
    claimed = acquireGrantForCopy(state, config, checks, domid, ptr.frame, args.callerDomid, readonly);
  } else {
    const mfn = getPagedFrame(state, domid, ptr.frame);
    claimed =
      mfn === null ? { refused: status('bad_page') } : { buf: { domid, ref: null, gmfn: ptr.frame, mfn, readonly } };
  }
  if ('refused' in claimed || readonly) return claimed;
  // get_page_type(PGT_writable_page): a frame in use as another type (a PV page table: its type
  // count above zero) cannot be written; one whose count is zero is retyped (`_get_page_type`).
  const typeInfo = pageTypeOf(state, claimed.buf.mfn);
  if (typeInfo.count > 0 && typeInfo.type !== 'none' && typeInfo.type !== 'writable')
    return { refused: status('general_error'), partial: claimed.buf };
  return claimed;
}

/**
 * `gnttab_copy_release_buf`: through a grant ref, `release_grant_for_copy` (the pin dropped, the
 * status reduced); then the page reference put (`put_page`), which frees a frame nothing else holds.
 */
export function releaseBuf(state: XenState, config: XenConfig, buf: GrantCopyBuf): void {
  if (buf.ref !== null) {
    const act = writableActiveEntry(state, buf.domid, buf.ref);
    if (act !== undefined) {
      act[buf.readonly ? 'hstr' : 'hstw'] -= 1;
      reduceStatusForPin(state, buf.domid, buf.ref, act);
    }
  }
  dropFrameRef(state, config, buf.mfn);
}

/**
 * GNTTABOP_copy of one segment up to its `memcpy` (`gnttab_copy_one`): `len` 0 is GNTST_okay with
 * nothing done; the domains locked (`gnttab_copy_lock_domains`: GNTST_permission_denied for a gmfn
 * not through DOMID_SELF, GNTST_bad_domain); the source claimed read-only, then the destination
 * writable (`gnttab_copy_claim_buf`); the bounds (`gnttab_copy_buf`). A refusal releases what was
 * claimed (`gnttab_copy_release_buf` in `gnttab_copy`). Returns the status and the claimed segment,
 * which is also appended to the caller's `grantCopies`.
 */
export function startGrantCopy(
  state: XenState,
  config: XenConfig,
  args: GrantCopyArgs,
): { readonly result: OpResult; readonly pending?: GrantCopyInFlight } {
  const caller = runningDomain(state, args.callerDomid);
  if (caller === undefined) return { result: fail('ESRCH') };
  if (args.len === 0) return { result: succeed({ status: gntst.okay }) };
  const sourceDomid = lockDomain(state, args.callerDomid, args.source);
  if (typeof sourceDomid !== 'number') return { result: sourceDomid };
  const destDomid = lockDomain(state, args.callerDomid, args.dest);
  if (typeof destDomid !== 'number') return { result: destDomid };
  const checks = copyChecks(config);
  const source = claimBuf(state, config, checks, args, sourceDomid, args.source, true);
  if ('refused' in source) return { result: source.refused };
  const dest = claimBuf(state, config, checks, args, destDomid, args.dest, false);
  if ('refused' in dest) {
    releaseBuf(state, config, source.buf);
    if (dest.partial !== undefined) releaseBuf(state, config, dest.partial);
    return { result: dest.refused };
  }
  const whole = { offset: 0, len: PAGE_SIZE_BYTES };
  const outOfBounds = checks.bounds({
    sourceOffset: args.source.offset,
    destOffset: args.dest.offset,
    len: args.len,
    source: whole,
    dest: whole,
  });
  if (outOfBounds !== null) {
    releaseBuf(state, config, source.buf);
    releaseBuf(state, config, dest.buf);
    return { result: status(outOfBounds) };
  }
  if (checks.release === 'at-claim') {
    releaseBuf(state, config, source.buf);
    releaseBuf(state, config, dest.buf);
  }
  const pending: GrantCopyInFlight = {
    callerDomid: args.callerDomid,
    source: source.buf,
    dest: dest.buf,
    sourceOffset: args.source.offset,
    destOffset: args.dest.offset,
    len: args.len,
  };
  const written = writableDomain(state, args.callerDomid);
  if (written !== undefined) written.grantCopies = [...(written.grantCopies ?? []), pending];
  return { result: succeed({ status: gntst.okay }), pending };
}

/** The frames `len` bytes at `offset` of `mfn`'s direct-map address cover. */
function touched(state: XenState, mfn: number, offset: number, len: number, write: boolean): GrantCopyAccess[] {
  const accesses: GrantCopyAccess[] = [];
  const first = mfn + Math.floor(offset / PAGE_SIZE_BYTES);
  const last = mfn + Math.floor((offset + len - 1) / PAGE_SIZE_BYTES);
  for (let frame = first; frame <= last; frame++) {
    if (frame < 0 || frame >= state.memory.frames.length) continue;
    accesses.push({ mfn: frame, write, owner: state.memory.frames[frame]?.owner ?? null });
  }
  return accesses;
}

/**
 * The `memcpy` of the caller's claimed segment number `index` (its `grantCopies`, oldest first) and
 * the release of both buffers (`gnttab_copy_release_buf`, unless the design released them at the
 * claim). The accesses are returned and recorded (`XenState.lastGrantCopy`). EINVAL when there is
 * no such segment.
 */
export function finishGrantCopy(state: XenState, config: XenConfig, callerDomid: number, index = 0): GrantCopyResult {
  const caller = state.domains[callerDomid];
  const pending = caller?.grantCopies?.[index];
  if (caller === undefined || pending === undefined) return { result: fail('EINVAL'), accesses: [] };
  const accesses = [
    ...touched(state, pending.source.mfn, pending.sourceOffset, pending.len, false),
    ...touched(state, pending.dest.mfn, pending.destOffset, pending.len, true),
  ];
  state.lastGrantCopy = { callerDomid, source: pending.source, dest: pending.dest, accesses };
  const written = writableDomain(state, callerDomid);
  if (written !== undefined) written.grantCopies = (caller.grantCopies ?? []).filter((_, at) => at !== index);
  if (copyChecks(config).release === 'after-copy') {
    releaseBuf(state, config, pending.source);
    releaseBuf(state, config, pending.dest);
  }
  return { result: succeed({ status: gntst.okay }), accesses };
}

/** GNTTABOP_copy of one segment, whole: claims, `memcpy`, release. */
export function grantCopy(state: XenState, config: XenConfig, args: GrantCopyArgs): GrantCopyResult {
  const started = startGrantCopy(state, config, args);
  if (started.pending === undefined) return { result: started.result, accesses: [] };
  const caller = state.domains[args.callerDomid];
  const index = (caller?.grantCopies?.length ?? 1) - 1;
  return finishGrantCopy(state, config, args.callerDomid, index);
}
