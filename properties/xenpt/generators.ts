/**
 * Generators of the Xen passthrough stack, and the picks they hold, resolved against the state
 * when the step runs. A DMA aims, preferably, at a dfn its device reaches only through a stale
 * IOTLB entry (one whose dfn awaits a flush, or which no longer matches the context), else at one
 * it reaches; a balloon-out aims at a gfn whose frame a device reaches; a move at a gfn the IOTLB
 * caches; a deassignment at the device's current owner. Every command kind is generated.
 */
import fc from 'fast-check';
import { DOMID_IO } from '../../models/xen/pci.js';
import { xenPtPhases } from '../../models/xenpt/commands.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { CommandSpace } from '../../src/design.js';
import { ADVANCE, phasedSpace, preemptedPhases, resolveAdvance } from '../generic/interleave.js';
import type { AdvanceCommand } from '../generic/interleave.js';
import { isPick } from '../pick.js';
import type { Templated } from '../pick.js';
import { preferOr, preferredPick, resolvePreferring } from '../prefer.js';
import { resolveXenPtPvField } from './pv-memory.js';
import { resolvedByGrantV2, resolveXenPtGrantV2 } from './grant-v2-generators.js';
import { deviceReach, dmaAims, staleDfns } from './views.js';

export type XenPtTemplate = Templated<XenPtCommand>;

/** What a pick of this world falls back to. */
export interface XenPtUniverse {
  readonly domids: readonly number[];
  readonly guests: readonly number[];
  readonly hvmGuests: readonly number[];
  readonly devices: readonly number[];
  readonly gfns: readonly number[];
  /** dfns a DMA may name: gfns (HVM) and mfns (PV). */
  readonly dfns: readonly number[];
}

export function xenPtUniverse(config: XenPtConfig): XenPtUniverse {
  const world = config.world;
  const domids = world.domains.map((_, domid) => domid);
  const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);
  return {
    domids,
    guests: domids.filter((domid) => domid !== 0),
    hvmGuests: domids.filter((domid) => domid !== 0 && world.domains[domid]?.translated === true),
    devices: range(world.devices.length),
    gfns: range(world.gfnSpace),
    dfns: range(Math.max(world.gfnSpace, world.frames)),
  };
}

// DMA and the moves that leave IOTLB entries stale stay near half of every run with the PV memory
// and grant v2 / copy kinds added (extra-commands.ts).
const weights: Readonly<Record<string, number>> = {
  dma: 28,
  moveGfn: 14,
  decreaseReservation: 6,
  populatePhysmap: 5,
  assignDevice: 3,
  deassignDevice: 2,
  grantAccess: 3,
  mapGrantRef: 3,
  unmapGrantRef: 3,
  destroyDomain: 1,
  createDomain: 2,
};

/** The kinds that can change what a phased operation's next phase depends on. */
const conflicts: Readonly<Record<string, readonly string[]>> = {
  dma: ['deassignDevice', 'destroyDomain', 'moveGfn', 'decreaseReservation', 'unmapGrantRef'],
  moveGfn: ['decreaseReservation', 'dma'],
  destroyDomain: ['dma', 'createDomain'],
};

/**
 * Generators of further commands, by kind, with their weights: how the PV memory commands
 * and grant v2 / copy join the stack's command space once their kinds
 * are in `XenPtCommand` and `stepXenOp`.
 */
export interface XenPtExtraCommands {
  readonly arbitraries: Readonly<Record<string, fc.Arbitrary<XenPtTemplate>>>;
  readonly weights?: Readonly<Record<string, number>>;
  /** Kinds that conflict with the windows of the phased kinds (`dma`, `moveGfn`, `destroyDomain`). */
  readonly conflicts?: Readonly<Record<string, readonly string[]>>;
}

