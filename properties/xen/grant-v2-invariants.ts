/**
 * Invariants of grant table v2 and GNTTABOP_copy over `XenState` (docs/reference/xen.md §2.19).
 * Each is a factory taking a view of a stack's state (`(state: S) => XenState`), so any stack built
 * on the Xen model uses them. They recompute from the structures (pins from maptracks and copies in
 * flight, holders from every table) and never read a verdict a step recorded.
 */
import { grantStatusBits, grantVersionOf } from '../../models/xen/grant-status.js';
import { pinTotal } from '../../models/xen/grant-table.js';
import { GNTTAB_NR_RESERVED_ENTRIES, grantToStatusFrames, nrGrantFrames } from '../../models/xen/grant-v2.js';
import type { ActiveEntry, GrantCopyBuf, XenDomain, XenState } from '../../models/xen/types.js';
import type { Invariant, Violation } from '../../src/design.js';
import { describeHolders, holderCensus, holdersByFrame, ownerName } from '../xengt/views.js';

/** Where a stack's state keeps Xen's: what the Xen-level invariants read. */
export type XenView<S> = (state: S) => XenState;

function parts<K extends keyof XenDomain>(xen: XenState, ...fields: K[]): unknown[] {
  // A plain loop: the engine calls this after every step, twice per invariant.
  const found: unknown[] = [];
  for (const domain of xen.domains) for (const field of fields) found.push(domain[field]);
  return found;
}

function forEachEntry(
  xen: XenState,
  visit: (domain: XenDomain, ref: number, act: ActiveEntry) => Violation | null,
): Violation | null {
  for (const domain of xen.domains) {
    for (let ref = 0; ref < domain.active.length; ref++) {
      const act = domain.active[ref];
      if (act === undefined) continue;
      const violation = visit(domain, ref, act);
      if (violation !== null) return violation;
    }
  }
  return null;
}

const bit = (set: boolean): string => (set ? 'set' : 'clear');

/**
 * GTF_reading and GTF_writing, where the table's version keeps them (the v1 entry's flags, the v2
 * status word), say exactly whether the entry is pinned and pinned writable.
 */
export function grantStatusMatchesPins<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-status-matches-pins',
    class: 'accounting',
    description:
      'GTF_reading / GTF_writing, in the v1 entry or the v2 status word, are set exactly while the entry is pinned / pinned writable (a reserved entry its granter invalidated: only while)',
    reads: (state) => parts(view(state), 'grantTable', 'active', 'grantStatus', 'grantVersion'),
    check({ after }) {
      return forEachEntry(view(after), (domain, ref, act) => {
        const bits = grantStatusBits(domain, ref);
        const reading = pinTotal(act) > 0;
        const writing = act.hstw + act.devw > 0;
        if (bits.reading === reading && bits.writing === writing) return null;
        // A reserved entry the granter invalidated while it was pinned: gnttab_set_version carries
        // over only the reserved entries that permit access, so their status goes (bits may be
        // clear under a pin, never set without one).
        const revokedReserved = ref < GNTTAB_NR_RESERVED_ENTRIES && domain.grantTable[ref]?.permitAccess === false;
        if (revokedReserved && (!bits.reading || reading) && (!bits.writing || writing)) return null;
        const where = grantVersionOf(domain) === 2 ? 'v2 status word' : 'v1 entry';
        return {
          message: `dom${domain.domid} grant ref ${ref} (${where}): GTF_reading ${bit(bits.reading)}, GTF_writing ${bit(bits.writing)} with pins hstw ${act.hstw} hstr ${act.hstr} devw ${act.devw} devr ${act.devr}`,
          actual: `GTF_reading ${bit(bits.reading)}, GTF_writing ${bit(bits.writing)}`,
          expected: `GTF_reading ${bit(reading)}, GTF_writing ${bit(writing)}`,
        };
      });
    },
  };
}

/** A v2 shared entry carries no GTF_reading/GTF_writing: Xen writes them into the status array only. */
export function v2EntriesCarryNoStatus<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'v2-entries-carry-no-status',
    class: 'accounting',
    description: 'in a v2 table no shared entry has GTF_reading or GTF_writing (they live in the status array)',
    reads: (state) => parts(view(state), 'grantTable', 'grantVersion'),
    check({ after }) {
      for (const domain of view(after).domains) {
        if (grantVersionOf(domain) !== 2) continue;
        const ref = domain.grantTable.findIndex((entry) => entry.reading || entry.writing);
        if (ref < 0) continue;
        return {
          message: `dom${domain.domid} grant ref ${ref}: a v2 shared entry with GTF_reading/GTF_writing set`,
          actual: 'status bits in the shared entry',
          expected: 'status bits in the status array only',
        };
      }
      return null;
    },
  };
}

