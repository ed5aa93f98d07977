/**
 * fast-check generators for the PV MMU commands (`models/xen/pv-mmu.ts`) over a tiny universe, so
 * that tables, mapped frames and pins collide: raw domids, mfns and slots, each universe one larger
 * than valid (a domain that does not exist, an mfn beyond memory, a slot beyond the model's L1), so
 * refused requests are part of every run. A stack that wires them in resolves nothing: the commands
 * are plain data.
 */
import fc from 'fast-check';
import { L1_SLOTS } from '../../models/xen/page-type.js';
import { pvMmuCommandKinds } from '../../models/xen/pv-mmu.js';
import type { PvMmuCommand } from '../../models/xen/pv-mmu.js';
import type { PvL1e } from '../../models/xen/types.js';

export interface PvUniverse {
  /** The domains whose requests are generated, PV ones first; one that does not exist may be among them. */
  readonly domids: readonly number[];
  /** Frames of host memory: mfns are drawn from 0..frameCount (the last one is not a frame). */
  readonly frameCount: number;
}

export type PvMmuKind = (typeof pvMmuCommandKinds)[number];

function pvDomid(universe: PvUniverse): fc.Arbitrary<number> {
  return fc.constantFrom(...universe.domids);
}

function mfn(universe: PvUniverse): fc.Arbitrary<number> {
  return fc.nat({ max: universe.frameCount });
}

/** A new L1 entry: not present (a quarter), else a frame read-only or writable. */
export function pvL1eArbitrary(universe: PvUniverse): fc.Arbitrary<PvL1e | null> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.record({ mfn: mfn(universe), rw: fc.boolean() }) },
  );
}

export function pvMmuUpdateArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({
    kind: fc.constant('pvMmuUpdate' as const),
    domid: pvDomid(universe),
    tableMfn: mfn(universe),
    slot: fc.nat({ max: L1_SLOTS }),
    entry: pvL1eArbitrary(universe),
  });
}

export function pvPinL1TableArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({ kind: fc.constant('pvPinL1Table' as const), domid: pvDomid(universe), mfn: mfn(universe) });
}

export function pvUnpinTableArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({ kind: fc.constant('pvUnpinTable' as const), domid: pvDomid(universe), mfn: mfn(universe) });
}

/** The generator of one kind (for a stack's `CommandSpace.arbitrary(kind)`). */
export function pvMmuArbitrary(kind: PvMmuKind, universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  switch (kind) {
    case 'pvMmuUpdate':
      return pvMmuUpdateArbitrary(universe);
    case 'pvPinL1Table':
      return pvPinL1TableArbitrary(universe);
    case 'pvUnpinTable':
      return pvUnpinTableArbitrary(universe);
  }
}

/** Relative weights: entries change most, pins and unpins half as often each. */
export const pvMmuWeights: Readonly<Record<PvMmuKind, number>> = { pvMmuUpdate: 4, pvPinL1Table: 2, pvUnpinTable: 2 };

/** Any PV MMU command, by the weights. */
export function pvMmuCommandArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.oneof(
    ...pvMmuCommandKinds.map((kind) => ({ weight: pvMmuWeights[kind], arbitrary: pvMmuArbitrary(kind, universe) })),
  );
}
