/**
 * fast-check generators for the PV MMU commands (`models/xen/pv-mmu.ts`) over a tiny universe, so
 * that tables, mapped frames and pins collide: domids, mfns and slots drawn mostly from the PV
 * guests' own frames (`hotMfns`: a table, the frames it maps and the frames pinned are the same
 * few), and otherwise from universes one larger than valid (any frame, an mfn beyond memory, a slot
 * beyond the model's L1), so refused requests are part of every run. A stack that wires them in
 * resolves nothing: the commands are plain data.
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
  /** The PV guests' own frames at the start (drawn three times in four); none: raw mfns only. */
  readonly hotMfns?: readonly number[];
  /**
   * The frames the guests use as page tables (one or two): tables updated, pinned and unpinned are
   * drawn from these three times in four, so an entry written is still there when its table is
   * pinned and protected. Entries map any hot frame, tables included.
   */
  readonly tableMfns?: readonly number[];
}

export type PvMmuKind = (typeof pvMmuCommandKinds)[number];

function pvDomid(universe: PvUniverse): fc.Arbitrary<number> {
  return fc.constantFrom(...universe.domids);
}

/** A table frame: one of `tableMfns` three times in four, else any frame as `mfn`. */
function tableMfn(universe: PvUniverse): fc.Arbitrary<number> {
  const tables = universe.tableMfns ?? [];
  if (tables.length === 0) return mfn(universe);
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...tables) }, { weight: 1, arbitrary: mfn(universe) });
}

function mfn(universe: PvUniverse): fc.Arbitrary<number> {
  const raw = fc.nat({ max: universe.frameCount });
  const hot = universe.hotMfns ?? [];
  if (hot.length === 0) return raw;
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...hot) }, { weight: 1, arbitrary: raw });
}

/** A new L1 entry: not present (a quarter), else a frame read-only or writable. */
export function pvL1eArbitrary(universe: PvUniverse): fc.Arbitrary<PvL1e | null> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.record({ mfn: mfn(universe), rw: fc.boolean() }) },
  );
}

export function pvMmuUpdateArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc
    .record({
      kind: fc.constant('pvMmuUpdate' as const),
      domid: pvDomid(universe),
      tableMfn: tableMfn(universe),
      slot: fc.oneof(
        { weight: 6, arbitrary: fc.nat({ max: L1_SLOTS - 1 }) },
        { weight: 1, arbitrary: fc.constant(L1_SLOTS) },
      ),
      entry: pvL1eArbitrary(universe),
    })
    .map(({ kind, domid, tableMfn: table, slot, entry }) => ({
      kind,
      domid,
      tableMfn: table,
      slot,
      mfn: entry === null ? null : entry.mfn,
      rw: entry?.rw ?? false,
    }));
}

/** The guest's mprotect of a slot: its current frame with `_PAGE_RW` set or cleared. */
export function pvMmuProtectArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({
    kind: fc.constant('pvMmuProtect' as const),
    domid: pvDomid(universe),
    tableMfn: tableMfn(universe),
    slot: fc.nat({ max: L1_SLOTS - 1 }),
    rw: fc.boolean(),
  });
}

export function pvPinL1TableArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({ kind: fc.constant('pvPinL1Table' as const), domid: pvDomid(universe), mfn: tableMfn(universe) });
}

export function pvUnpinTableArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.record({ kind: fc.constant('pvUnpinTable' as const), domid: pvDomid(universe), mfn: tableMfn(universe) });
}

/** The generator of one kind (for a stack's `CommandSpace.arbitrary(kind)`). */
export function pvMmuArbitrary(kind: PvMmuKind, universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  switch (kind) {
    case 'pvMmuUpdate':
      return pvMmuUpdateArbitrary(universe);
    case 'pvMmuProtect':
      return pvMmuProtectArbitrary(universe);
    case 'pvPinL1Table':
      return pvPinL1TableArbitrary(universe);
    case 'pvUnpinTable':
      return pvUnpinTableArbitrary(universe);
  }
}

/** Relative weights: entries change most (written, then protected), pins half as often, unpins rarer (a pin must last for its table's entries to matter). */
export const pvMmuWeights: Readonly<Record<PvMmuKind, number>> = {
  pvMmuUpdate: 4,
  pvMmuProtect: 3,
  pvPinL1Table: 2,
  pvUnpinTable: 1,
};

/** Any PV MMU command, by the weights. */
export function pvMmuCommandArbitrary(universe: PvUniverse): fc.Arbitrary<PvMmuCommand> {
  return fc.oneof(
    ...pvMmuCommandKinds.map((kind) => ({ weight: pvMmuWeights[kind], arbitrary: pvMmuArbitrary(kind, universe) })),
  );
}