/** A v2 table has its status array and the status frames its shared frames need; a v1 table none. */
export function statusFramesMatchVersion<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'status-frames-match-version',
    class: 'accounting',
    description:
      "a running domain's v2 table has grant_to_status_frames(nr_grant_frames) status frames and a status word per entry; a v1 table has neither",
    reads: (state) => parts(view(state), 'grantVersion', 'statusFrames', 'grantStatus'),
    check({ after }) {
      for (const domain of view(after).domains) {
        // A dying domain's frames went back with its memory (`releaseGrantFrames`).
        if (domain.life !== 'running') continue;
        const v2 = grantVersionOf(domain) === 2;
        const frames = domain.statusFrames?.length ?? 0;
        const words = domain.grantStatus?.length ?? 0;
        const expectedFrames = v2 ? grantToStatusFrames(nrGrantFrames(domain)) : 0;
        const expectedWords = v2 ? domain.grantTable.length : 0;
        if (frames === expectedFrames && words === expectedWords) continue;
        return {
          message: `dom${domain.domid}: grant table v${v2 ? 2 : 1} with ${frames} status frames and ${words} status words`,
          actual: `${frames} status frames, ${words} status words`,
          expected: `${expectedFrames} status frames, ${expectedWords} status words`,
        };
      }
      return null;
    },
  };
}

/**
 * A grant-table frame in a domain's p2m (XENMAPSPACE_grant_table) is a frame its table has now,
 * owned by it and referenced: never a frame the table gave back (freed, or reused by anyone).
 */
export function grantFrameMappingsLive<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-frame-mappings-live',
    class: 'effect',
    description:
      "a grant-table frame mapped in a domain's p2m is one of its table's current shared or status frames, owned by it",
    reads: (state) => {
      const xen = view(state);
      return [xen.memory, ...parts(xen, 'p2m', 'sharedFrames', 'statusFrames')];
    },
    check({ after }) {
      const xen = view(after);
      for (const domain of xen.domains) {
        for (const key in domain.p2m) {
          const entry = domain.p2m[key];
          if (entry?.type !== 'grant_table') continue;
          const table = entry.status ? domain.statusFrames : domain.sharedFrames;
          const current = table?.[entry.idx];
          const frame = xen.memory.frames[entry.mfn];
          const owner = frame?.owner ?? null;
          if (current === entry.mfn && owner === domain.domid && (frame?.refcount ?? 0) > 0) continue;
          const kind = entry.status ? 'status' : 'shared';
          return {
            message: `dom${domain.domid} gfn ${key} maps mfn ${entry.mfn} as its ${kind} frame ${entry.idx}; the table's ${kind} frame ${entry.idx} is ${current === undefined ? 'gone' : `mfn ${current}`}, mfn ${entry.mfn} is ${ownerName(owner)}`,
            actual: `mfn ${entry.mfn} ${ownerName(owner)}${current === entry.mfn ? '' : ', not in the table'}`,
            expected: `a current ${kind} frame of dom${domain.domid}'s table, owned by dom${domain.domid}`,
          };
        }
      }
      return null;
    },
  };
}

/** Each frame of a domain's grant table is owned by it, and `d->xenheap_pages` counts them. */
export function grantTableFramesOwned<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-table-frames-owned',
    class: 'accounting',
    description:
      "each shared and status frame of a domain's grant table is owned by it, and its Xen-heap page count counts them",
    reads: (state) => {
      const xen = view(state);
      return [xen.memory, ...parts(xen, 'sharedFrames', 'statusFrames', 'xenheapPages')];
    },
    check({ after }) {
      const xen = view(after);
      for (const domain of xen.domains) {
        const frames = [...(domain.sharedFrames ?? []), ...(domain.statusFrames ?? [])];
        const stray = frames.find((mfn) => xen.memory.frames[mfn]?.owner !== domain.domid);
        if (stray !== undefined) {
          return {
            message: `dom${domain.domid}'s grant table has mfn ${stray}, which is ${ownerName(xen.memory.frames[stray]?.owner)}`,
            actual: `mfn ${stray} ${ownerName(xen.memory.frames[stray]?.owner)}`,
            expected: `mfn ${stray} owned by dom${domain.domid}`,
          };
        }
        if ((domain.xenheapPages ?? 0) === frames.length) continue;
        return {
          message: `dom${domain.domid}: xenheap_pages ${domain.xenheapPages ?? 0} with ${frames.length} grant-table frames`,
          actual: `xenheap_pages ${domain.xenheapPages ?? 0}`,
          expected: `xenheap_pages ${frames.length}`,
        };
      }
      return null;
    },
  };
}

