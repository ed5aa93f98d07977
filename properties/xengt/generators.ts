/**
 * fast-check generators for XenGT command templates, one per command kind. Arguments that name
 * live objects (populated gfns, granted refs, live handles) are mostly picks, resolved when the
 * step runs; the rest are raw values from universes one larger than valid, so invalid requests
 * are part of every run.
 */
import fc from 'fast-check';
import type { XenGtCommandKind } from '../../models/xengt/commands.js';
import { xenGtCommandKinds } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import type { CommandSpace } from '../../src/design.js';
import { pickOr } from '../pick.js';
import type { XenGtTemplate } from './resolve.js';
import type { XenGtUniverse } from './universe.js';

function below(size: number): fc.Arbitrary<number> {
  return fc.nat({ max: size - 1 });
}

/** Domids weighted toward the guest and the other domain; the last one does not exist. */
function domid(config: XenGtConfig, universe: XenGtUniverse): fc.Arbitrary<number> {
  const other = config.world.domains.findIndex((_, id) => id !== config.guestDomid && id !== config.backendDomid);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(config.guestDomid) },
    { weight: 3, arbitrary: fc.constant(other < 0 ? config.backendDomid : other) },
    { weight: 2, arbitrary: fc.constant(config.backendDomid) },
    { weight: 1, arbitrary: fc.constant(universe.domids - 1) },
  );
}

/**
 * Tearing down ends the interesting part of a run (no vGPU, no guest), so it is generated a
 * quarter as often as the other kinds; swarm runs that leave it out still explore without it.
 */
const teardownWeights: Partial<Record<XenGtCommandKind, number>> = { destroyDomain: 1, vgpuDestroy: 1, vgpuCreate: 1 };

export function xenGtCommandSpace(config: XenGtConfig, universe: XenGtUniverse): CommandSpace<XenGtTemplate> {
  const dom = domid(config, universe);
  const gfn = pickOr(below(universe.gfns));
  const ref = pickOr(below(universe.refs));
  const entry = below(universe.gttEntries);
  const address = fc.oneof(
    { weight: 4, arbitrary: pickOr(below(universe.gfns), 6) },
    { weight: 1, arbitrary: fc.constant(null) },
  );

  // Which parts a map asks for; asking for neither is a rare invalid request (GNTST_bad_gntref).
  const mappingParts = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ host: true, device: false }) },
    { weight: 2, arbitrary: fc.constant({ host: false, device: true }) },
    { weight: 2, arbitrary: fc.constant({ host: true, device: true }) },
    { weight: 1, arbitrary: fc.constant({ host: false, device: false }) },
  );

  const arbitraries: Record<XenGtCommandKind, fc.Arbitrary<XenGtTemplate>> = {
    gttWrite: fc.record({
      kind: fc.constant('gttWrite' as const),
      entry,
      gfn,
      present: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
    gpuDma: fc.record({ kind: fc.constant('gpuDma' as const), entry: pickOr(entry), write: fc.boolean() }),
    decreaseReservation: fc.record({ kind: fc.constant('decreaseReservation' as const), domid: dom, gfn }),
    populatePhysmap: fc.record({ kind: fc.constant('populatePhysmap' as const), domid: dom, gfn }),
    grantAccess: fc.record({
      kind: fc.constant('grantAccess' as const),
      domid: dom,
      ref,
      granteeDomid: dom,
      gfn,
      readonly: fc.boolean(),
    }),
    endAccess: fc.record({ kind: fc.constant('endAccess' as const), domid: dom, ref }),
    mapGrantRef: fc
      .record({
        mapperDomid: pickOr(dom),
        granterDomid: pickOr(dom),
        ref,
        parts: mappingParts,
        readonly: fc.boolean(),
        hostAddr: address,
      })
      .map(({ parts, ...fields }) => ({ kind: 'mapGrantRef' as const, ...fields, ...parts })),
    unmapGrantRef: fc.record({
      kind: fc.constant('unmapGrantRef' as const),
      mapperDomid: dom,
      handle: pickOr(below(universe.handles)),
      hostAddr: address,
      devBusAddr: address,
    }),
    mapForeign: fc.record({
      kind: fc.constant('mapForeign' as const),
      domid: dom,
      gfn,
      foreignDomid: dom,
      foreignGfn: gfn,
    }),
    unmapForeign: fc.record({ kind: fc.constant('unmapForeign' as const), domid: dom, gfn }),
    destroyDomain: fc.record({ kind: fc.constant('destroyDomain' as const), domid: dom }),
    vgpuDestroy: fc.constant({ kind: 'vgpuDestroy' as const }),
    vgpuCreate: fc.constant({ kind: 'vgpuCreate' as const }),
  };

  return {
    kinds: xenGtCommandKinds,
    weight: (kind) => teardownWeights[kind as XenGtCommandKind] ?? 4,
    arbitrary(kind: string): fc.Arbitrary<XenGtTemplate> {
      const arbitrary = arbitraries[kind as XenGtCommandKind];
      if (arbitrary === undefined) throw new Error(`xengt: no generator for command kind '${kind}'`);
      return arbitrary;
    },
  };
}
