/**
 * Grant tables v1: the granter's side (grant / end foreign access), GNTTABOP_map_grant_ref and
 * GNTTABOP_unmap_grant_ref, and gnttab_release_mappings for a dying mapper.
 * Reference: docs/reference/xen.md §2.2–2.6, §2.8. Checks run in the reference's order; the first failing
 * one decides the status.
 *
 * Grant table v2 (`grant-v2.ts`): the status bits go where the granter's version keeps them
 * (`grant-status.ts`); GNTTABOP_copy is `grant-copy.ts`.
 *
 * Left out: transitive and sub-page grants, GNTTABOP_transfer, XSM (the
 * default dummy policy allows everything), table growth (the table has a fixed size), the
 * 5-retry "unstable entry" race, cache attributes and unmap batching (a batch of one: its flush
 * and completion follow its unmap_common). A granter that is dying is treated as absent for new
 * maps (GNTST_bad_domain). Step 11's writable type references and step 12's per-mfn IOMMU counts
 * of a PV mapper are `grant-iommu.ts`'s (docs/reference/xen-pv.md §PV.5), called at their places.
 *
 * Phases (docs/reference/xen.md §2.4, xen/common/grant_table.c at the pinned commit):
 * `startUnmapGrantRef` is `unmap_common`, which drops the active entry's lock and the grant
 * table's read lock and then frees the handle (`put_maptrack_handle`); `completeUnmapGrantRef` is
 * what `gnttab_unmap_grant_ref` runs after the batch's `gnttab_flush_tlb`: `unmap_common_complete`,
 * which takes the locks again and drops the page references and pins recorded in the op (never
 * re-read from the handle, which another map may have taken meanwhile). `unmapGrantRef` runs both.
 * `startMapGrantRef` is `map_grant_ref` up to `active_entry_release(act); grant_read_unlock(rgt)`:
 * the maptrack handle taken (`get_maptrack_handle`), checks 1–9 under the granter's grant-table
 * read lock and the active entry's lock, the status bits set (`_set_status`), a first pin's frame
 * translated with a page reference (`get_paged_frame`), the pin raised. `finishMapGrantRef` is the
 * rest, with no lock held: the page's owner read with its reference (`page_get_owner_and_reference`
 * or `page_get_owner`), `could_not_pin` unless it is the granter's, `get_page(pg, rd)` for a
 * host+device map, `create_grant_host_mapping`, the maptrack entry (flags last); or `undo_out`,
 * step by step: the references put, the locks taken again, `act->pin -= pin_incr`,
 * `reduce_status_for_pin`, `put_maptrack_handle`. Its decisions around the window are a hook
 * (`GrantMapOrdering`; Xen's is `soundGrantMap`). `mapGrantRef`, the map run whole, checks step 11
 * before changing anything: with nothing in between, the same outcome as the two phases (a
 * failure leaves what `undo_out` restores).
 *
 * Fault injection (`fault.ts`, docs/reference/xen.md §2.14): `get_maptrack_handle` (GNTST_no_space),
 * `get_paged_frame` (GNTST_bad_page after `unlock_out_clear`), `page_get_owner_and_reference` and
 * `get_page(pg, rd)` (`could_not_pin`), `create_grant_host_mapping` and a PV mapper's
 * `iommu_legacy_map` fail where Xen's do; the whole map then runs as its two phases back to back,
 * so `undo_out` runs step by step in its order: the host mapping made removed
 * (`replace_grant_host_mapping`), the references put (`GrantMapOrdering.unwindRefs`), the pins
 * dropped (`unwindPins`), the status reduced, the handle given back.
 *
 * Simplified: an HVM host map onto an occupied gfn is refused (GNTST_general_error; real Xen
 * overwrites a RAM entry); unmap's host_addr must be the address that handle was mapped at
 * (Xen accepts any grant mapping of the same frame there); dev_bus_addr is reported for
 * device maps only.
 */
import { getRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { hasBug } from './config.js';
import type { XenConfig } from './config.js';
import { noFaults } from './fault.js';
import type { XenFaults } from './fault.js';
import { gntst } from './status.js';
import type { GntstName } from './status.js';
import {
  writableActiveEntry,
  writableGrantEntry,
  writableMaptrack,
  writableMemory,
  writableP2m,
} from './copy-on-write.js';
import { grantStatusBits, grantVersionOf, setGrantStatusBits } from './grant-status.js';
import {
  grantIommuMapped,
  grantIommuReleased,
  grantIommuUnmapped,
  grantTypeRefs,
  hostMapTakesType,
  putGrantTypeRef,
  takeGrantTypeRef,
  writableTypeAvailable,
} from './grant-iommu.js';
import { putPageType } from './page-type.js';
import { dropFrameRef, runningDomain } from './state.js';
import type { ActiveEntry, MaptrackEntry, XenDomain, XenState } from './types.js';

/** Each 8-bit pin counter blocks further increments once bit 7 is set. */
export const PIN_COUNTER_MAX = 128;

function status(name: GntstName): OpResult {
  return fail(`GNTST_${name}`, { status: gntst[name] });
}

export function pinTotal(act: ActiveEntry): number {
  return act.hstw + act.hstr + act.devw + act.devr;
}

/**
 * reduce_status_for_pin: GTF_reading ⇔ pinned, GTF_writing ⇔ pinned writable, written where the
 * granter's version keeps them (the v1 entry's flags, the v2 status word: `grant-status.ts`).
 */
export function reduceStatusForPin(state: XenState, granterDomid: number, ref: number, act: ActiveEntry): void {
  const reading = pinTotal(act) > 0;
  setGrantStatusBits(state, granterDomid, ref, { reading, writing: act.hstw + act.devw > 0 });
  // The frame and the mapping domain mean something only while pinned (Xen leaves them stale):
  // an idle entry reads the same however it got there, so an unwound map leaves it as it found it.
  if (!reading) {
    act.mfn = null;
    act.domid = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Granter side (what Linux's gnttab_grant_foreign_access / gnttab_end_foreign_access do)

export interface GrantAccessArgs {
  readonly domid: number;
  readonly ref: number;
  readonly granteeDomid: number;
  readonly gfn: number;
  readonly readonly: boolean;
}

/**
 * The granter writes a v1 entry (domid, frame, then flags). The guest follows the protocol:
 * it writes only entries that are not in use (Linux hands out refs from its free list).
 */
export function grantAccess(state: XenState, args: GrantAccessArgs): OpResult {
  const granter = runningDomain(state, args.domid);
  if (granter === undefined) return fail('ESRCH');
  const entry = granter.grantTable[args.ref];
  if (entry === undefined) return fail('EINVAL');
  const inUse = grantStatusBits(granter, args.ref);
  if (entry.permitAccess || inUse.reading || inUse.writing) return fail('EBUSY');
  const written = writableGrantEntry(state, granter.domid, args.ref);
  if (written === undefined) return fail('EINVAL');
  written.domid = args.granteeDomid;
  written.frame = args.gfn;
  written.readonly = args.readonly;
  written.permitAccess = true;
  return succeed();
}

export interface EndAccessArgs {
  readonly domid: number;
  readonly ref: number;
}

/**
 * end_foreign_access. v1 (`gnttab_end_foreign_access_ref_v1`): fails while GTF_reading/GTF_writing
 * are set, else clears the flags. v2 (`gnttab_end_foreign_access_ref_v2`, [L]
 * drivers/xen/grant-table.c): clears the flags first, then reads the status word: still in use is
 * reported (`detail.stillInUse`, Linux returns 0 and defers the page) with the flags already
 * cleared — the pins in place keep their access, new maps are refused.
 */
export function endAccess(state: XenState, config: XenConfig, args: EndAccessArgs): OpResult {
  const granter = runningDomain(state, args.domid);
  if (granter === undefined) return fail('ESRCH');
  const entry = granter.grantTable[args.ref];
  if (entry === undefined) return fail('EINVAL');
  if (grantVersionOf(granter) === 2) {
    const written = writableGrantEntry(state, granter.domid, args.ref);
    if (written === undefined) return fail('EINVAL');
    written.permitAccess = false;
    written.readonly = false;
    const bits = grantStatusBits(granter, args.ref);
    return succeed({ stillInUse: bits.reading || bits.writing });
  }
  if ((entry.reading || entry.writing) && !hasBug(config, 'end-access-ignores-pin')) return fail('EBUSY');
  const written = writableGrantEntry(state, granter.domid, args.ref);
  if (written === undefined) return fail('EINVAL');
  written.permitAccess = false;
  written.readonly = false;
  written.reading = false;
  written.writing = false;
  return succeed();
}

// ---------------------------------------------------------------------------------------------
// GNTTABOP_map_grant_ref

export interface MapGrantArgs {
  readonly mapperDomid: number;
  readonly granterDomid: number;
  readonly ref: number;
  readonly host: boolean;
  readonly device: boolean;
  readonly readonly: boolean;
  /** gfn (translated mapper) or virtual page number (PV mapper) of the host mapping. */
  readonly hostAddr: number | null;
}

type PinCounter = 'hstw' | 'hstr' | 'devw' | 'devr';

function countersFor(parts: { host: boolean; device: boolean; readonly: boolean }): PinCounter[] {
  const counters: PinCounter[] = [];
  if (parts.host) counters.push(parts.readonly ? 'hstr' : 'hstw');
  if (parts.device) counters.push(parts.readonly ? 'devr' : 'devw');
  return counters;
}

/** The active entry takes the mapper's pins on `mfn`; the shared entry's status bits follow. */
function pin(
  state: XenState,
  granterDomid: number,
  ref: number,
  mapperDomid: number,
  mfn: number,
  counters: PinCounter[],
): void {
  const act = writableActiveEntry(state, granterDomid, ref);
  if (act === undefined) return;
  act.domid = mapperDomid;
  act.mfn = mfn;
  for (const counter of counters) act[counter] += 1;
  reduceStatusForPin(state, granterDomid, ref, act);
}

/** What checks 1–9 found (`mapChecks`): the domains, the handle, the counters and the frame. */
interface MapChecked {
  readonly mapper: XenDomain;
  readonly granter: XenDomain;
  readonly handle: number;
  readonly counters: PinCounter[];
  /** The frame: `act->mfn` of a pinned entry, else the granted gfn's in the granter's p2m. */
  readonly mfn: number;
  /** The entry was not pinned: this map pins it first (and `get_paged_frame` takes a reference). */
  readonly firstPin: boolean;
}

/**
 * Checks 1–9 of `map_grant_ref`, in order, changing nothing: the first failing one's status, or
 * what they found. `reservedHandles` are handles that maps in flight took (`get_maptrack_handle`)
 * and have not written yet: not free.
 */
function mapChecks(
  state: XenState,
  args: MapGrantArgs,
  reservedHandles: readonly number[],
  faults: XenFaults = noFaults,
): { readonly refused: OpResult } | MapChecked {
  const mapper = runningDomain(state, args.mapperDomid);
  if (mapper === undefined) return { refused: fail('ESRCH') };
  // 1. Neither kind of mapping requested.
  if (!args.host && !args.device) return { refused: status('bad_gntref') };
  // 2. Translated callers may only ask for a host mapping.
  if (mapper.translated && args.device) return { refused: status('general_error') };
  // 3. Granter must exist.
  const granter = runningDomain(state, args.granterDomid);
  if (granter === undefined) return { refused: status('bad_domain') };
  // 5. A free maptrack handle.
  const handle = mapper.maptrack.findIndex((mapping, index) => mapping === null && !reservedHandles.includes(index));
  if (handle < 0 || faults.strikes('maptrack')) return { refused: status('no_space') };
  // 6. Ref within the table.
  const entry = granter.grantTable[args.ref];
  const act = granter.active[args.ref];
  if (entry === undefined || act === undefined) return { refused: status('bad_gntref') };
  const counters = countersFor(args);
  const pinned = pinTotal(act) > 0;
  // 7. Already pinned by another domain, or a counter would overflow.
  if (pinned && (act.domid !== mapper.domid || counters.some((counter) => act[counter] >= PIN_COUNTER_MAX))) {
    return { refused: status('general_error') };
  }
  // 8. Validate the shared entry when pinning for the first time or first writably.
  const firstWritable = !args.readonly && act.hstw + act.devw === 0;
  if (!pinned || firstWritable) {
    if (!entry.permitAccess) return { refused: status('general_error') };
    if (!pinned && entry.domid !== mapper.domid) return { refused: status('general_error') };
    if (!args.readonly && entry.readonly) return { refused: status('general_error') };
  }
  // 9. First pin: translate the granted gfn in the granter's p2m.
  let mfn = act.mfn;
  if (!pinned || mfn === null) {
    const p2mEntry = granter.p2m[entry.frame];
    if (p2mEntry === undefined || p2mEntry.type !== 'ram_rw') return { refused: status('bad_page') };
    mfn = p2mEntry.mfn;
  }
  return { mapper, granter, handle, counters, mfn, firstPin: !pinned };
}

/** Whether the host mapping can be made: an address, and for a translated mapper a free gfn there. */
function hostMappingPossible(mapper: XenDomain, args: { host: boolean; hostAddr: number | null }): boolean {
  return !args.host || (args.hostAddr !== null && (!mapper.translated || mapper.p2m[args.hostAddr] === undefined));
}

/** Step 11's host mapping (`create_grant_host_mapping`: a translated mapper's grant p2m entry). */
function createHostMapping(state: XenState, args: MapGrantArgs, mapper: XenDomain, handle: number, mfn: number): void {
  if (args.host && mapper.translated && args.hostAddr !== null) {
    writableP2m(state, mapper.domid)[args.hostAddr] = {
      type: args.readonly ? 'grant_map_ro' : 'grant_map_rw',
      mfn,
      handle,
    };
  }
}

/** Step 11's host mapping and step 13's maptrack entry. */
function writeMapping(state: XenState, args: MapGrantArgs, mapper: XenDomain, handle: number, mfn: number): void {
  createHostMapping(state, args, mapper, handle, mfn);
  writeMaptrack(state, args, mapper, handle, mfn);
}

/**
 * Step 13: the maptrack entry, naming the granter (and, in the model's record, its incarnation:
 * the one the grant was looked up in, `granterIncarnation` of a map in flight).
 */
function writeMaptrack(
  state: XenState,
  args: MapGrantArgs & { readonly granterIncarnation?: number },
  mapper: XenDomain,
  handle: number,
  mfn: number,
): void {
  writableMaptrack(state, mapper.domid)[handle] = {
    granterDomid: args.granterDomid,
    granterIncarnation: args.granterIncarnation ?? state.domains[args.granterDomid]?.incarnation ?? 0,
    ref: args.ref,
    host: args.host,
    device: args.device,
    readonly: args.readonly,
    mfn,
    hostAddr: args.host ? args.hostAddr : null,
  };
}

/**
 * GNTTABOP_map_grant_ref whole. Step 11's checks (the page is the granter's, the host mapping can
 * be made) run before anything changes: with nothing in between, a failure there leaves what the
 * real `undo_out` path restores. `reservedHandles`: handles maps in flight hold (`startMapGrantRef`).
 * `faults`: a caller's fault injection (`fault.ts`); with one, the map runs in its two halves.
 */
export function mapGrantRef(
  state: XenState,
  config: XenConfig,
  args: MapGrantArgs,
  reservedHandles: readonly number[] = [],
  faults: XenFaults = noFaults,
): OpResult {
  if (faults !== noFaults) {
    // With faults injected the map runs as Xen runs it, its two halves back to back, so that a
    // failure part-way is unwound step by step (`undo_out`), not checked for beforehand.
    const started = startMapGrantRef(state, config, args, reservedHandles, faults);
    if (started.pending === undefined) return started.result;
    return finishMapGrantRef(state, config, started.pending, faults);
  }
  const checked = mapChecks(state, args, reservedHandles);
  if ('refused' in checked) return checked.refused;
  const { mapper, granter, handle, counters, mfn } = checked;
  // 11 (checked before any change, as the undo path would restore it). Page owned by the granter,
  // and the host mapping can be created.
  const frameOwner = state.memory.frames[mfn]?.owner;
  const typeRefs = grantTypeRefs(args, mapper.domid, granter);
  if (
    frameOwner !== granter.domid ||
    !hostMappingPossible(mapper, args) ||
    (typeRefs > 0 && !writableTypeAvailable(state, mfn))
  ) {
    if (hasBug(config, 'failed-map-keeps-pin')) pin(state, granter.domid, args.ref, mapper.domid, mfn, counters);
    return status('general_error');
  }
  // 8 (effect), 9 (effect), 10: pin.
  pin(state, granter.domid, args.ref, mapper.domid, mfn, counters);
  // 11: one general page reference per kind of mapping; then the host mapping.
  if (args.device) getRef(writableMemory(state), mfn);
  if (args.host) getRef(writableMemory(state), mfn);
  // 11: the writable type references (grant-iommu.ts), checked available above.
  for (let taken = 0; taken < typeRefs; taken++) takeGrantTypeRef(state, config, mfn);
  // 11 (host mapping), 13. Record the maptrack entry.
  writeMapping(state, args, mapper, handle, mfn);
  // 12: a PV mapper's per-mfn IOMMU counts.
  grantIommuMapped(state, mapper.domid, granter.domid, mfn, args.readonly);
  return succeed({ status: gntst.okay, handle, devBusAddr: args.device ? mfn : null });
}

// ---------------------------------------------------------------------------------------------
// GNTTABOP_map_grant_ref in two phases: map_grant_ref drops the grant table's read lock and the
// active entry's lock after pinning (xen/common/grant_table.c, `active_entry_release(act);
// grant_read_unlock(rgt);`) and takes the page references, the host mapping and the maptrack
// entry with no lock held; a failure there (`undo_out`) takes the locks again to drop its pins.

/** The pin counters of an active entry. */
export type GrantPins = Readonly<Record<PinCounter, number>>;

/**
 * What phase 1 of `map_grant_ref` did and phase 2 needs (the function's locals across the unlock,
 * plain data). The handle is taken (`get_maptrack_handle`) but not written: not live, not free.
 */
export interface GrantMapInFlight {
  readonly mapperDomid: number;
  readonly granterDomid: number;
  readonly ref: number;
  readonly handle: number;
  readonly host: boolean;
  readonly device: boolean;
  readonly readonly: boolean;
  readonly hostAddr: number | null;
  /** `mfn = act->mfn`, read under the lock. */
  readonly mfn: number;
  /** `pg` holds a reference already: `get_paged_frame` took it for a first pin. */
  readonly pageRef: boolean;
  /** The entry's pin counters before this map pinned (what a snapshot-restoring unwind would write back). */
  readonly pinsBefore: GrantPins;
  /** The granter's incarnation when the grant was looked up (the maptrack entry records it). */
  readonly granterIncarnation: number;
}

/**
 * The decisions `map_grant_ref` makes around its unlocked window, as hooks (a design supplies its
 * own; `soundGrantMap` is the real code's). Each is asked at its decision point with what the
 * real code knows there.
 */
export interface GrantMapOrdering {
  readonly name: string;
  /** Phase 1, under the locks: does the first pin take the page reference (`get_paged_frame`)? */
  readonly referenceAtPin: (pin: { readonly firstPin: boolean }) => boolean;
  /**
   * Phase 2, no lock held: may the page be mapped, given its owner now (when its reference is
   * taken, `page_get_owner_and_reference`; null: freed)? The real code maps only the granter's page.
   */
  readonly pageMappable: (page: { readonly owner: number | null; readonly granterDomid: number }) => boolean;
  /**
   * The unwind (`undo_out`), the locks taken again: the pin counters it leaves, from the entry's
   * counters now, the increments this map made and the counters it found before pinning.
   */
  readonly unwindPins: (pins: {
    readonly now: GrantPins;
    readonly taken: GrantPins;
    readonly before: GrantPins;
  }) => GrantPins;
  /**
   * The unwind's page references (`undo_out`: `while ( refcnt-- ) put_page(pg)`): how many of the
   * `taken` references it puts, given the kinds of mapping asked for. Absent: all of them, as Xen
   * counts them since XSA-224 (75b384ece6, "correct logic to get page references during map
   * requests").
   */
  readonly unwindRefs?: (refs: { readonly taken: number; readonly host: boolean; readonly device: boolean }) => number;
}

/** `map_grant_ref` as Xen runs it. */
export const soundGrantMap: GrantMapOrdering = {
  name: 'xen',
  referenceAtPin: ({ firstPin }) => firstPin,
  pageMappable: ({ owner, granterDomid }) => owner === granterDomid,
  unwindPins: ({ now, taken }) => ({
    hstw: now.hstw - taken.hstw,
    hstr: now.hstr - taken.hstr,
    devw: now.devw - taken.devw,
    devr: now.devr - taken.devr,
  }),
};

function grantMapOrdering(config: XenConfig): GrantMapOrdering {
  return config.grantMap ?? soundGrantMap;
}

function pinsOf(act: GrantPins): GrantPins {
  return { hstw: act.hstw, hstr: act.hstr, devw: act.devw, devr: act.devr };
}

function increments(counters: readonly PinCounter[]): GrantPins {
  const pins = { hstw: 0, hstr: 0, devw: 0, devr: 0 };
  for (const counter of counters) pins[counter] += 1;
  return pins;
}

/**
 * Phase 1 of GNTTABOP_map_grant_ref (`map_grant_ref` up to `grant_read_unlock(rgt)`): the handle
 * taken, checks 1–9 under the grant table's read lock and the active entry's lock, the shared
 * entry's status bits set (`_set_status`), a first pin's frame translated with a page reference
 * (`get_paged_frame`) and recorded in the active entry, the pin counters raised. Returns the status
 * of a refusal (nothing changed), or what phase 2 needs.
 */
export function startMapGrantRef(
  state: XenState,
  config: XenConfig,
  args: MapGrantArgs,
  reservedHandles: readonly number[] = [],
  faults: XenFaults = noFaults,
): { readonly result: OpResult; readonly pending?: GrantMapInFlight } {
  const checked = mapChecks(state, args, reservedHandles, faults);
  if ('refused' in checked) return { result: checked.refused };
  const { mapper, granter, handle, counters, mfn, firstPin } = checked;
  const pinsBefore = pinsOf(granter.active[args.ref] ?? emptyPins);
  const pageRef = grantMapOrdering(config).referenceAtPin({ firstPin });
  if (pageRef && faults.strikes('pageRef')) {
    // get_paged_frame's get_page fails after _set_status: `unlock_out_clear` reduces the status
    // bits again (reduce_status_for_pin) and the handle is put back (nothing was pinned).
    const act = writableActiveEntry(state, granter.domid, args.ref);
    if (act !== undefined) {
      const bits = grantStatusBits(granter, args.ref);
      setGrantStatusBits(state, granter.domid, args.ref, { reading: true, writing: bits.writing || !args.readonly });
      reduceStatusForPin(state, granter.domid, args.ref, act);
    }
    return { result: status('bad_page') };
  }
  if (pageRef) getRef(writableMemory(state), mfn);
  pin(state, granter.domid, args.ref, mapper.domid, mfn, counters);
  const pending: GrantMapInFlight = {
    mapperDomid: mapper.domid,
    granterDomid: granter.domid,
    ref: args.ref,
    handle,
    host: args.host,
    device: args.device,
    readonly: args.readonly,
    hostAddr: args.host ? args.hostAddr : null,
    mfn,
    pageRef,
    pinsBefore,
    granterIncarnation: granter.incarnation,
  };
  return { result: succeed({ pinned: mfn }), pending };
}

const emptyPins: GrantPins = { hstw: 0, hstr: 0, devw: 0, devr: 0 };

/**
 * Phase 2 (`map_grant_ref` after the unlock): the page's owner read with its reference
 * (`page_get_owner_and_reference`, or `page_get_owner` of the page `get_paged_frame` referenced),
 * and unless it is the granter's (`could_not_pin`) the map is undone; a host+device map's second
 * reference (`get_page(pg, rd)`); the host mapping (`create_grant_host_mapping`); the maptrack
 * entry, flags last. A failure runs `undo_out`: the references put one by one (the frame freed if
 * they were its last), the locks taken again, the pins dropped and the status bits reduced
 * (`reduce_status_for_pin`), the handle given back. GNTST_okay, or the status the hypercall
 * returns after the unwind.
 *
 * Simplified: the reference is taken after the owner is read, not before (the real code takes it
 * and puts it back on a mismatch: the same counts after); a free page has no owner and gets no
 * reference (`page_get_owner_and_reference` fails on a count of 0). I/O frames are left out, as
 * in the atomic map; the type references (device part before the host part's general reference,
 * host part after it) and step 12 run in Xen's order (`grant-iommu.ts`).
 */
export function finishMapGrantRef(
  state: XenState,
  config: XenConfig,
  pending: GrantMapInFlight,
  faults: XenFaults = noFaults,
): OpResult {
  const ordering = grantMapOrdering(config);
  let refs = pending.pageRef ? 1 : 0;
  let typeRefs = 0;
  let hostMapped = false;
  const undo = (): OpResult => undoMap(state, config, pending, refs, hostMapped, typeRefs);
  // page_get_owner_and_reference (a pinned entry's frame) may fail: no owner, no reference.
  const referenced = pending.pageRef || !faults.strikes('pageRef');
  const owner = referenced ? (state.memory.frames[pending.mfn]?.owner ?? null) : null;
  if (!ordering.pageMappable({ owner, granterDomid: pending.granterDomid })) return undo();
  // One general reference per kind of mapping: the one already held (get_paged_frame's, or
  // page_get_owner_and_reference's) and, for host+device, get_page(pg, rd) for the second.
  if (refs === 0) {
    getRef(writableMemory(state), pending.mfn);
    refs = 1;
  }
  // A writable device map's type reference (grant-iommu.ts).
  if (pending.device && !pending.readonly) {
    if (!takeGrantTypeRef(state, config, pending.mfn)) return undo();
    typeRefs += 1;
  }
  if (pending.host && pending.device) {
    if (faults.strikes('pageRef')) return undo();
    getRef(writableMemory(state), pending.mfn);
    refs = 2;
  }
  // A writable host map of a PV granter's page (gnttab_host_mapping_get_page_type).
  const granter = state.domains[pending.granterDomid];
  if (pending.host && granter !== undefined && hostMapTakesType(pending.readonly, pending.mapperDomid, granter)) {
    if (!takeGrantTypeRef(state, config, pending.mfn)) return undo();
    typeRefs += 1;
  }
  const mapper = state.domains[pending.mapperDomid];
  if (mapper === undefined || !hostMappingPossible(mapper, pending)) return undo();
  if (pending.host) {
    if (faults.strikes('hostMapping')) return undo();
    createHostMapping(state, pending, mapper, pending.handle, pending.mfn);
    hostMapped = true;
  }
  // A PV mapper's IOMMU context maps another domain's frame 1:1 (gnttab_need_iommu_mapping).
  if (!mapper.translated && mapper.domid !== pending.granterDomid && faults.strikes('iommuMap')) return undo();
  // Step 12 (grant-iommu.ts): the per-mfn counts of a PV mapper with IOMMU sync.
  grantIommuMapped(state, mapper.domid, pending.granterDomid, pending.mfn, pending.readonly);
  writeMaptrack(state, pending, mapper, pending.handle, pending.mfn);
  return succeed({ status: gntst.okay, handle: pending.handle, devBusAddr: pending.device ? pending.mfn : null });
}

/**
 * `undo_out`, in its order: the host mapping made removed (`replace_grant_host_mapping`), `refs`
 * page references put (as many as the design's unwind puts), then (locks taken again) the pins
 * unwound and the status reduced; the handle goes back (`put_maptrack_handle`: it was never written).
 */
function undoMap(
  state: XenState,
  config: XenConfig,
  pending: GrantMapInFlight,
  refs: number,
  hostMapped: boolean,
  typeRefs = 0,
): OpResult {
  if (hostMapped && pending.hostAddr !== null && state.domains[pending.mapperDomid]?.translated === true) {
    delete writableP2m(state, pending.mapperDomid)[pending.hostAddr];
  }
  // `while ( typecnt-- ) put_page_type(pg)`, before the general references.
  for (let put = 0; put < typeRefs; put++) putPageType(state, config, pending.mfn);
  const unwindRefs = grantMapOrdering(config).unwindRefs;
  const puts =
    unwindRefs === undefined ? refs : unwindRefs({ taken: refs, host: pending.host, device: pending.device });
  for (let put = 0; put < puts; put++) dropFrameRef(state, config, pending.mfn);
  const act = writableActiveEntry(state, pending.granterDomid, pending.ref);
  if (act !== undefined && !hasBug(config, 'failed-map-keeps-pin')) {
    const unwound = grantMapOrdering(config).unwindPins({
      now: pinsOf(act),
      taken: increments(countersFor(pending)),
      before: pending.pinsBefore,
    });
    act.hstw = unwound.hstw;
    act.hstr = unwound.hstr;
    act.devw = unwound.devw;
    act.devr = unwound.devr;
    reduceStatusForPin(state, pending.granterDomid, pending.ref, act);
  }
  return status('general_error');
}

// ---------------------------------------------------------------------------------------------
// GNTTABOP_unmap_grant_ref

export interface UnmapGrantArgs {
  readonly mapperDomid: number;
  readonly handle: number;
  /** `null` = 0 in the real ABI: leave the host mapping alone. */
  readonly hostAddr: number | null;
  /** `null` = 0 in the real ABI: leave the device mapping alone. */
  readonly devBusAddr: number | null;
}

/** Drops the pins and page references of the released parts of a handle (unmap_common_complete). */
function completeRelease(
  state: XenState,
  config: XenConfig,
  mapping: MaptrackEntry,
  released: { host: boolean; device: boolean },
  mapperDomid: number,
): void {
  const act = writableActiveEntry(state, mapping.granterDomid, mapping.ref);
  if (act !== undefined && !hasBug(config, 'unmap-skips-pin-drop')) {
    for (const counter of countersFor({ ...released, readonly: mapping.readonly })) act[counter] -= 1;
    if (!hasBug(config, 'unmap-keeps-status-bits')) reduceStatusForPin(state, mapping.granterDomid, mapping.ref, act);
  }
  if (hasBug(config, 'unmap-skips-page-put')) return;
  // Writable ones put their type reference first (`put_page_and_type`, `put_page_type`; grant-iommu.ts).
  const granter = state.domains[mapping.granterDomid];
  if (released.device) {
    if (!mapping.readonly) putGrantTypeRef(state, config, mapping.mfn, { host: false, device: true });
    dropFrameRef(state, config, mapping.mfn);
  }
  if (released.host) {
    if (granter !== undefined && hostMapTakesType(mapping.readonly, mapperDomid, granter)) {
      putGrantTypeRef(state, config, mapping.mfn, { host: true, device: false });
    }
    dropFrameRef(state, config, mapping.mfn);
  }
}

/**
 * What `unmap_common` did and `unmap_common_complete` has left to do (the hypercall's
 * `struct gnttab_unmap_common`, plain data): the grant it names, the frame, and which parts were
 * released (`op->done`). Between the two the handle is already free (another map may reuse it),
 * while the pins and page references stay until the completion drops them.
 */
export interface GrantUnmapInFlight {
  readonly mapperDomid: number;
  readonly handle: number;
  readonly granterDomid: number;
  readonly ref: number;
  readonly mfn: number;
  readonly readonly: boolean;
  readonly host: boolean;
  readonly device: boolean;
  /** With `grant-unmap-puts-before-flush`: pins and references dropped first, the mapping removed after. */
  readonly putFirst?: boolean;
}

/**
 * Phase 1 of GNTTABOP_unmap_grant_ref (`unmap_common`, xen/common/grant_table.c): under the
 * active entry's lock, the checks, the host mapping removed, the released kinds cleared from the
 * handle and a handle with none left freed (`put_maptrack_handle`, after the locks are dropped).
 * Returns the status and, when something was released, what the completion must drop. With the
 * `grant-unmap-puts-before-flush` bug the order is reversed: the pins and page references are
 * dropped here, and the mapping is removed (and its handle freed) by the second phase.
 */
export function startUnmapGrantRef(
  state: XenState,
  config: XenConfig,
  args: UnmapGrantArgs,
): { readonly result: OpResult; readonly pending?: GrantUnmapInFlight } {
  const mapper = runningDomain(state, args.mapperDomid);
  if (mapper === undefined) return { result: fail('ESRCH') };
  // 1. Handle in range and live.
  const mapping = mapper.maptrack[args.handle];
  if (mapping === undefined || mapping === null) return { result: status('bad_handle') };
  // 5. Device address must match the pinned frame.
  const releaseDevice = args.devBusAddr !== null && mapping.device;
  if (releaseDevice && args.devBusAddr !== mapping.mfn) return { result: status('bad_dev_addr') };
  // 6. Host mapping at host_addr must be this grant's frame.
  const releaseHost = args.hostAddr !== null && mapping.host;
  if (releaseHost && !hostMappingMatches(mapper, mapping, args.hostAddr)) return { result: status('general_error') };
  if (!releaseHost && !releaseDevice) return { result: succeed({ status: gntst.okay }) };
  const pending: GrantUnmapInFlight = {
    mapperDomid: mapper.domid,
    handle: args.handle,
    granterDomid: mapping.granterDomid,
    ref: mapping.ref,
    mfn: mapping.mfn,
    readonly: mapping.readonly,
    host: releaseHost,
    device: releaseDevice,
  };
  if (hasBug(config, 'grant-unmap-puts-before-flush')) {
    completeRelease(state, config, mapping, { host: releaseHost, device: releaseDevice }, mapper.domid);
    return { result: succeed({ status: gntst.okay }), pending: { ...pending, putFirst: true } };
  }
  removeMapping(state, config, pending, args.hostAddr);
  return { result: succeed({ status: gntst.okay }), pending };
}

/** unmap_common's removal: the host mapping, the released kinds of the handle, a handle with none left freed. */
function removeMapping(state: XenState, config: XenConfig, pending: GrantUnmapInFlight, hostAddr: number | null): void {
  const mapper = state.domains[pending.mapperDomid];
  const mapping = mapper?.maptrack[pending.handle];
  if (mapper === undefined || mapping === undefined || mapping === null) return;
  if (pending.host && mapper.translated && hostAddr !== null) delete writableP2m(state, mapper.domid)[hostAddr];
  const remaining = { host: mapping.host && !pending.host, device: mapping.device && !pending.device };
  // 8. A handle with neither kind left is freed.
  const handleFreed = !remaining.host && !remaining.device;
  writableMaptrack(state, mapper.domid)[pending.handle] = handleFreed
    ? null
    : { ...mapping, host: remaining.host, device: remaining.device };
  // The per-mfn IOMMU count of a PV mapper, once the handle is put (grant-iommu.ts).
  grantIommuUnmapped(state, config, {
    mapperDomid: mapper.domid,
    granterDomid: pending.granterDomid,
    mfn: pending.mfn,
    readonly: pending.readonly,
    handleFreed,
  });
}

/**
 * Phase 2 (`gnttab_unmap_grant_ref` after the batch: `gnttab_flush_tlb`, then
 * `unmap_common_complete`): the page references and pins of the released kinds dropped, the
 * status bits reduced — from what phase 1 recorded, not from the handle, which may have been
 * reused. (With `grant-unmap-puts-before-flush`: the mapping removed now.)
 */
export function completeUnmapGrantRef(state: XenState, config: XenConfig, pending: GrantUnmapInFlight): void {
  if (pending.putFirst === true) {
    const mapper = state.domains[pending.mapperDomid];
    const mapping = mapper?.maptrack[pending.handle];
    removeMapping(state, config, pending, mapping?.host === true && pending.host ? mapping.hostAddr : null);
    return;
  }
  const mapping: MaptrackEntry = {
    granterDomid: pending.granterDomid,
    granterIncarnation: state.domains[pending.granterDomid]?.incarnation ?? 0,
    ref: pending.ref,
    mfn: pending.mfn,
    readonly: pending.readonly,
    host: pending.host,
    device: pending.device,
    hostAddr: null,
  };
  completeRelease(state, config, mapping, { host: pending.host, device: pending.device }, pending.mapperDomid);
}

/** GNTTABOP_unmap_grant_ref whole: unmap_common, the TLB flush, unmap_common_complete. */
export function unmapGrantRef(state: XenState, config: XenConfig, args: UnmapGrantArgs): OpResult {
  const started = startUnmapGrantRef(state, config, args);
  if (started.pending !== undefined) completeUnmapGrantRef(state, config, started.pending);
  return started.result;
}

function hostMappingMatches(mapper: XenDomain, mapping: MaptrackEntry, hostAddr: number | null): boolean {
  if (hostAddr === null || hostAddr !== mapping.hostAddr) return false;
  if (!mapper.translated) return true;
  const p2mEntry = mapper.p2m[hostAddr];
  return (
    p2mEntry !== undefined &&
    (p2mEntry.type === 'grant_map_rw' || p2mEntry.type === 'grant_map_ro') &&
    p2mEntry.mfn === mapping.mfn
  );
}

// ---------------------------------------------------------------------------------------------
// gnttab_release_mappings: a dying mapper gives back every pin and page reference it holds.

export function releaseMappings(state: XenState, config: XenConfig, mapperDomid: number): void {
  const mapper = state.domains[mapperDomid];
  if (mapper === undefined) return;
  // The handles as they were: the loop frees each once, in the (copied) maptrack.
  const handles = mapper.maptrack;
  for (let handle = handles.length - 1; handle >= 0; handle--) {
    const mapping = handles[handle];
    if (mapping === undefined || mapping === null) continue;
    if (mapping.host && mapper.translated && mapping.hostAddr !== null) {
      delete writableP2m(state, mapperDomid)[mapping.hostAddr];
    }
    writableMaptrack(state, mapperDomid)[handle] = null;
    const granter = state.domains[mapping.granterDomid];
    if (granter === undefined || granter.life === 'dead') continue;
    completeRelease(state, config, mapping, { host: mapping.host, device: mapping.device }, mapperDomid);
  }
  // radix_tree_delete per handle, radix_tree_destroy: a PV mapper's per-mfn IOMMU counts go.
  grantIommuReleased(state, mapperDomid);
}
