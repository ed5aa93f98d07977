/**
 * `viommuDesign` and `viommuDifferentialDesign` refuse a bug flag the models do not know, or one the
 * design can never show (`vmmBugNeeds`, `vfioBugNeeds`, `iommuBugNeeds`), with an Error that says
 * why: a VMM bug of the other mode, a VMM bug on a design that handles invalidations with its own
 * hook, a host bug its IOMMU or container never reaches. A mode or a world that is not one throws.
 */
import { describe, expect, test } from 'vitest';
import { replayGuestTable, viommuDesign, viommuDifferentialDesign, vmmBugs } from '../../src/index.js';
import type { ViommuDesignOptions, ViommuMode } from '../../src/index.js';

function design(mode: ViommuMode, options: Partial<ViommuDesignOptions>): () => unknown {
  return () =>
    viommuDesign({
      id: 'test/bug',
      mode,
      expected: 'violates',
      breaks: ['no-dma-to-foreign-frame'],
      description: 'a bug',
      ...options,
    });
}

describe('viommuDesign refuses', () => {
  test.for([
    {
      mode: 'shadow' as const,
      options: { vmmBugs: ['shadow-misses-unmapp' as never] },
      message:
        'vmmBugs: "shadow-misses-unmapp" is not a bug of the vIOMMU VMM (known: shadow-misses-unmap, nested-drops-invalidation, shadow-completes-wait-before-unmap, shadow-context-clear-keeps-shadow, context-sync-skips-same-did, shadow-te-on-keeps-no-dmar, pasid-cache-ignored, pasid-invalid-unmap-needs-cache)',
    },
    {
      mode: 'shadow' as const,
      options: { vmmBugs: ['nested-drops-invalidation' as const] },
      message:
        "vmmBugs: 'nested-drops-invalidation' cannot take effect: the shadow VMM has no nested domain, so no built-in forwarding to a nested domain runs for the bug to drop",
    },
    {
      mode: 'nested' as const,
      options: { vmmBugs: ['shadow-misses-unmap' as const] },
      message:
        "vmmBugs: 'shadow-misses-unmap' cannot take effect: the nested VMM is not a shadow (caching-mode) vIOMMU",
    },
    {
      mode: 'shadow' as const,
      options: { invalidation: replayGuestTable, vmmBugs: ['shadow-misses-unmap' as const] },
      message: 'the shadow design handles trapped invalidations with its own hook',
    },
    {
      mode: 'shadow' as const,
      options: { iommuBugs: ['stage2-flush-skips-nested-tags' as const] },
      message:
        "iommuBugs: 'stage2-flush-skips-nested-tags' cannot take effect: the shadow vIOMMU's host has no nested domain",
    },
    {
      mode: 'nested' as const,
      options: { iommuBugs: ['flush-queue-skips-iotlb' as const] },
      message: "the nested vIOMMU's host has no flush queue",
    },
    {
      mode: 'nested' as const,
      options: { vfioBugs: ['mdev-ignores-unmap' as const] },
      message: "the nested vIOMMU's container has no emulated-IOMMU device (mdev or ccw)",
    },
    {
      mode: 'nested' as const,
      options: { vfioBugs: ['map-skips-memlock-check' as const] },
      message: "the nested vIOMMU's container never pins more pages than RLIMIT_MEMLOCK allows",
    },
    { mode: 'caching' as never, options: {}, message: 'mode: expected one of shadow, nested, got "caching"' },
    {
      mode: 'nested' as const,
      options: { world: { memlockLimitPages: 4 } },
      message: 'a nested VMM maps and pins all 8 RAM pages at start, one mapping each, but RLIMIT_MEMLOCK is 4 pages',
    },
    { mode: 'shadow' as const, options: { world: { frames: 9 } }, message: '9 frames hold the 8 RAM pages' },
    {
      mode: 'shadow' as const,
      options: { invalidation: 'replay' as never },
      message: 'invalidation: expected a function',
    },
  ])('$mode: $message', ({ mode, options, message }) => {
    expect(design(mode, options)).toThrow(message);
  });

  test('each VMM bug is accepted on its mode, a memlock bug where the shadow VMM can reach the limit', () => {
    expect(design('shadow', { vmmBugs: ['shadow-misses-unmap'] })).not.toThrow();
    expect(design('nested', { vmmBugs: ['nested-drops-invalidation'] })).not.toThrow();
    const low = { world: { memlockLimitPages: 2 }, vfioBugs: ['map-skips-memlock-check' as const] };
    expect(design('shadow', low)).not.toThrow();
  });
});

describe('viommuDifferentialDesign refuses', () => {
  const pair = (options: object) => () =>
    viommuDifferentialDesign({
      id: 'test/bug',
      expected: 'violates',
      breaks: ['shadow-and-nested-agree'],
      description: 'a bug',
      ...options,
    });

  test('an unknown VMM bug, and a bug of a side that handles invalidations with its own hook', () => {
    expect(pair({ vmmBugs: ['nested-drops'] })).toThrow('vmmBugs: "nested-drops" is not a bug of the vIOMMU VMM');
    expect(pair({ nested: { invalidation: () => [] }, vmmBugs: ['nested-drops-invalidation'] })).toThrow(
      "vmmBugs: 'nested-drops-invalidation' cannot take effect: the nested design handles trapped invalidations with its own hook",
    );
    const lifecycle = [
      'shadow-context-clear-keeps-shadow',
      'context-sync-skips-same-did',
      'shadow-te-on-keeps-no-dmar',
    ];
    const scalable = ['pasid-cache-ignored', 'pasid-invalid-unmap-needs-cache'];
    for (const bug of vmmBugs.filter((name) => !lifecycle.includes(name) && !scalable.includes(name))) {
      expect(pair({ vmmBugs: [bug] })).not.toThrow();
    }
    // The pair's well-behaved guest never moves its device: a context-cache bug could never act.
    for (const bug of lifecycle) {
      expect(pair({ vmmBugs: [bug] })).toThrow(
        'the differential pair runs a guest program that never detaches the device nor moves it to another domain',
      );
    }
    // Nor does it run scalable mode: a PASID-cache bug could never act.
    for (const bug of scalable) {
      expect(pair({ vmmBugs: [bug] })).toThrow('the differential pair runs its guest in legacy mode');
    }
  });

  test('a lifecycle bug on a design with its own context hook', () => {
    expect(design('shadow', { context: () => [], vmmBugs: ['context-sync-skips-same-did'] })).toThrow(
      "vmmBugs: 'context-sync-skips-same-did' cannot take effect: the shadow design handles context-cache invalidations with its own hook",
    );
    expect(design('nested', { vmmBugs: ['shadow-context-clear-keeps-shadow'] })).toThrow(
      'the nested VMM is not a shadow (caching-mode) vIOMMU',
    );
  });
});
