/**
 * Generator pieces for grant table v2 and GNTTABOP_copy: fast-check arbitraries of
 * `GrantV2Command`s over a small universe (a few domains, refs on both sides of the reserved
 * boundary, a few gfns, offsets and lengths around the page's end), by kind, for a stack to put in
 * its command space. Values are drawn from the universe only: the model refuses what does not fit,
 * which the refusal tests cover, and the small ranges make collisions (the same ref granted,
 * mapped, copied through and switched away) frequent.
 */
import fc from 'fast-check';
import type { GrantCopyPtr } from '../../models/xen/grant-copy.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';

export interface GrantV2Universe {
  /** Domids commands name (callers, granters, grantees, mappers). */
  readonly domids: readonly number[];
  /** Grant refs: some reserved (below 8), some not. */
  readonly refs: readonly number[];
  /** gfns: populated ones, free ones for host mappings and grant-table frames. */
  readonly gfns: readonly number[];
  /** gfns a granter grants (populated in every domain of the world). */
  readonly grantedGfns: readonly number[];
  /** gfns free in every domain: where host mappings and grant-table frames go. */
  readonly freeGfns: readonly number[];
  /** Byte offsets within a page for a copy. */
  readonly offsets: readonly number[];
  /** Copy lengths in bytes. */
  readonly lens: readonly number[];
}

/** The universe of `test/xen/world.ts`: four domains, refs 0, 1, 8, 9, gfns 0–7. */
export const defaultGrantV2Universe: GrantV2Universe = {
  domids: [0, 1, 2, 3],
  refs: [0, 1, 8, 9],
  gfns: [0, 1, 2, 5, 6, 7],
  grantedGfns: [0],
  freeGfns: [5, 6, 7],
  offsets: [0, 16, 2048, 4000],
  lens: [0, 64, 200, 4096],
};

export type GrantV2Kind = GrantV2Command['kind'];

function copyPtr(universe: GrantV2Universe): fc.Arbitrary<GrantCopyPtr> {
  return fc.oneof(
    fc.record({
      domid: fc.constantFrom(...universe.domids),
      gref: fc.constant(true),
      frame: fc.constantFrom(...universe.refs),
      offset: fc.constantFrom(...universe.offsets),
    }),
    fc.record({
      domid: fc.constant('self' as const),
      gref: fc.constant(false),
      frame: fc.constantFrom(...universe.gfns),
      offset: fc.constantFrom(...universe.offsets),
    }),
    // A gmfn named through a domid, or a ref of the caller's own table through DOMID_SELF.
    fc.record({
      domid: fc.oneof(fc.constantFrom(...universe.domids), fc.constant('self' as const)),
      gref: fc.boolean(),
      frame: fc.constantFrom(...universe.refs),
      offset: fc.constantFrom(...universe.offsets),
    }),
  );
}

/** An arbitrary of each command kind over `universe`. */
export function grantV2Arbitraries(universe: GrantV2Universe = defaultGrantV2Universe): {
  readonly [K in GrantV2Kind]: fc.Arbitrary<GrantV2Command>;
} {
  const domid = fc.constantFrom(...universe.domids);
  const ref = fc.constantFrom(...universe.refs);
  const gfn = fc.constantFrom(...universe.gfns);
  const copyArgs = fc.record({
    callerDomid: domid,
    source: copyPtr(universe),
    dest: copyPtr(universe),
    len: fc.constantFrom(...universe.lens),
  });
  return {
    setGrantVersion: fc.record({
      kind: fc.constant('setGrantVersion' as const),
      domid,
      version: fc.constantFrom(1, 2, 2, 3),
    }),
    getStatusFrames: fc.record({
      kind: fc.constant('getStatusFrames' as const),
      callerDomid: domid,
      domid,
      nrFrames: fc.constantFrom(0, 1, 2),
    }),
    mapGrantFrame: fc.record({
      kind: fc.constant('mapGrantFrame' as const),
      domid,
      idx: fc.constantFrom(0, 0, 1),
      status: fc.boolean(),
      gfn,
    }),
    grantCopy: copyArgs.map((args): GrantV2Command => ({ kind: 'grantCopy', ...args })),
    startGrantCopy: copyArgs.map((args): GrantV2Command => ({ kind: 'startGrantCopy', ...args })),
    finishGrantCopy: fc.record({
      kind: fc.constant('finishGrantCopy' as const),
      callerDomid: domid,
      index: fc.constantFrom(0, 0, 1),
    }),
    grantAccess: fc.record({
      kind: fc.constant('grantAccess' as const),
      domid,
      ref,
      granteeDomid: domid,
      gfn,
      readonly: fc.boolean(),
    }),
    endAccess: fc.record({ kind: fc.constant('endAccess' as const), domid, ref }),
    mapGrantRef: fc.record({
      kind: fc.constant('mapGrantRef' as const),
      mapperDomid: domid,
      granterDomid: domid,
      ref,
      host: fc.constant(true),
      device: fc.constant(false),
      readonly: fc.boolean(),
      hostAddr: gfn,
    }),
    unmapGrantRef: fc.record({
      kind: fc.constant('unmapGrantRef' as const),
      mapperDomid: domid,
      handle: fc.constantFrom(0, 1),
      hostAddr: gfn,
      devBusAddr: fc.constant(null),
    }),
    decreaseReservation: fc.record({ kind: fc.constant('decreaseReservation' as const), domid, gfn }),
    populatePhysmap: fc.record({ kind: fc.constant('populatePhysmap' as const), domid, gfn }),
  };
}

