/**
 * Generators of the Xen passthrough stack's grant v2 and copy commands (`models/xenpt/grant-v2.ts`),
 * joined to the stack's command space through `XenPtExtraCommands`, and the resolution of their
 * picks against the state. C's flaws need protocol runs (grant then copy, switch to v2 then map
 * the status frame, map it again, switch back); the stack makes one command at a time, so each
 * pick aims at what the next protocol step needs: a copy at a live grant to its caller (a
 * read-only one first for a destination) or at the caller's RAM; a version switch at a domain
 * whose status frame is mapped or whose entries beyond the reserved ones are pinned, to the other
 * version; a grant-table frame mapping at the status frame while v2, at a free gfn other than the
 * one it is at; an end of access at a granted ref. Nothing here knows a design.
 */
import fc from 'fast-check';
import { GNTTAB_NR_RESERVED_ENTRIES, grantFrameFor, grantFrameGfn } from '../../models/xen/grant-v2.js';
import { grantVersionOf } from '../../models/xen/grant-status.js';
import { pinTotal } from '../../models/xen/grant-table.js';
import type { XenDomain } from '../../models/xen/types.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { DOMID_SELF, isXenPtGrantV2Kind } from '../../models/xenpt/grant-v2.js';
import type { XenPtGrantV2Command } from '../../models/xenpt/grant-v2.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import { isPick } from '../pick.js';
import type { Pickable } from '../pick.js';
import { preferOr, preferredPick, resolvePreferring } from '../prefer.js';
import type { XenPtExtraCommands, XenPtTemplate, XenPtUniverse } from './generators.js';

/** Byte offsets of a copy: the page's start, inside it, near its end (so that some segments overrun). */
const copyOffsets = [0, 16, 2048, 4000] as const;
/** Copy lengths: a few bytes to the whole page. */
const copyLens = [0, 64, 200, 4096] as const;

/** gfns a grant-table frame may go to: the world's, and two above its RAM (where Linux puts its grant frames). */
function grantFrameGfns(universe: XenPtUniverse): number[] {
  const top = universe.gfns.length;
  return [...universe.gfns, top, top + 1];
}

export const xenPtGrantV2Weights: Readonly<Record<string, number>> = {
  setGrantVersion: 3,
  getStatusFrames: 1,
  mapGrantFrame: 4,
  endAccess: 1,
  grantCopy: 5,
};

/** The kinds that change what a copy in flight holds or names. */
const copyConflicts = ['endAccess', 'unmapGrantRef', 'decreaseReservation', 'setGrantVersion', 'destroyDomain'];

