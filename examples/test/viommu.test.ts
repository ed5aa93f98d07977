/**
 * Our vIOMMU designs, and our invariant `example/ballooned-page-not-pinned` on one trace: it
 * catches QEMU's shadow VMM keeping a ballooned-out page pinned, which the built-in invariants
 * accept, and our balloon-aware VMM passes the same trace.
 */
import { describe, expect, test } from 'vitest';
import { runTrace, viommuDesign } from 'dmaprop';
import type { ViommuCommand } from 'dmaprop';
import { viommuBalloonAware, viommuStockShadow, world } from '../designs/viommu.js';
import { testOurDesigns } from './our-designs.js';

testOurDesigns('vIOMMU');

describe('example/ballooned-page-not-pinned', () => {
  // Balloon out a page, map it in the vIOMMU, invalidate: the shadow VMM MAP_DMAs (and pins) it.
  const mapsBalloonedPage: ViommuCommand[] = [
    { kind: 'guestBalloonOut', gpaPage: 0 },
    { kind: 'guestMap', giovaPage: 0, gpaPage: 0, write: false },
    { kind: 'guestInvalidate', granularity: 'domain', did: 1, giovaPage: 0, mask: 0 },
  ];

  test("catches QEMU's shadow VMM keeping a ballooned-out page pinned", () => {
    const run = runTrace(viommuStockShadow, mapsBalloonedPage);
    expect(run.violations.map((found) => [found.invariant, found.afterStep])).toEqual([
      ['example/ballooned-page-not-pinned', 3],
    ]);
    expect(run.violations[0]?.violation.message).toBe(
      'GPA page 0 is ballooned out, but VFIO still maps it at IOVA page 0: its frame stays pinned',
    );
  });

  test('the built-in invariants accept that trace; our balloon-aware VMM passes it', () => {
    const stock = viommuDesign({
      id: 'example/viommu-stock-shadow-built-in-invariants',
      mode: 'shadow',
      world,
      expected: 'holds',
      description: "QEMU's shadow VMM, judged by the built-in invariants only",
    });
    expect(runTrace(stock, mapsBalloonedPage).violations).toEqual([]);
    expect(runTrace(viommuBalloonAware, mapsBalloonedPage).violations).toEqual([]);
  });
});
