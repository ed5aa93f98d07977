/**
 * fast-check generators for XenGT command templates, one per command kind. Arguments that name
 * live objects (populated gfns, granted refs, live handles, shadowed page tables, PPGTT roots,
 * batch pages) are mostly picks, resolved when the step runs; the rest are raw values from
 * universes one larger than valid, so invalid requests are part of every run. The guest builds
 * page tables and batch buffers in its own four pages, so page-table pages, batch buffers and
 * data pages collide.
 */
import fc from 'fast-check';
import type { XenGtCommandKind } from '../../models/xengt/commands.js';
import { xenGtCommandKinds, xenGtXenCommandKinds } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import { xenGtPhases } from '../../models/xengt/inflight.js';
import { xenFaultPoints } from '../../models/xen/fault.js';
import type { XenFaultPoint } from '../../models/xen/fault.js';
import type { CommandSpace } from '../../src/design.js';
import { phasedSpace, preemptedPhases } from '../generic/interleave.js';
import { ipsBit, pseBit, setBits } from '../gvt/entry-bits.js';
import { pickOr } from '../pick.js';
import { preferOr, preferredPick } from '../prefer.js';
import type { XenGtTemplate } from './resolve.js';
import type { XenGtUniverse } from './universe.js';

function below(size: number): fc.Arbitrary<number> {
  return fc.nat({ max: size - 1 });
}

/**
 * Domids weighted toward the guest, whose own requests race the GPU (half of them), then the
 * other domain and the backend; the last one does not exist.
 */
function domid(config: XenGtConfig, universe: XenGtUniverse): fc.Arbitrary<number> {
  const other = config.world.domains.findIndex((_, id) => id !== config.guestDomid && id !== config.backendDomid);
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant(config.guestDomid) },
    { weight: 2, arbitrary: fc.constant(other < 0 ? config.backendDomid : other) },
    { weight: 2, arbitrary: fc.constant(config.backendDomid) },
    { weight: 1, arbitrary: fc.constant(universe.domids - 1) },
  );
}

/**
 * The domain that populates a gfn: another domain as often as the guest, then the backend, then
 * one that does not exist. A page the guest gave back goes to someone else as often as it comes
 * back to the guest: the reuse every race of the backend's translation needs (the backend's own
 * frames it cannot map foreign).
 */
function takerDomid(config: XenGtConfig, universe: XenGtUniverse): fc.Arbitrary<number> {
  const other = config.world.domains.findIndex((_, id) => id !== config.guestDomid && id !== config.backendDomid);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(config.guestDomid) },
    { weight: 6, arbitrary: fc.constant(other < 0 ? config.backendDomid : other) },
    { weight: 1, arbitrary: fc.constant(config.backendDomid) },
    { weight: 1, arbitrary: fc.constant(universe.domids - 1) },
  );
}

/** A domain other than the guest that populates: the other guest, else the backend. */
function takerOther(config: XenGtConfig): fc.Arbitrary<number> {
  const other = config.world.domains.findIndex((_, id) => id !== config.guestDomid && id !== config.backendDomid);
  return fc.constant(other < 0 ? config.backendDomid : other);
}

/**
 * Which commands a design generates. `full`: every command of the stack. `xen`: the Xen side only
 * (Xen's operations, GTT writes, GPU DMA through the GTT) — the space the explore scope covers,
 * for designs whose flaw lies on that side.
 */
export type XenGtCommandSet = 'full' | 'xen';

/**
 * Relative frequencies. Xen's operations, GPU DMA and the guest's page-table stores alike, GTT
 * writes as often counting whole entries only (a few more with their 4-byte halves); announcing and retiring a PPGTT, writing commands and PPGTT accesses less often;
 * submission, whose malformed batches put the vGPU in failsafe for the rest of a run, rarely, and
 * execution, which an empty queue refuses, twice that. Tearing down ends the interesting part of a run (no vGPU, no guest), so it is a
 * quarter as frequent; swarm runs that leave a kind out still explore without it.
 */
/** The kinds generated: every command but the scheduler's `advance`, which generation inserts. */
type GeneratedKind = Exclude<XenGtCommandKind, 'advance'>;