export function xenPtCommandSpace(
  config: XenPtConfig,
  universe: XenPtUniverse,
  extra: XenPtExtraCommands = { arbitraries: {} },
  preempt?: readonly string[],
): CommandSpace<XenPtTemplate> {
  const one = <V>(values: readonly V[]): fc.Arbitrary<V> => fc.constantFrom(...values);
  const guest = one(universe.guests.length > 0 ? universe.guests : universe.domids);
  const hvm = one(universe.hvmGuests.length > 0 ? universe.hvmGuests : universe.domids);
  const anyDomid = one(universe.domids);
  const device = one(universe.devices);
  const gfn = one(universe.gfns);
  const granter = one(universe.domids.filter((domid) => !universe.hvmGuests.includes(domid)));
  const ref = fc.integer({ min: 0, max: config.world.grantEntries - 1 });
  const table: Record<string, fc.Arbitrary<XenPtTemplate>> = {
    assignDevice: fc
      .record({
        // dom_io: xl pci-assignable-add, the device quarantined before a guest gets it.
        domid: fc.oneof(
          { weight: 5, arbitrary: guest },
          { weight: 1, arbitrary: anyDomid },
          { weight: 1, arbitrary: fc.constant(DOMID_IO) },
        ),
        device,
      })
      .map((args): XenPtTemplate => ({ kind: 'assignDevice', ...args })),
    deassignDevice: fc
      .record({ domid: preferOr(anyDomid), device })
      .map((args): XenPtTemplate => ({ kind: 'deassignDevice', ...args })),
    dma: fc
      .record({ device, dfn: preferOr(one(universe.dfns)), write: fc.boolean() })
      .map((args): XenPtTemplate => ({ kind: 'dma', ...args })),
    moveGfn: fc
      .record({
        domid: fc.oneof({ weight: 6, arbitrary: hvm }, { weight: 1, arbitrary: anyDomid }),
        idx: preferOr(gfn),
        gpfn: preferOr(gfn),
      })
      .map((args): XenPtTemplate => ({ kind: 'moveGfn', ...args })),
    decreaseReservation: fc
      .record({
        domid: fc.oneof({ weight: 4, arbitrary: hvm }, { weight: 2, arbitrary: anyDomid }),
        gfn: preferOr(gfn),
      })
      .map((args): XenPtTemplate => ({ kind: 'decreaseReservation', ...args })),
    populatePhysmap: fc
      .record({ domid: anyDomid, gfn })
      .map((args): XenPtTemplate => ({ kind: 'populatePhysmap', ...args })),
    grantAccess: fc
      .record({ domid: granter, ref, granteeDomid: hvm, gfn, readonly: fc.boolean() })
      .map((args): XenPtTemplate => ({ kind: 'grantAccess', ...args })),
    mapGrantRef: fc
      .record({
        mapperDomid: hvm,
        granterDomid: granter,
        ref: preferOr(ref),
        gfn: preferOr(gfn),
        readonly: fc.boolean(),
      })
      .map((args): XenPtTemplate => ({ kind: 'mapGrantRef', ...args })),
    unmapGrantRef: fc
      .record({ mapperDomid: hvm, handle: preferOr(fc.integer({ min: 0, max: config.world.maptrackHandles - 1 })) })
      .map((args): XenPtTemplate => ({ kind: 'unmapGrantRef', ...args })),
    destroyDomain: fc
      .oneof({ weight: 8, arbitrary: guest }, { weight: 1, arbitrary: anyDomid })
      .map((domid): XenPtTemplate => ({ kind: 'destroyDomain', domid })),
    createDomain: guest.map((domid): XenPtTemplate => ({ kind: 'createDomain', domid })),
  };
  // Inside a window: a balloon-out aimed at what a device reaches, a DMA aimed at a stale entry.
  const windowTable: Record<string, fc.Arbitrary<XenPtTemplate>> = {
    decreaseReservation: fc
      .record({ domid: hvm, gfn: preferredPick })
      .map((args): XenPtTemplate => ({ kind: 'decreaseReservation', ...args })),
    dma: fc
      .record({ device: preferredPick, dfn: preferredPick, write: fc.boolean() })
      .map((args): XenPtTemplate => ({ kind: 'dma', ...args })),
  };
  Object.assign(table, extra.arbitraries);
  const allWeights: Readonly<Record<string, number>> = { ...weights, ...extra.weights };
  const allConflicts: Record<string, readonly string[]> = { ...conflicts };
  for (const [kind, others] of Object.entries(extra.conflicts ?? {})) {
    allConflicts[kind] = [...(allConflicts[kind] ?? []), ...others];
  }
  return {
    kinds: Object.keys(table),
    weight: (kind) => allWeights[kind] ?? 1,
    arbitrary(kind) {
      const arbitrary = table[kind];
      if (arbitrary === undefined) throw new Error(`Xen passthrough: no generator for command kind '${kind}'`);
      return arbitrary;
    },
    interleaving: {
      ...phasedSpace<XenPtTemplate>(preemptedPhases(xenPtPhases, preempt), allConflicts),
      windowArbitrary: (kind) => windowTable[kind],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Resolution of picks

/** gfns of `domid` whose frame some device reaches, those reached through the IOTLB first. */
function reachedGfns(state: XenPtState, domid: number): number[] {
  const domain = state.xen.domains[domid];
  if (domain === undefined) return [];
  const reach = deviceReach(state);
  const frames = (via: 'iotlb' | 'table'): Set<number> =>
    new Set(
      reach
        .filter((found) => found.via === via && found.target.kind === 'frame')
        .map((found) => (found.target.kind === 'frame' ? found.target.mfn : -1)),
    );
  const gfnsOf = (mfns: Set<number>): number[] =>
    Object.entries(domain.p2m)
      .filter(([, entry]) => mfns.has(entry.mfn))
      .map(([gfn]) => Number(gfn))
      .sort((left, right) => left - right);
  const viaIotlb = gfnsOf(frames('iotlb'));
  if (viaIotlb.length > 0) return viaIotlb;
  // Not a gfn whose own IOTLB entry is stale: its balloon-out would flush the entry away.
  const stale = new Set(state.devices.flatMap((device) => staleDfns(state, device.sbdf)));
  return gfnsOf(frames('table')).filter((gfn) => !stale.has(gfn));
}

/** gfns of `domid` whose dfn the IOTLB caches. */
function cachedGfns(state: XenPtState, domid: number): number[] {
  const prefix = `dom${domid}/`;
  return Object.keys(state.iotlb)
    .filter((key) => key.startsWith(prefix))
    .map((key) => Number(key.slice(prefix.length)))
    .filter((gfn) => state.xen.domains[domid]?.p2m[gfn]?.type === 'ram_rw')
    .sort((left, right) => left - right);
}

export function resolveXenPt(state: XenPtState, universe: XenPtUniverse, template: XenPtTemplate): XenPtCommand {
  if (template.kind === ADVANCE) return resolveAdvance(template as AdvanceCommand, state.inflight.length);
  if (resolvedByGrantV2(template.kind)) return resolveXenPtGrantV2(state, universe, template);
  const fields = template as unknown as Record<string, unknown>;
  const resolved: Record<string, unknown> = {};
  const number = (name: string): number => {
    const value = typeof resolved[name] === 'number' ? resolved[name] : fields[name];
    return typeof value === 'number' ? value : 0;
  };
  for (const [field, value] of Object.entries(fields)) {
    if (!isPick(value)) {
      resolved[field] = value;
      continue;
    }
    const fallback = (values: readonly number[]) => (pick: number) => values[pick % values.length] ?? 0;
    const pv = resolveXenPtPvField(state, template.kind, field, value, resolved);
    if (pv !== undefined) {
      resolved[field] = pv;
      continue;
    }
    if (template.kind === 'dma' && field === 'device') {
      // Devices with a stale IOTLB entry first.
      const stale = universe.devices.filter((candidate) => staleDfns(state, candidate).length > 0);
      resolved[field] = resolvePreferring(
        value,
        () => [...stale, ...universe.devices],
        universe.devices,
        fallback(universe.devices),
      );
    } else if (template.kind === 'dma' && field === 'dfn') {
      const device = typeof resolved['device'] === 'number' ? resolved['device'] : number('device');
      resolved[field] = resolvePreferring(value, () => dmaAims(state, device), universe.dfns, fallback(universe.dfns));
    } else if (template.kind === 'decreaseReservation' && field === 'gfn') {
      resolved[field] = resolvePreferring(
        value,
        () => reachedGfns(state, number('domid')),
        universe.gfns,
        fallback(universe.gfns),
      );
    } else if (template.kind === 'moveGfn' && field === 'idx') {
      // RAM gfns, those the IOTLB caches first: the move leaves their entry stale until the flush.
      const domid = number('domid');
      const ram = Object.keys(state.xen.domains[domid]?.p2m ?? {}).map(Number);
      resolved[field] = resolvePreferring(
        value,
        () => [...new Set([...cachedGfns(state, domid), ...ram])],
        universe.gfns,
        fallback(universe.gfns),
      );
    } else if (template.kind === 'moveGfn' && field === 'gpfn') {
      // A destination the IOTLB caches (the page there is freed inside the batch), other than the source.
      const idx = typeof resolved['idx'] === 'number' ? resolved['idx'] : number('idx');
      const cached = cachedGfns(state, number('domid')).filter((gfn) => gfn !== idx);
      const aims = cached.length > 0 ? cached : universe.gfns.filter((gfn) => gfn !== idx);
      resolved[field] = resolvePreferring(value, () => aims, universe.gfns, fallback(universe.gfns));
    } else if (template.kind === 'mapGrantRef' && field === 'ref') {
      // Refs the granter grants to the mapper.
      const grants = state.xen.domains[number('granterDomid')]?.grantTable ?? [];
      const refs = grants.flatMap((entry, index) =>
        entry.permitAccess && entry.domid === number('mapperDomid') ? [index] : [],
      );
      const all = grants.map((_, index) => index);
      resolved[field] = resolvePreferring(value, () => refs, all, fallback(all.length > 0 ? all : [0]));
    } else if (template.kind === 'mapGrantRef' && field === 'gfn') {
      // A free gfn of the mapper, for the host mapping.
      const p2m = state.xen.domains[number('mapperDomid')]?.p2m ?? {};
      const free = universe.gfns.filter((gfn) => p2m[gfn] === undefined);
      resolved[field] = resolvePreferring(value, () => free, universe.gfns, fallback(universe.gfns));
    } else if (template.kind === 'unmapGrantRef' && field === 'handle') {
      // A live handle of the mapper.
      const maptrack = state.xen.domains[number('mapperDomid')]?.maptrack ?? [];
      const live = maptrack.flatMap((mapping, handle) => (mapping === null ? [] : [handle]));
      const all = maptrack.map((_, handle) => handle);
      resolved[field] = resolvePreferring(value, () => live, all, fallback(all.length > 0 ? all : [0]));
    } else if (template.kind === 'deassignDevice' && field === 'domid') {
      // Its owner: a guest, or dom_io (xl pci-assignable-remove).
      const owner = state.devices[number('device')]?.owner;
      const owners = owner === undefined ? [] : [owner];
      resolved[field] = resolvePreferring(value, () => owners, universe.domids, fallback(universe.domids));
    } else resolved[field] = fallback(universe.gfns)(value.pick);
  }
  return resolved as unknown as XenPtCommand;
}