/** Relative frequency of each kind: the new operations and the grants they need often, memory rarer. */
export const grantV2Weights: { readonly [K in GrantV2Kind]: number } = {
  setGrantVersion: 3,
  getStatusFrames: 1,
  mapGrantFrame: 2,
  grantCopy: 3,
  startGrantCopy: 2,
  finishGrantCopy: 2,
  grantAccess: 4,
  endAccess: 2,
  mapGrantRef: 3,
  unmapGrantRef: 2,
  decreaseReservation: 1,
  populatePhysmap: 1,
};

/** Any command, weighted (`grantV2Weights`). */
export function grantV2Command(universe: GrantV2Universe = defaultGrantV2Universe): fc.Arbitrary<GrantV2Command> {
  const arbitraries = grantV2Arbitraries(universe);
  const kinds = Object.keys(arbitraries) as GrantV2Kind[];
  return fc.oneof(...kinds.map((kind) => ({ arbitrary: arbitraries[kind], weight: grantV2Weights[kind] })));
}

/**
 * Short runs of commands that follow the protocol the way a guest does, so that the states where
 * the decisions matter are reached: a grant and its grantee's map of it; a grant and a copy
 * through it by its grantee (either direction, whole or left in flight); a switch to v2 and the
 * mapping of the status frame (what Linux's v2 set-up does), perhaps mapped again elsewhere (after
 * a resume) and switched back to v1 (kexec). Drawn from the same universe.
 */
export function grantV2Chunks(universe: GrantV2Universe = defaultGrantV2Universe): fc.Arbitrary<GrantV2Command[]> {
  const domid = fc.constantFrom(...universe.domids);
  const grant = fc.record({
    granter: domid,
    grantee: domid,
    ref: fc.constantFrom(...universe.refs),
    gfn: fc.constantFrom(...universe.grantedGfns),
    readonly: fc.boolean(),
  });
  const grantThenMap = fc
    .record({ grant, hostAddr: fc.constantFrom(...universe.freeGfns), readonly: fc.boolean() })
    .map(({ grant: g, hostAddr, readonly }): GrantV2Command[] => [
      { kind: 'grantAccess', domid: g.granter, ref: g.ref, granteeDomid: g.grantee, gfn: g.gfn, readonly: g.readonly },
      {
        kind: 'mapGrantRef',
        mapperDomid: g.grantee,
        granterDomid: g.granter,
        ref: g.ref,
        host: true,
        device: false,
        readonly,
        hostAddr,
      },
    ]);
  const grantThenCopy = fc
    .record({
      grant,
      intoGrant: fc.boolean(),
      phased: fc.boolean(),
      own: fc.constantFrom(...universe.grantedGfns),
      grantOffset: fc.constantFrom(...universe.offsets),
      ownOffset: fc.constantFrom(...universe.offsets),
      len: fc.constantFrom(...universe.lens),
    })
    .map(({ grant: g, intoGrant, phased, own, grantOffset, ownOffset, len }): GrantV2Command[] => {
      const granted: GrantCopyPtr = { domid: g.granter, gref: true, frame: g.ref, offset: grantOffset };
      const mine: GrantCopyPtr = { domid: 'self', gref: false, frame: own, offset: ownOffset };
      return [
        {
          kind: 'grantAccess',
          domid: g.granter,
          ref: g.ref,
          granteeDomid: g.grantee,
          gfn: g.gfn,
          readonly: g.readonly,
        },
        {
          kind: phased ? 'startGrantCopy' : 'grantCopy',
          callerDomid: g.grantee,
          source: intoGrant ? mine : granted,
          dest: intoGrant ? granted : mine,
          len,
        },
      ];
    });
  const v2WithStatusFrame = fc
    .record({
      domid,
      gfn: fc.constantFrom(...universe.freeGfns),
      remapAt: fc.option(fc.constantFrom(...universe.freeGfns), { nil: null }),
      backToV1: fc.boolean(),
    })
    .map(({ domid: d, gfn, remapAt, backToV1 }): GrantV2Command[] => [
      { kind: 'setGrantVersion', domid: d, version: 2 },
      { kind: 'mapGrantFrame', domid: d, idx: 0, status: true, gfn },
      ...(remapAt === null ? [] : [{ kind: 'mapGrantFrame', domid: d, idx: 0, status: true, gfn: remapAt } as const]),
      ...(backToV1 ? [{ kind: 'setGrantVersion', domid: d, version: 1 } as const] : []),
    ]);
  return fc.oneof(grantThenMap, grantThenCopy, v2WithStatusFrame);
}

/** Command sequences: up to `maxSteps` single commands or protocol runs (`grantV2Chunks`), flattened. */
export function grantV2Sequence(
  maxSteps = 12,
  universe: GrantV2Universe = defaultGrantV2Universe,
): fc.Arbitrary<GrantV2Command[]> {
  const step = fc.oneof(
    { arbitrary: grantV2Command(universe).map((command) => [command]), weight: 3 },
    { arbitrary: grantV2Chunks(universe), weight: 1 },
  );
  return fc.array(step, { minLength: 1, maxLength: maxSteps }).map((steps) => steps.flat());
}