const weights: Readonly<Record<GeneratedKind, number>> = {
  gttWrite: 10,
  decreaseReservation: 8,
  populatePhysmap: 8,
  gpuDma: 8,
  grantAccess: 8,
  endAccess: 8,
  mapGrantRef: 8,
  unmapGrantRef: 8,
  mapForeign: 8,
  unmapForeign: 8,
  destroyDomain: 2,
  createDomain: 2,
  vgpuDestroy: 2,
  vgpuCreate: 2,
  // 4 before the IPS bit: the grant map's unwind designs sat at the budget's edge (worst first run 999).
  injectFault: 8,
  clearFault: 1,
  guestWritePte: 8,
  guestWriteCmd: 2,
  ppgttCreate: 4,
  ppgttDestroy: 2,
  submitBatch: 1,
  gpuExecute: 4,
  gpuDmaPpgtt: 2,
};

/**
 * The Xen side alone races the backend's translation: GTT writes and the memory operations that
 * give a page back and hand its frame out again come most (an exploit needs four or five of them
 * in order), GPU DMA nearly as often; grant and foreign mappings, which no GTT entry names, half
 * as often; tearing down a domain an eighth, and the vGPU, which ends a run's use of the GTT, a
 * sixteenth.
 */
const xenSideWeights: Readonly<Partial<Record<GeneratedKind, number>>> = {
  gttWrite: 20,
  decreaseReservation: 16,
  populatePhysmap: 16,
  gpuDma: 12,
  grantAccess: 8,
  endAccess: 8,
  mapGrantRef: 8,
  unmapGrantRef: 8,
  mapForeign: 8,
  unmapForeign: 8,
  destroyDomain: 2,
  createDomain: 2,
  vgpuDestroy: 1,
  vgpuCreate: 1,
  injectFault: 1,
  clearFault: 1,
};

/** The fault points inside `map_grant_ref` past its first check (`models/xen/fault.ts`). */
const grantMapFaultPoints: readonly XenFaultPoint[] = ['pageRef', 'hostMapping', 'iommuMap'];

/**
 * What can change, inside an operation's window, what its next phase relies on: the frame a
 * trapped GGTT write translated (the guest gives the page back, another domain is given its
 * frame), the translation a GPU access fetched (the entry rewritten, the page given back), the
 * frame and handle a grant unmap released (the granter ends access and balloons, another map takes
 * the handle), the frame a balloon-out is about to put (the GPU's access, a grant map of it).
 */
const xenGtConflicts: Readonly<Record<string, readonly GeneratedKind[]>> = {
  gttWrite: ['decreaseReservation', 'populatePhysmap'],
  gpuDma: ['gttWrite', 'decreaseReservation', 'populatePhysmap'],
  unmapGrantRef: ['mapGrantRef', 'endAccess', 'decreaseReservation', 'populatePhysmap'],
  decreaseReservation: ['gpuDma', 'mapGrantRef', 'unmapGrantRef', 'populatePhysmap'],
  // Preempted where a design asks (`defaultPreempted` below): the granter gives the page back,
  // ends access or dies between the pin and the page reference; maps, unmaps and the GPU's
  // accesses run between a teardown's release of the mappings and its relinquishing.
  mapGrantRef: ['decreaseReservation', 'endAccess', 'destroyDomain', 'populatePhysmap'],
  destroyDomain: ['mapGrantRef', 'unmapGrantRef', 'gpuDma', 'populatePhysmap'],
};

/**
 * The phased kinds generation preempts unless a design says otherwise: the trapped GGTT write, the
 * GPU's access, the grant unmap and the balloon-out. The grant map and the domain's teardown have
 * phases too (`xenGtPhases`), but preempting them as well would spread a sequence's few
 * preemptions over more commands and draw other interleavings from every seed than the designs
 * and mutants were measured with: a design preempts them when it asks (`xenGtDesign`'s
 * `preempt`; `xen/map` does, and so does a design with its own `grantMap` or `teardown`).
 * Started by hand, from a corpus or by the explorer, every phased kind runs in phases.
 */
export const defaultPreempted: readonly XenGtCommandKind[] = [
  'gttWrite',
  'gpuDma',
  'unmapGrantRef',
  'decreaseReservation',
];

