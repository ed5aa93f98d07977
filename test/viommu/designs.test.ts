/**
 * The vIOMMU designs: each deliberately broken variant is caught on every invariant it breaks, with
 * a shrunk counterexample of at most 8 steps (the exploit and its root cause are re-found here; the
 * corpus entries in `test/regressions/viommu` hold all five). The lengths were the same from every seed tried (1..10,
 * 1001, 1002 at 1000 runs; all five invariants on 23 of the 24 searches, the shadow's foreign DMA
 * missed once), though the steps may come in another order, with fast-check's bias on. The VMM bugs that only hurt the guest
 * break no isolation invariant. The sound designs hold on a default run in
 * `test/engine/stats.test.ts`.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { viommuDesign } from '../../properties/viommu/design.js';
import { viommuNestedFlushLeavesCombined, viommuShadowUnmapSkipsFlush } from '../../properties/viommu/designs.js';

describe('broken vIOMMU designs are caught with short counterexamples', () => {
  test.for([
    {
      design: viommuShadowUnmapSkipsFlush,
      seed: 1001,
      // Translation off (the no-DMAR mapping of all RAM), DMA (IOTLB fill); the VMM discards the
      // page (its UNMAP_DMA skips the flush); translation on; the frame, unpinned, is reused; DMA
      // through the stale entry. (Until generation dropped fast-check's bias this seed shrank to
      // the 8-step guest-table race the explore scope, which has no discard, finds: map,
      // invalidate, guest unmap, balloon out, DMA, invalidate, reuse, DMA.)
      foreign: [
        'guestSetTranslation',
        'deviceDma',
        'vmmDiscard',
        'guestSetTranslation',
        'allocateToOther',
        'deviceDma',
      ],
      lengths: {
        'no-dma-to-foreign-frame': 6,
        'no-dma-to-free-frame': 7,
        'reachable-frame-owned-by-guest': 6,
        // Translation off maps all RAM (no-DMAR), the device reads, translation on unmaps it with
        // the flush skipped: an IOTLB entry of a frame nothing pins (3 steps).
        'reachable-frame-pinned': 3,
        'no-stale-iotlb-outside-flush-queue': 5,
      },
    },
    {
      design: viommuNestedFlushLeavesCombined,
      seed: 8,
      // Translation off (the device walks stage 2 alone), DMA (combined entry), balloon out the page
      // (stage 2 unmapped, nested tag not flushed), the frame is reused, DMA. (A guest mapping in
      // place of translation off is the same race.)
      foreign: ['guestSetTranslation', 'deviceDma', 'guestBalloonOut', 'allocateToOther', 'deviceDma'],
      lengths: {
        'no-dma-to-foreign-frame': 5,
        'no-dma-to-free-frame': 4,
        'reachable-frame-owned-by-guest': 3,
        'reachable-frame-pinned': 3,
        'no-stale-iotlb-outside-flush-queue': 3,
      },
    },
  ])('$design.id (seed $seed)', ({ design, seed, foreign, lengths }) => {
    // The exploit and its root cause: the regression corpus pins the other three counterexamples.
    const report = ['no-dma-to-foreign-frame', 'reachable-frame-pinned'];
    const check = checkDesign(design, { seed, runs: 1000, report });
    expect(check.verdict).toBe('violated');
    expect(Object.fromEntries(check.violations.map((found) => [found.invariant, found.length]))).toEqual(
      Object.fromEntries(report.map((invariant) => [invariant, lengths[invariant as keyof typeof lengths]])),
    );
    const exploit = check.violations.find((found) => found.invariant === 'no-dma-to-foreign-frame');
    expect(exploit?.steps.map((step) => (step as { kind: string }).kind)).toEqual(foreign);
  });
});

/**
 * The teardown a VMM owes its guest: the shadow VMM that misses unmaps also keeps the pins of what
 * the guest cleared (the shadow round trip); the nested VMM's mappings never depend on the guest.
 */
describe("VMM bugs that only hurt the guest keep isolation, and break the vIOMMU's contract with it", () => {
  test.for([
    {
      mode: 'shadow' as const,
      bug: 'shadow-misses-unmap' as const,
      broken: ['invalidated-giova-unreachable', 'round-trip-returns-everything'],
    },
    { mode: 'nested' as const, bug: 'nested-drops-invalidation' as const, broken: ['invalidated-giova-unreachable'] },
  ])(
    '$mode VMM with $bug: every isolation invariant holds; an invalidated GIOVA page stays reachable',
    ({ mode, bug, broken }) => {
      const design = viommuDesign({
        id: `self-harm/${bug}`,
        mode,
        vmmBugs: [bug],
        expected: 'holds',
        description: 'a VMM bug the guest pays for',
      });
      const isolation = {
        ...design,
        invariants: design.invariants.filter(
          (invariant) => !['invalidated-giova-unreachable', 'round-trip-returns-everything'].includes(invariant.name),
        ),
      };
      expect(checkDesign(isolation, { seed: 5, runs: 200 }).verdict).toBe('holds');
      const contract = checkDesign({ ...design, expected: 'violates', breaks: broken }, { seed: 5, runs: 200 });
      expect(contract.violations.map((found) => found.invariant)).toEqual(broken);
    },
  );
});
