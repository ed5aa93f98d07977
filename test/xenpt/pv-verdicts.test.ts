/**
 * The Xen passthrough stack's PV memory designs (properties/xenpt/pv-designs.ts). Default tier:
 * each flawed design's shortest counterexample replayed (what its declared invariants say, at the
 * step they say it), and the same traces holding on the sound designs. Deeper tier (`DEEP`): the
 * default budget on the fixed seeds, each meeting its expectation.
 */
import { describe, expect, test } from 'vitest';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import { xenPtHvmSharedPt, xenPtHvmSyncPt, xenPtQuarantineBasic } from '../../properties/xenpt/designs.js';
import { xenPtPvDesigns } from '../../properties/xenpt/pv-designs.js';
import { DEEP, FIXED_SEEDS } from '../helpers.js';

function design(id: string): XenPtDesign {
  const found = xenPtPvDesigns.find((candidate) => candidate.id === id);
  if (found === undefined) throw new Error(id);
  return found;
}

const update = (tableMfn: number, mfn: number, rw: boolean): XenPtCommand => ({
  kind: 'pvMmuUpdate',
  domid: 2,
  tableMfn,
  slot: 0,
  mfn,
  rw,
});
const pin: XenPtCommand = { kind: 'pvPinL1Table', domid: 2, mfn: 6 };

/** Each flawed design's shortest counterexample, and the invariant broken after each numbered step. */
const cases: readonly {
  readonly id: string;
  readonly steps: readonly XenPtCommand[];
  readonly broken: Readonly<Record<string, number>>;
}[] = [
  {
    // The PV guest pins its data page as an L1 table: the page stays DMA-writable.
    id: 'xenpt/pv-type-change-skips-iommu-unmap',
    steps: [pin],
    broken: { 'no-writable-page-table': 1, 'pv-iommu-matches-types-and-grants': 1 },
  },
  {
    // XSA-182: a read-only self-map, the table pinned, the entry's _PAGE_RW set through the fast path.
    id: 'xenpt/pv-l1-fast-path-ignores-rw',
    steps: [update(6, 6, false), pin, { kind: 'pvMmuProtect', domid: 2, tableMfn: 6, slot: 0, rw: true }],
    broken: { 'no-writable-page-table': 3, 'page-type-count-matches-references': 3 },
  },
  {
    // An RW self-map written while the frame is data, then validated as an L1 with no type reference.
    id: 'xenpt/pv-l1-accepts-writable-page-table',
    steps: [update(6, 6, true), pin],
    broken: { 'no-writable-page-table': 2, 'page-type-count-matches-references': 2 },
  },
  {
    // The HVM guest maps dom0's page writable (a PV granter's page: a type reference), and unmaps it.
    id: 'xenpt/pv-grant-unmap-keeps-type',
    steps: [
      { kind: 'grantAccess', domid: 0, ref: 0, granteeDomid: 1, gfn: 0, readonly: false },
      { kind: 'mapGrantRef', mapperDomid: 1, granterDomid: 0, ref: 0, gfn: 3, readonly: false },
      { kind: 'unmapGrantRef', mapperDomid: 1, handle: 0 },
    ],
    broken: { 'page-type-count-matches-references': 3 },
  },
  {
    // XSA-394: dom0 maps the PV guest's page for host and device, and unmaps the host part only.
    id: 'xenpt/pv-grant-iommu-count-drops-per-unmap',
    steps: [
      { kind: 'grantAccess', domid: 2, ref: 0, granteeDomid: 0, gfn: 0, readonly: false },
      { kind: 'mapGrantRef', mapperDomid: 0, granterDomid: 2, ref: 0, gfn: 0, readonly: false, device: true },
      { kind: 'unmapGrantRef', mapperDomid: 0, handle: 0, device: false },
    ],
    broken: { 'grant-iommu-counts-match-mappings': 3, 'pv-iommu-matches-types-and-grants': 3 },
  },
  {
    // dom0 maps the HVM guest's page and unmaps it: its count and IOMMU entry stay.
    id: 'xenpt/pv-grant-iommu-count-never-drops',
    steps: [
      { kind: 'grantAccess', domid: 1, ref: 0, granteeDomid: 0, gfn: 0, readonly: false },
      { kind: 'mapGrantRef', mapperDomid: 0, granterDomid: 1, ref: 0, gfn: 2, readonly: false },
      { kind: 'unmapGrantRef', mapperDomid: 0, handle: 0 },
    ],
    broken: { 'grant-iommu-counts-match-mappings': 3, 'pv-iommu-matches-types-and-grants': 3 },
  },
];

describe('each PV memory design breaks what it declares, at the step its shortest trace reaches', () => {
  test('every design has a case', () => {
    expect(cases.map((found) => found.id).sort()).toEqual(xenPtPvDesigns.map((found) => found.id).sort());
  });
  test.for(cases)('$id', ({ id, steps, broken }) => {
    const flawed = design(id);
    const run = runTrace(flawed, steps, { stopAtFirst: false });
    expect(run.steps.map((step) => step.result.ok)).toEqual(steps.map(() => true));
    const first = new Map<string, number>();
    for (const found of run.violations) if (!first.has(found.invariant)) first.set(found.invariant, found.afterStep);
    expect(Object.fromEntries(first)).toEqual(broken);
    expect(Object.keys(broken).sort()).toEqual([...flawed.breaks].sort());
  });
});

describe('the same traces hold on the sound designs', () => {
  const sound = [xenPtHvmSharedPt, xenPtHvmSyncPt, xenPtQuarantineBasic];
  test.for(
    sound.flatMap((soundDesign) => cases.map((found) => ({ design: soundDesign, steps: found.steps, id: found.id }))),
  )('$design.id: $id', ({ design: soundDesign, steps }) => {
    const run = runTrace(soundDesign, steps, { stopAtFirst: false });
    expect(run.violations).toEqual([]);
  });
});

describe.runIf(DEEP)('the default budget on the fixed seeds', () => {
  test.for(xenPtPvDesigns.flatMap((flawed) => FIXED_SEEDS.map((seed) => ({ design: flawed, seed }))))(
    '$design.id, seed $seed',
    ({ design: flawed, seed }) => {
      const check = checkDesign(flawed, { seed, runs: 1000, report: flawed.breaks });
      expect(check.met, `${flawed.id}: ${String(check.reason)}`).toBe(true);
    },
  );
});
