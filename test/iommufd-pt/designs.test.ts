/**
 * The passthrough stack over iommufd: each flawed design breaks every invariant it declares on a
 * counterexample written out (the generic invariants, the same trace holds on the sound design),
 * and nothing breaks a sound design in a short search on a fixed seed. The searches that find the
 * flawed designs' breaks take seconds each: the deeper tier runs them on a fixed seed, the
 * benchmark on 20 fresh ones (`node dist/bench/declared-breaks.js --seeds 20 --design iommufd/…`).
 */
import { describe, expect, test } from 'vitest';
import type { IommufdPtCommand } from '../../models/iommufd-pt/types.js';
import {
  iommufdAccessIgnoresUnmap,
  iommufdAccessUnpinsContained,
  iommufdDesigns,
  iommufdDomainNotFilled,
  iommufdLazy,
  iommufdPassthrough,
  iommufdPinsUncharged,
  iommufdUnmapUnderAccess,
} from '../../properties/iommufd/designs.js';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import { DEEP, expectNothingFound } from '../helpers.js';
import { map, pin, unmap } from './commands.js';

const SEED = 1001;
const counterexamples = [
  {
    design: iommufdLazy,
    trace: [
      map(0),
      { kind: 'deviceDma', deviceIndex: 0, iovaPage: 0, write: true },
      unmap(0),
      { kind: 'munmap', vaddrPage: 16, npages: 1 },
      { kind: 'allocateToOther' },
    ],
  },
  { design: iommufdAccessIgnoresUnmap, trace: [map(0), pin(0), unmap(0), { kind: 'accessDetach', accessId: 4 }] },
  { design: iommufdAccessUnpinsContained, trace: [map(0), map(1), pin(0, 2), unmap(0)] },
  { design: iommufdUnmapUnderAccess, trace: [map(0), pin(0), unmap(0), map(0)] },
  { design: iommufdPinsUncharged, trace: [map(0)] },
  {
    design: iommufdDomainNotFilled,
    trace: [map(0), { kind: 'hwptAlloc', devId: 2, ptId: 1, flags: 0, dataType: 0, dataLen: 0 }],
  },
] as const satisfies readonly { design: unknown; trace: readonly IommufdPtCommand[] }[];

describe('iommufd passthrough designs', () => {
  test.for(counterexamples.map(({ design, trace }) => ({ id: design.id, design, trace })))(
    '$id: its counterexample breaks every invariant it declares, and nothing on the sound design',
    ({ design, trace }) => {
      const flawed = runTrace(design, trace, { stopAtFirst: false });
      expect(flawed.steps).toHaveLength(trace.length);
      expect(flawed.violations.map((found) => found.invariant).sort()).toEqual(
        expect.arrayContaining([...design.breaks].sort()),
      );
      const sound = runTrace(iommufdPassthrough, trace);
      expect(sound.violations).toEqual([]);
    },
  );

  test('every flawed design has a counterexample here', () => {
    const flawed = iommufdDesigns.filter((design) => design.expected === 'violates').map((design) => design.id);
    expect(counterexamples.map(({ design }) => design.id).sort()).toEqual(flawed.sort());
  });

  test.for(iommufdDesigns.filter((design) => design.expected === 'holds'))(
    '$id: nothing breaks in a short search on seed 1001',
    (design) => {
      expectNothingFound(checkDesign(design, { seed: SEED, runs: DEEP ? 1000 : 40, minimize: false }));
    },
  );

  test.runIf(DEEP).for(iommufdDesigns.filter((design) => design.expected === 'violates'))(
    '$id: the default budget on seed 1001 breaks every invariant it declares',
    (design) => {
      const check = checkDesign(design, { seed: SEED, runs: 1000, report: design.breaks, minimize: false });
      expect(check.verdict).toBe('violated');
      expect(check.met).toBe(true);
    },
  );
});