export function xenGtCommandSpace(
  config: XenGtConfig,
  universe: XenGtUniverse,
  set: XenGtCommandSet = 'full',
  preempted: readonly XenGtCommandKind[] = defaultPreempted,
): CommandSpace<XenGtTemplate> {
  const dom = domid(config, universe);
  const taker = takerDomid(config, universe);
  const gfn = pickOr(below(universe.gfns));
  // Where a preferred pick aims (`resolve.ts`): the page the GPU uses, a frame it reaches twice.
  const aimedGfn = preferOr(below(universe.gfns));
  const ref = pickOr(below(universe.refs));
  const entry = below(universe.gttEntries);
  // Mostly the first entry of a table, so that the guest's stores meet the entries it wrote before.
  const tableIndex = fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: below(universe.tableEntries) },
  );
  const layout = config.gvt.layout;
  // A store's operand: mostly the vGPU's own graphics memory, sometimes the host's or past the table.
  const operand = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: layout.aperture.start, max: layout.hidden.end - 1 }) },
    { weight: 1, arbitrary: below(universe.ggttIndices) },
  );
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

  // Inside a window (`xenGtConflicts`): the guest gives back the page an operation in flight
  // uses (`resolve.ts` prefers it), and another domain is given memory — the frame just freed.
  const windowArbitraries: Partial<Record<GeneratedKind, fc.Arbitrary<XenGtTemplate>>> = {
    decreaseReservation: fc.record({
      kind: fc.constant('decreaseReservation' as const),
      domid: fc.constant(config.guestDomid),
      gfn: preferredPick,
    }),
    populatePhysmap: fc.record({
      kind: fc.constant('populatePhysmap' as const),
      domid: takerOther(config),
      gfn: aimedGfn,
    }),
  };

  const arbitraries: Record<GeneratedKind, fc.Arbitrary<XenGtTemplate>> = {
    // The vCPU that writes is resolved (`resolve.ts`): vCPU0, or a free one while it waits on a
    // trapped write.
    // Mostly whole entries (13 in 16, the kind's weight raised by as much, so the backend's
    // translation races meet as many whole writes as before the halves); a 4-byte half (either
    // one) one write in eight, now and then an access size the mediator refuses (EINVAL), as the
    // KVMGT stack's GGTT writes.
    gttWrite: fc
      .record({
        kind: fc.constant('gttWrite' as const),
        entry: preferOr(entry),
        gfn: aimedGfn,
        present: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        access: fc.oneof(
          { weight: 13, arbitrary: fc.constant(null) },
          { weight: 1, arbitrary: fc.constant({ sizeBytes: 4, offsetBytes: 0 }) },
          { weight: 1, arbitrary: fc.constant({ sizeBytes: 4, offsetBytes: 4 }) },
          { weight: 1, arbitrary: fc.constant({ sizeBytes: 2, offsetBytes: 0 }) },
        ),
      })
      .map(({ access, ...rest }) => ({ ...rest, ...(access ?? {}) })),
    gpuDma: fc.record({ kind: fc.constant('gpuDma' as const), entry: preferOr(entry), write: fc.boolean() }),
    decreaseReservation: fc.record({ kind: fc.constant('decreaseReservation' as const), domid: dom, gfn: aimedGfn }),
    populatePhysmap: fc.record({ kind: fc.constant('populatePhysmap' as const), domid: taker, gfn: aimedGfn }),
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
      mapperDomid: pickOr(dom),
      handle: pickOr(below(universe.handles)),
      hostAddr: address,
      devBusAddr: address,
    }),
    mapForeign: fc.record({
      kind: fc.constant('mapForeign' as const),
      domid: pickOr(dom),
      gfn,
      foreignDomid: dom,
      foreignGfn: gfn,
    }),
    unmapForeign: fc.record({ kind: fc.constant('unmapForeign' as const), domid: pickOr(dom), gfn }),
    destroyDomain: fc.record({ kind: fc.constant('destroyDomain' as const), domid: preferOr(dom) }),
    // A pick names a domain that is not running (`resolve.ts`): dead, or a zombie (EEXIST).
    createDomain: fc.record({ kind: fc.constant('createDomain' as const), domid: pickOr(dom) }),
    vgpuDestroy: fc.constant({ kind: 'vgpuDestroy' as const }),
    vgpuCreate: fc.constant({ kind: 'vgpuCreate' as const }),
    // The first attempt at a point, or the second (a host+device map's second page reference, a
    // population's second extent) (`models/xen/fault.ts`); the grant map's points, whose unwind
    // has the most steps, three times as often as the others.
    injectFault: fc.record({
      kind: fc.constant('injectFault' as const),
      point: fc.oneof(
        ...xenFaultPoints.map((point) => ({
          weight: grantMapFaultPoints.includes(point) ? 3 : 1,
          arbitrary: fc.constant(point),
        })),
      ),
      nth: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) }),
    }),
    clearFault: fc.constant({ kind: 'clearFault' as const }),
    guestWritePte: fc
      .record({
        kind: fc.constant('guestWritePte' as const),
        gfn: pickOr(below(universe.gfns), 2),
        index: tableIndex,
        present: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        targetGfn: aimedGfn,
        sizeBytes: fc.constantFrom(8, 8, 8, 4),
        // The IPS and PS bits as the KVMGT stack draws them (`entry-bits.ts`): stored into a page
        // directory, a 64K table, whose entries the mediator splits into 4K maps whatever the
        // hypervisor (`split_64KB_gtt_entry`), and a 2M entry, which XenGT's host always splits
        // into 4K maps (`models/xengt/host.ts`).
        ips: ipsBit,
        pse: pseBit,
      })
      .map(({ ips, pse, ...fields }) => ({ ...fields, ...setBits({ ips, pse }) })),
    guestWriteCmd: fc.record({
      kind: fc.constant('guestWriteCmd' as const),
      gfn: pickOr(below(universe.gfns), 3),
      index: tableIndex,
      op: fc.oneof(
        { weight: 8, arbitrary: fc.constant('store' as const) },
        { weight: 1, arbitrary: fc.constant('end' as const) },
        { weight: 1, arbitrary: fc.constant('forbidden' as const) },
      ),
      ggttIndex: operand,
    }),
    ppgttCreate: fc.record({ kind: fc.constant('ppgttCreate' as const), rootGfn: gfn }),
    ppgttDestroy: fc.record({ kind: fc.constant('ppgttDestroy' as const), rootGfn: gfn }),
    submitBatch: fc.record({ kind: fc.constant('submitBatch' as const), ggttIndex: pickOr(entry) }),
    gpuExecute: fc.constant({ kind: 'gpuExecute' as const }),
    gpuDmaPpgtt: fc.record({
      kind: fc.constant('gpuDmaPpgtt' as const),
      rootGfn: gfn,
      pdIndex: tableIndex,
      ptIndex: tableIndex,
      write: fc.boolean(),
    }),
  };

  const interleaved = phasedSpace<XenGtTemplate>(preemptedPhases(xenGtPhases, preempted), xenGtConflicts);
  return {
    kinds: set === 'full' ? xenGtCommandKinds : xenGtXenCommandKinds,
    weight: (kind) => (set === 'full' ? weights : xenSideWeights)[kind as GeneratedKind] ?? 1,
    arbitrary(kind: string): fc.Arbitrary<XenGtTemplate> {
      const arbitrary = arbitraries[kind as GeneratedKind];
      if (arbitrary === undefined) throw new Error(`xengt: no generator for command kind '${kind}'`);
      return arbitrary;
    },
    // The backend's translation of a trapped GGTT write and the GPU's access through the GGTT
    // take time (`models/xengt/inflight.ts`).
    interleaving: {
      ...interleaved,
      // A preempted GTT write is a whole one: a first half asks the backend for nothing and has no
      // window (`models/xengt/step.ts`), so the preemption would be spent on nothing.
      start: (template) => {
        if (template.kind !== 'gttWrite') return interleaved.start(template);
        const { kind, entry, gfn, present, vcpu } = template;
        return interleaved.start({ kind, entry, gfn, present, ...(vcpu === undefined ? {} : { vcpu }) });
      },
      windowArbitrary: (kind) => windowArbitraries[kind as GeneratedKind],
    },
  };
}