export function xenPtGrantV2Commands(config: XenPtConfig, universe: XenPtUniverse): XenPtExtraCommands {
  const one = <V>(values: readonly V[]): fc.Arbitrary<V> => fc.constantFrom(...values);
  const anyDomid = one(universe.domids);
  const hvm = one(universe.hvmGuests.length > 0 ? universe.hvmGuests : universe.domids);
  const caller = fc.oneof({ weight: 4, arbitrary: hvm }, { weight: 1, arbitrary: anyDomid });
  const ref = fc.integer({ min: 0, max: Math.max(0, config.world.grantEntries - 1) });
  const grantSide = fc.record({
    domid: preferredPick as fc.Arbitrary<Pickable<number>>,
    gref: fc.constant(true),
    frame: preferOr(ref),
  });
  const selfSide = fc.record({
    domid: fc.constant(DOMID_SELF) as fc.Arbitrary<Pickable<number>>,
    gref: fc.constant(false),
    frame: preferOr(one(universe.gfns)),
  });
  const rawSide = fc.record({
    domid: fc.oneof(anyDomid, fc.constant(DOMID_SELF)) as fc.Arbitrary<Pickable<number>>,
    gref: fc.boolean(),
    frame: fc.oneof(ref, one(universe.gfns)) as fc.Arbitrary<Pickable<number>>,
  });
  const side = fc.oneof(
    { weight: 4, arbitrary: grantSide },
    { weight: 2, arbitrary: selfSide },
    { weight: 1, arbitrary: rawSide },
  );
  const granter = one(universe.domids.filter((domid) => !universe.hvmGuests.includes(domid)));
  const arbitraries: Record<string, fc.Arbitrary<XenPtTemplate>> = {
    setGrantVersion: fc
      .record({ domid: preferOr(anyDomid), version: preferOr(one([1, 2, 2, 3])) })
      .map((args): XenPtTemplate => ({ kind: 'setGrantVersion', ...args })),
    getStatusFrames: fc
      .record({ callerDomid: anyDomid, domid: anyDomid, nrFrames: one([0, 1, 2]) })
      .map((args): XenPtTemplate => ({ kind: 'getStatusFrames', ...args })),
    mapGrantFrame: fc
      .record({
        domid: fc.oneof({ weight: 6, arbitrary: hvm }, { weight: 1, arbitrary: anyDomid }),
        idx: one([0, 0, 0, 0, 0, 1]),
        // Mostly a status frame (meaningful while v2; in v1 the flag leaves the index out of range).
        status: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        gfn: preferOr(one(grantFrameGfns(universe))),
      })
      .map((args): XenPtTemplate => ({ kind: 'mapGrantFrame', ...args }) as unknown as XenPtTemplate),
    endAccess: fc
      .record({
        domid: granter,
        ref: preferOr(ref),
      })
      .map((args): XenPtTemplate => ({ kind: 'endAccess', ...args })),
    grantCopy: fc
      .record({
        callerDomid: caller,
        source: side,
        dest: side,
        sourceOffset: one(copyOffsets),
        destOffset: one(copyOffsets),
        len: fc.oneof(
          { weight: 1, arbitrary: fc.constant(0) },
          { weight: 6, arbitrary: one(copyLens.filter((len) => len > 0)) },
        ),
      })
      .map(
        ({ callerDomid, source, dest, sourceOffset, destOffset, len }): XenPtTemplate =>
          ({
            kind: 'grantCopy',
            callerDomid,
            sourceDomid: source.domid,
            sourceGref: source.gref,
            sourceFrame: source.frame,
            sourceOffset,
            destDomid: dest.domid,
            destGref: dest.gref,
            destFrame: dest.frame,
            destOffset,
            len,
          }) as unknown as XenPtTemplate,
      ),
  };
  return {
    arbitraries,
    weights: xenPtGrantV2Weights,
    conflicts: { grantCopy: copyConflicts },
  };
}

// ---------------------------------------------------------------------------------------------
// Resolution of picks

/** Live grants to `caller`: (granter, ref) of every entry permitting it access, writable ones first when `writableFirst`. */
function grantsTo(state: XenPtState, caller: number, writableFirst: boolean): [number, number][] {
  const grants: { at: [number, number]; readonly: boolean }[] = [];
  for (const granter of state.xen.domains) {
    granter.grantTable.forEach((entry, ref) => {
      if (entry.permitAccess && entry.domid === caller && granter.domid !== caller)
        grants.push({ at: [granter.domid, ref], readonly: entry.readonly });
    });
  }
  if (writableFirst) grants.sort((left, right) => Number(left.readonly) - Number(right.readonly));
  return grants.map((grant) => grant.at);
}

function ramGfns(domain: XenDomain | undefined): number[] {
  if (domain === undefined) return [];
  return Object.entries(domain.p2m)
    .filter(([, entry]) => entry.type === 'ram_rw')
    .map(([gfn]) => Number(gfn))
    .sort((left, right) => left - right);
}

/** Does the domain have an entry beyond the reserved ones pinned (a version switch the scan refuses)? */
function pinnedBeyondReserved(domain: XenDomain): boolean {
  return domain.active.some((act, ref) => ref >= GNTTAB_NR_RESERVED_ENTRIES && pinTotal(act) > 0);
}

/** Does the domain have a status frame of its table in its p2m? */
function statusFrameMapped(domain: XenDomain): boolean {
  return Object.values(domain.p2m).some((entry) => entry.type === 'grant_table' && entry.status);
}

/** The kinds `resolveXenPtGrantV2` resolves: grant v2 and copy, and the grants it replaces the generator of. */
export function resolvedByGrantV2(kind: string): boolean {
  return isXenPtGrantV2Kind(kind) || kind === 'grantAccess';
}

