/**
 * Our own invariants catch what the built-in ones accept, and only that: each flawed design is
 * caught by its counterexample, the same design without our invariant passes the built-in ones,
 * and the counterexample replayed on our fixed design breaks nothing.
 */
import { describe, expect, test } from 'vitest';
import { kvmgtDesign, runTrace, viommuDesign } from 'dmaprop';
import type { KvmgtCommand, ViommuCommand } from 'dmaprop';
import { expectDesignMeets } from 'dmaprop/vitest';
import { flushWholeCache, kvmgtFlushRange, kvmgtFlushWholeCache, world as kvmgtWorld } from '../designs/kvmgt.js';
import { viommuBalloonAware, viommuStockShadow, world as viommuWorld } from '../designs/viommu.js';

describe('example/unmap-scratches-only-its-range (KVMGT)', () => {
  test('catches the dma_unmap op that flushes the whole cache, in one UNMAP_DMA', () => {
    const check = expectDesignMeets(kvmgtFlushWholeCache, { runs: 300 });
    const [found] = check.violations;
    expect(found?.invariant).toBe('example/unmap-scratches-only-its-range');
    expect(found?.steps).toEqual([{ kind: 'vmmUnmapRam', gfn: 4, npages: 4 }]);
    expect(found?.violation.message).toBe('UNMAP_DMA of gfns 4–7 pointed GGTT entry 4 (guest page gfn 8) at scratch');
    // The op that flushes only the range passes the same step. (A check's steps are typed
    // `unknown`: checkDesign is not generic in the command type.)
    const steps = (found?.steps ?? []) as readonly KvmgtCommand[];
    expect(runTrace(kvmgtFlushRange, steps).violations).toEqual([]);
  });

  test('the built-in invariants alone accept the flush: scratch is harmless', () => {
    const builtInOnly = kvmgtDesign({
      id: 'example/kvmgt-flush-whole-cache-built-in-invariants',
      unmapCallback: flushWholeCache,
      world: kvmgtWorld,
      expected: 'holds',
      description: 'the whole-cache flush, judged by the built-in invariants only',
    });
    expect(expectDesignMeets(builtInOnly, { runs: 300 }).verdict).toBe('holds');
  });
});

describe('example/ballooned-page-not-pinned (vIOMMU)', () => {
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

  test('our balloon-aware VMM passes the same trace, and the search finds nothing against it', () => {
    expect(runTrace(viommuBalloonAware, mapsBalloonedPage).violations).toEqual([]);
    const stock = viommuDesign({
      id: 'example/viommu-stock-shadow-built-in-invariants',
      mode: 'shadow',
      world: viommuWorld,
      expected: 'holds',
      description: "QEMU's shadow VMM, judged by the built-in invariants only",
    });
    expect(runTrace(stock, mapsBalloonedPage).violations).toEqual([]);
  });
});
