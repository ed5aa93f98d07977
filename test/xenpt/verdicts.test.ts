/**
 * The Xen passthrough designs' verdicts. Default tier: each flawed design's short counterexample
 * replayed (what its declared invariants say, at the step they say it), the same trace holding on
 * the sound designs, and a small check of each sound design. Deeper tier (`DEEP`): the default
 * budget (1,000 runs) on the fixed seeds, every flawed design meeting its expectation and every
 * sound one holding.
 */
import { describe, expect, test } from 'vitest';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import {
  xenPtDesigns,
  xenPtHvmSharedPt,
  xenPtHvmSyncPt,
  xenPtNoQuarantine,
  xenPtPutBeforeFlush,
  xenPtQuarantineBasic,
  xenPtReleaseDevicesLate,
  xenPtRemoveDefersFlush,
  xenPtSharedScratch,
  xenPtUnmapNotSynced,
} from '../../properties/xenpt/designs.js';
import { DEEP, expectNothingFound, FIXED_SEEDS } from '../helpers.js';

/** Each flawed design's shortest counterexample, and the invariant broken after each numbered step. */
const cases: readonly {
  readonly design: XenPtDesign;
  readonly steps: readonly XenPtCommand[];
  readonly broken: Readonly<Record<string, number>>;
}[] = [
  {
    // XSA-302: the DMA the guest's driver issued lands, after deassignment, through dom0's table.
    design: xenPtNoQuarantine,
    steps: [
      { kind: 'dma', device: 0, dfn: 10, write: true, phased: true },
      { kind: 'deassignDevice', domid: 1, device: 0 },
      { kind: 'advance', op: 0 },
    ],
    broken: { 'no-dma-to-foreign-frame': 3 },
  },
  {
    // XSA-346, second patch: the page put before the flush of its old dfn.
    design: xenPtPutBeforeFlush,
    steps: [
      { kind: 'dma', device: 0, dfn: 0, write: true },
      { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3, phased: true },
      { kind: 'decreaseReservation', domid: 1, gfn: 3 },
      { kind: 'dma', device: 0, dfn: 0, write: true },
    ],
    broken: { 'device-reach-owned-or-held': 3, 'no-dma-to-free-frame': 4 },
  },
  {
    // XSA-346, first patch: the page freed inside the batch with its flush still deferred.
    design: xenPtRemoveDefersFlush,
    steps: [
      { kind: 'dma', device: 0, dfn: 1, write: true },
      { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 1, phased: true },
      { kind: 'dma', device: 0, dfn: 1, write: true },
    ],
    broken: { 'device-reach-owned-or-held': 2, 'no-dma-to-free-frame': 3 },
  },
  {
    design: xenPtUnmapNotSynced,
    steps: [
      { kind: 'decreaseReservation', domid: 1, gfn: 0 },
      { kind: 'dma', device: 0, dfn: 0, write: true },
    ],
    broken: { 'iommu-table-matches-p2m': 1, 'device-reach-owned-or-held': 1, 'no-dma-to-free-frame': 2 },
  },
  {
    design: xenPtReleaseDevicesLate,
    steps: [
      { kind: 'destroyDomain', domid: 1, phased: true },
      { kind: 'advance', op: 0 },
      { kind: 'dma', device: 0, dfn: 0, write: true },
    ],
    broken: {
      'device-reach-owned-or-held': 2,
      'dead-domain-has-no-device': 2,
      'dead-domain-context-reaches-nothing': 2,
      'no-dma-to-free-frame': 3,
    },
  },
  {
    design: xenPtSharedScratch,
    steps: [
      { kind: 'deassignDevice', domid: 1, device: 0 },
      { kind: 'deassignDevice', domid: 2, device: 1 },
    ],
    broken: { 'quarantine-scratch-private': 2 },
  },
];

describe('each flawed design breaks what it declares, on its shortest trace', () => {
  test.for(cases)('$design.id', ({ design, steps, broken }) => {
    const run = runTrace(design, steps, { stopAtFirst: false });
    expect(run.steps.map((step) => step.result.ok)).toEqual(steps.map(() => true));
    const first = new Map<string, number>();
    for (const found of run.violations) if (!first.has(found.invariant)) first.set(found.invariant, found.afterStep);
    expect(Object.fromEntries(first)).toEqual(broken);
    expect(Object.keys(broken).sort()).toEqual([...design.breaks].sort());
  });
});

describe('the same traces hold on the sound designs', () => {
  const sound = [xenPtHvmSharedPt, xenPtHvmSyncPt, xenPtQuarantineBasic];
  test.for(sound.flatMap((design) => cases.map((found) => ({ design, steps: found.steps, id: found.design.id }))))(
    '$design.id: $id',
    ({ design, steps }) => {
      const run = runTrace(design, steps, { stopAtFirst: false });
      expect(run.violations).toEqual([]);
    },
  );
});

// (xenpt/hvm-shared-pt runs the default budget in test/engine/stats.test.ts.)
describe('a small check of each sound design finds nothing', () => {
  test.for([xenPtHvmSyncPt, xenPtQuarantineBasic])('$id', (design) => {
    expectNothingFound(checkDesign(design, { seed: 1001, runs: 60 }));
  });
});

describe.runIf(DEEP)('the default budget on the fixed seeds', () => {
  test.for(xenPtDesigns.flatMap((design) => FIXED_SEEDS.map((seed) => ({ design, seed }))))(
    '$design.id, seed $seed',
    ({ design, seed }) => {
      // A flawed design's search stops once every declared break is found.
      const report = design.expected === 'violates' ? { report: design.breaks } : {};
      const check = checkDesign(design, { seed, runs: 1000, ...report });
      expect(check.met, `${design.id}: ${String(check.reason)}`).toBe(true);
    },
  );
});