export function resolveXenPtGrantV2(state: XenPtState, universe: XenPtUniverse, template: XenPtTemplate): XenPtCommand {
  const fields = { ...(template as unknown as Record<string, unknown>) };
  const fallback = (values: readonly number[]) => (pick: number) => values[pick % values.length] ?? 0;
  const num = (name: string): number => (typeof fields[name] === 'number' ? (fields[name] as number) : 0);
  const resolve = (name: string, preferred: () => readonly number[], live: readonly number[]): void => {
    const value = fields[name];
    if (!isPick(value)) return;
    fields[name] = resolvePreferring(value, preferred, live, fallback(live.length > 0 ? live : [0]));
  };
  const domains = state.xen.domains;
  switch (template.kind) {
    case 'setGrantVersion': {
      // A domain whose switch matters: its status frame mapped (back to v1), its entries beyond
      // the reserved ones pinned, a translated one still at v1 (to v2, then its status frame mapped).
      resolve(
        'domid',
        () => {
          const running = domains.filter((domain) => domain.life === 'running');
          for (const matters of [
            pinnedBeyondReserved,
            statusFrameMapped,
            (domain: XenDomain) => domain.translated && grantVersionOf(domain) === 1,
          ]) {
            const found = running.filter(matters).map((domain) => domain.domid);
            if (found.length > 0) return found;
          }
          return [];
        },
        universe.domids,
      );
      const current = domains[num('domid')];
      const other = current === undefined ? 2 : 3 - grantVersionOf(current);
      resolve('version', () => [other], [1, 2]);
      break;
    }
    case 'mapGrantFrame': {
      const domain = domains[num('domid')];
      const gfns = grantFrameGfns(universe);
      // A free gfn, other than the one the frame is at (a second gfn for it).
      const frame =
        domain === undefined ? null : grantFrameFor(domain, { idx: num('idx'), status: fields['status'] === true });
      const at = domain === undefined || frame === null ? null : grantFrameGfn(domain, frame);
      resolve(
        'gfn',
        () =>
          gfns.filter(
            (gfn) => gfn !== at && (domain?.p2m[gfn] === undefined || domain.p2m[gfn]?.type === 'grant_table'),
          ),
        gfns,
      );
      break;
    }
    case 'grantAccess': {
      // A page the granter has (a grant of anything else is refused when used: GNTST_bad_page).
      const gfns = ramGfns(domains[num('domid')]);
      resolve('gfn', () => gfns, universe.gfns);
      break;
    }
    case 'endAccess': {
      const table = domains[num('domid')]?.grantTable ?? [];
      const all = table.map((_, ref) => ref);
      resolve('ref', () => all.filter((ref) => table[ref]?.permitAccess === true), all);
      break;
    }
    case 'grantCopy': {
      const caller = num('callerDomid');
      for (const [prefix, writableFirst] of [
        ['source', false],
        ['dest', true],
      ] as const) {
        const domidField = `${prefix}Domid`;
        const frameField = `${prefix}Frame`;
        if (fields[`${prefix}Gref`] === true && isPick(fields[domidField])) {
          // A live grant to the caller: the granter and the ref together.
          const grants = grantsTo(state, caller, writableFirst);
          const pick = (fields[domidField] as { pick: number }).pick;
          const frame = fields[frameField];
          const chosen = grants.length === 0 ? undefined : grants[(isPick(frame) ? frame.pick : pick) % grants.length];
          if (chosen === undefined) {
            // No grant to the caller: its own page instead (DOMID_SELF, a gmfn).
            const gfns = ramGfns(domains[caller]);
            fields[domidField] = DOMID_SELF;
            fields[`${prefix}Gref`] = false;
            fields[frameField] = gfns.length === 0 ? 0 : gfns[(isPick(frame) ? frame.pick : pick) % gfns.length];
          } else {
            fields[domidField] = chosen[0];
            fields[frameField] = chosen[1];
          }
        } else {
          const gfns = ramGfns(domains[caller]);
          resolve(frameField, () => gfns, universe.gfns);
          if (isPick(fields[domidField])) fields[domidField] = DOMID_SELF;
        }
      }
      break;
    }
    case 'getStatusFrames':
    case 'advance':
    case 'assignDevice':
    case 'createDomain':
    case 'deassignDevice':
    case 'decreaseReservation':
    case 'destroyDomain':
    case 'dma':
    case 'mapGrantRef':
    case 'moveGfn':
    case 'populatePhysmap':
    case 'unmapGrantRef':
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      break;
  }
  for (const [name, value] of Object.entries(fields)) {
    if (isPick(value)) fields[name] = fallback(universe.gfns)(value.pick);
  }
  return fields as unknown as XenPtGrantV2Command;
}