/**
 * Each frame's reference count equals its holders recomputed from every structure: p2m entries,
 * maptrack handles, grant-table frames, PV page tables, the buffers of copies in flight
 * (`holderCensus`), plus what the stack's own operations in flight hold (`extraRefs`, default
 * none). `reads`: the parts of the stack's state the count depends on, for incremental checking.
 */
export function frameRefcountMatchesXenHolders<S, C>(
  view: XenView<S>,
  extraRefs: (state: S, mfn: number) => number = () => 0,
  reads?: (state: S) => readonly unknown[],
): Invariant<S, C> {
  return {
    name: 'frame-refcount-matches-holders',
    class: 'accounting',
    description:
      "each frame's reference count equals the holders recomputed from every p2m, maptrack, grant table, page table and copy in flight, and the references the stack's operations in flight hold",
    ...(reads === undefined ? {} : { reads }),
    check({ after }) {
      const xen = view(after);
      const counted = holderCensus(xen).total;
      for (const frame of xen.memory.frames) {
        const extra = extraRefs(after, frame.mfn);
        if (frame.refcount === (counted[frame.mfn] ?? 0) + extra) continue;
        const holders = holdersByFrame(xen)[frame.mfn] ?? [];
        const held = extra === 0 ? '' : `, ${extra} references of operations in flight`;
        return {
          message: `mfn ${frame.mfn}: refcount ${frame.refcount}, ${holders.length} holders (${describeHolders(holders)})${held}`,
          actual: `refcount ${frame.refcount}`,
          expected: `refcount ${holders.length + extra}`,
        };
      }
      return null;
    },
  };
}

type PinCounter = 'hstw' | 'hstr' | 'devw' | 'devr';
const pinCounters: readonly PinCounter[] = ['hstw', 'hstr', 'devw', 'devr'];

/**
 * Each pin counter of an active entry equals the live maptrack handles of that kind plus the
 * copies in flight holding a transient pin (`hstr` for a source, `hstw` for a destination), plus
 * what the stack's own operations in flight hold (`extraPins`).
 */
export function grantPinsMatchMappingsAndCopies<S, C>(
  view: XenView<S>,
  extraPins: (state: S, granterDomid: number, ref: number, counter: PinCounter) => number = () => 0,
): Invariant<S, C> {
  return {
    name: 'grant-pins-match-mappings-and-copies',
    class: 'accounting',
    description:
      'each pin counter of a grant equals the live maptrack handles of that kind and the copies in flight through it',
    reads: (state) => parts(view(state), 'active', 'maptrack', 'grantCopies'),
    check({ after }) {
      const xen = view(after);
      // Granter, then ref, then the four counters in `pinCounters` order: numbers, not a string key
      // per entry and counter (the check runs on every new state; most entries are idle).
      const counts = new Map<number, Map<number, number[]>>();
      const add = (granterDomid: number, ref: number, counter: PinCounter): void => {
        let refs = counts.get(granterDomid);
        if (refs === undefined) counts.set(granterDomid, (refs = new Map()));
        let held = refs.get(ref);
        if (held === undefined) refs.set(ref, (held = [0, 0, 0, 0]));
        const index = pinCounters.indexOf(counter);
        held[index] = (held[index] ?? 0) + 1;
      };
      for (const mapper of xen.domains) {
        for (const mapping of mapper.maptrack) {
          if (mapping === null) continue;
          if (mapping.host) add(mapping.granterDomid, mapping.ref, mapping.readonly ? 'hstr' : 'hstw');
          if (mapping.device) add(mapping.granterDomid, mapping.ref, mapping.readonly ? 'devr' : 'devw');
        }
        for (const copy of mapper.grantCopies ?? []) {
          for (const buf of [copy.source, copy.dest]) {
            if (buf.ref !== null) add(buf.domid, buf.ref, buf.readonly ? 'hstr' : 'hstw');
          }
        }
      }
      return forEachEntry(xen, (granter, ref, act) => {
        const mapped = counts.get(granter.domid)?.get(ref);
        for (let index = 0; index < pinCounters.length; index++) {
          const counter = pinCounters[index] as PinCounter;
          const held = (mapped?.[index] ?? 0) + extraPins(after, granter.domid, ref, counter);
          if (act[counter] === held) continue;
          return {
            message: `dom${granter.domid} grant ref ${ref}: ${counter} pin ${act[counter]}, ${held} mappings and copies in flight hold one`,
            actual: `${counter} ${act[counter]}`,
            expected: `${counter} ${held}`,
          };
        }
        return null;
      });
    },
  };
}

function describeBuf(buf: GrantCopyBuf): string {
  return buf.ref === null ? `dom${buf.domid} gmfn ${buf.gmfn ?? '?'}` : `dom${buf.domid} grant ref ${buf.ref}`;
}

/**
 * A copy in flight keeps what it claimed: each buffer's frame is still its domain's, and a buffer
 * claimed through a grant keeps the grant pinned by the caller on that frame.
 */
export function grantCopyHoldsItsClaims<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-copy-holds-its-claims',
    class: 'effect',
    description:
      "a copy in flight's frames are still their domains', and a grant it copies through stays pinned by the caller on that frame",
    reads: (state) => {
      const xen = view(state);
      return [xen.memory, ...parts(xen, 'active', 'grantCopies')];
    },
    check({ after }) {
      const xen = view(after);
      for (const caller of xen.domains) {
        for (const [index, copy] of (caller.grantCopies ?? []).entries()) {
          for (const buf of [copy.source, copy.dest]) {
            const owner = xen.memory.frames[buf.mfn]?.owner ?? null;
            const act = buf.ref === null ? undefined : xen.domains[buf.domid]?.active[buf.ref];
            const pinned =
              act === undefined ||
              (act.domid === caller.domid && act.mfn === buf.mfn && act[buf.readonly ? 'hstr' : 'hstw'] > 0);
            if (owner === buf.domid && pinned) continue;
            const side = buf.readonly ? 'source' : 'destination';
            return {
              message: `dom${caller.domid}'s copy ${index} in flight: its ${side} ${describeBuf(buf)} claimed mfn ${buf.mfn}, now ${ownerName(owner)}${pinned ? '' : ', the grant no longer pinned for it'}`,
              actual: `mfn ${buf.mfn} ${ownerName(owner)}${pinned ? ', pinned' : ', not pinned'}`,
              expected: `mfn ${buf.mfn} dom${buf.domid}'s, pinned`,
            };
          }
        }
      }
      return null;
    },
  };
}

/** The last copy's `memcpy` touched only the frames it claimed, each then owned by its buffer's domain. */
export function grantCopyAccessesClaimedFrames<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-copy-accesses-claimed-frames',
    class: 'effect',
    description:
      "a copy reads only its source's frame and writes only its destination's, each owned by the domain it was claimed from",
    reads: (state) => [view(state).lastGrantCopy],
    check({ after }) {
      const copy = view(after).lastGrantCopy;
      if (copy === undefined) return null;
      for (const access of copy.accesses) {
        const buf = access.write ? copy.dest : copy.source;
        if (access.mfn === buf.mfn && access.owner === buf.domid) continue;
        const verb = access.write ? 'wrote' : 'read';
        return {
          message: `dom${copy.callerDomid}'s copy ${verb} mfn ${access.mfn} (${ownerName(access.owner)}); its ${access.write ? 'destination' : 'source'} ${describeBuf(buf)} is mfn ${buf.mfn}`,
          actual: `${verb} mfn ${access.mfn} (${ownerName(access.owner)})`,
          expected: `${verb} mfn ${buf.mfn} (dom${buf.domid})`,
        };
      }
      return null;
    },
  };
}

/** The last copy wrote through no grant the granter marked read-only. */
export function grantCopyWritesWritableGrants<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-copy-writes-writable-grants',
    class: 'effect',
    description: 'a copy writes into another domain only through a grant that domain did not mark GTF_readonly',
    reads: (state) => [view(state).lastGrantCopy],
    check({ after }) {
      const copy = view(after).lastGrantCopy;
      if (copy === undefined || copy.dest.grantReadonly !== true) return null;
      if (!copy.accesses.some((access) => access.write)) return null;
      return {
        message: `dom${copy.callerDomid}'s copy wrote into mfn ${copy.dest.mfn} through ${describeBuf(copy.dest)}, which dom${copy.dest.domid} granted read-only`,
        actual: 'written through a GTF_readonly grant',
        expected: 'no write through a GTF_readonly grant',
      };
    },
  };
}

/** Every grant v2 / copy invariant of this file, for a stack's view. */
export function grantV2Invariants<S, C>(view: XenView<S>): Invariant<S, C>[] {
  return [
    grantStatusMatchesPins(view),
    v2EntriesCarryNoStatus(view),
    statusFramesMatchVersion(view),
    grantFrameMappingsLive(view),
    grantTableFramesOwned(view),
    grantPinsMatchMappingsAndCopies(view),
    grantCopyHoldsItsClaims(view),
    grantCopyAccessesClaimedFrames(view),
    grantCopyWritesWritableGrants(view),
  ];
}
