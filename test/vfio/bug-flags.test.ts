/**
 * The factories refuse a bug flag the model does not know, or one whose code path the design's
 * world never takes (`vfioBugNeeds`, `iommuBugNeeds`), with an Error that says why: a design with
 * such a flag would hold by omission. Each bug is refused where it cannot act and accepted where
 * it can.
 */
import { describe, expect, test } from 'vitest';
import { iommuBugs, kvmgtDesign, passthroughDesign, vfioBugs, vfioDesign } from '../../src/index.js';
import type { IommuBug, InvalidationMode, VfioBug, VfioWorld } from '../../src/index.js';

function vfioWith(world: VfioWorld, bugs: readonly string[]) {
  return () =>
    vfioDesign({
      id: 'test/bug',
      world,
      vfioBugs: bugs as readonly VfioBug[],
      expected: 'violates',
      breaks: ['no-kernel-crash'],
      description: 'a bug',
    });
}

function passthroughWith(mode: InvalidationMode, iommu: readonly string[], vfio: readonly VfioBug[] = []) {
  return () =>
    passthroughDesign({
      id: 'test/bug',
      mode,
      vfioBugs: vfio,
      iommuBugs: iommu as readonly IommuBug[],
      expected: 'violates',
      breaks: ['no-kernel-crash'],
      description: 'a bug',
    });
}

function kvmgtWith(bugs: readonly string[]) {
  return () =>
    kvmgtDesign({
      id: 'test/bug',
      vfioBugs: bugs as readonly VfioBug[],
      expected: 'violates',
      breaks: ['no-kernel-crash'],
      description: 'a bug',
    });
}

const mdevOnly: VfioWorld = { groups: [{ kind: 'emulated', mdev: 1, ccw: 0 }] };
const ccwOnly: VfioWorld = { groups: [{ kind: 'emulated', mdev: 0, ccw: 1 }] };

/** [bug, a world it cannot act in, what the refusal says]. */
const vfioRefusals: readonly [VfioBug, VfioWorld, string][] = [
  [
    'unmap-skips-unpin',
    'mediated',
    "vfioBugs: 'unmap-skips-unpin' cannot take effect: the mediated world has no IOMMU-backed group, so vfio_unmap_unpin never unpins through the IOMMU path",
  ],
  ['map-failure-leaks-pins', 'mediated', 'has no IOMMU-backed group, so MAP_DMA pins nothing'],
  ['locked-vm-not-uncharged', 'mediated', 'has no IOMMU-backed group, so no IOMMU-path pin is ever unpinned'],
  ['mdev-ignores-unmap', 'passthrough', 'has no emulated-IOMMU device (mdev or ccw), so no dma_unmap callback'],
  ['mdev-unpins-foreign-pins', mdevOnly, 'the described world has no second device pinning through vfio_pin_pages'],
  ['mdev-unpins-foreign-pins', ccwOnly, 'has no mdev driven by the generic mediated driver'],
  ['map-skips-memlock-check', 'noiommu', 'the noiommu world has no type1 mappings'],
  [
    'map-skips-memlock-check',
    { groups: [{ kind: 'iommu' }], memlockLimitPages: 2 ** 31 },
    'never pins more pages than RLIMIT_MEMLOCK allows',
  ],
  ['unmap-leaks-dma-slot', 'noiommu', 'has no type1 mappings'],
  ['close-keeps-pins', 'passthrough', 'has no emulated-IOMMU device'],
  ['overlap-not-checked', 'noiommu', 'so MAP_DMA never runs'],
  ['unmap-skips-unpin-with-emulated-group', 'passthrough', 'the passthrough world has no emulated-IOMMU group'],
  ['unmap-skips-unpin-with-emulated-group', 'mediated', 'the mediated world has no IOMMU-backed group'],
];

describe('vfioDesign refuses bugs', () => {
  test('a name the VFIO model does not know', () => {
    expect(vfioWith('mixed', ['unmap-skips-unpinn'])).toThrow(
      /vfioBugs: "unmap-skips-unpinn" is not a bug of the VFIO model \(known: unmap-skips-unpin, /,
    );
  });

  test.for(vfioRefusals)('%s in %o', ([bug, world, why]) => {
    expect(vfioWith(world, [bug])).toThrow(why);
  });

  test('every bug can take effect in the mixed world, and each preset accepts the bugs its paths run', () => {
    for (const bug of vfioBugs) expect(vfioWith('mixed', [bug]), bug).not.toThrow();
    expect(vfioWith('passthrough', ['unmap-skips-unpin', 'overlap-not-checked'])).not.toThrow();
    expect(vfioWith('mediated', ['mdev-ignores-unmap', 'mdev-unpins-foreign-pins', 'close-keeps-pins'])).not.toThrow();
  });
});

describe('passthroughDesign refuses bugs', () => {
  test('an IOMMU bug whose path the mode never takes', () => {
    expect(passthroughWith('lazy', ['unmap-skips-iotlb-invalidate'])).toThrow(
      "iommuBugs: 'unmap-skips-iotlb-invalidate' cannot take effect: the passthrough world over VT-d in lazy mode has no domain that invalidates on unmap (every unmap waits in a flush queue), so no unmap issues the invalidation the bug skips",
    );
    expect(passthroughWith('strict', ['flush-queue-skips-iotlb'])).toThrow('has no flush queue');
    expect(passthroughWith('lazy-held', ['psi-mask-too-small'])).toThrow('never flushes a page range');
  });

  test.for(['caching-mode-map-skips-flush', 'partial-unmap-keeps-superpage', 'stage2-flush-skips-nested-tags'])(
    '%s, which no mode of VFIO over VT-d reaches',
    (bug) => {
      for (const mode of ['strict', 'lazy', 'lazy-held'] as const) expect(passthroughWith(mode, [bug])).toThrow(bug);
    },
  );

  test('a map over a present leaf only when VFIO skips its overlap search', () => {
    expect(passthroughWith('strict', ['map-ignores-existing'])).toThrow(
      'never maps an IOVA page that is already mapped, so no map ever meets a present leaf',
    );
    expect(passthroughWith('strict', ['map-ignores-existing'], ['overlap-not-checked'])).not.toThrow();
  });

  test('an unknown IOMMU bug, a VFIO bug the world cannot show, and a world with no IOMMU-backed group', () => {
    expect(passthroughWith('strict', ['unmap-skips-flush'])).toThrow('is not a bug of the VT-d model');
    expect(passthroughWith('strict', [], ['mdev-ignores-unmap'])).toThrow('has no emulated-IOMMU device');
    expect(() =>
      passthroughDesign({ id: 'test/x', mode: 'strict', world: 'mediated', expected: 'holds', description: 'x' }),
    ).toThrow('the mediated world has no IOMMU-backed group, so nothing would run over the VT-d model');
  });

  test('every IOMMU bug is accepted in some mode', () => {
    const accepted = iommuBugs.filter((bug) =>
      (['strict', 'lazy', 'lazy-held'] as const).some((mode) => {
        try {
          passthroughWith(mode, [bug], ['overlap-not-checked'])();
          return true;
        } catch {
          return false;
        }
      }),
    );
    expect(accepted).toEqual([
      'unmap-skips-iotlb-invalidate',
      'flush-queue-skips-iotlb',
      'psi-mask-too-small',
      'map-ignores-existing',
      'unmap-stops-at-table-boundary',
      'fq-queues-before-pte-clear',
    ]);
  });
});

describe("kvmgtDesign's vfioBugs", () => {
  test('refuses what the KVMGT container never runs: the IOMMU path, the generic driver, RLIMIT_MEMLOCK', () => {
    expect(kvmgtWith(['unmap-skips-unpin'])).toThrow(
      "vfioBugs: 'unmap-skips-unpin' cannot take effect: the KVMGT container has no IOMMU-backed group, so vfio_unmap_unpin never unpins through the IOMMU path",
    );
    for (const bug of ['map-failure-leaks-pins', 'locked-vm-not-uncharged', 'unmap-skips-unpin-with-emulated-group'])
      expect(kvmgtWith([bug]), bug).toThrow('the KVMGT container has no IOMMU-backed group');
    expect(kvmgtWith(['mdev-unpins-foreign-pins'])).toThrow('has no mdev driven by the generic mediated driver');
    expect(kvmgtWith(['map-skips-memlock-check'])).toThrow('never pins more pages than RLIMIT_MEMLOCK allows');
    expect(kvmgtWith(['no-such-bug'])).toThrow('is not a bug of the VFIO model');
  });

  test("accepts the bugs of the vGPU's dma_unmap and close, and of the VMM's MAP_DMA and UNMAP_DMA", () => {
    for (const bug of ['mdev-ignores-unmap', 'close-keeps-pins', 'unmap-leaks-dma-slot', 'overlap-not-checked'])
      expect(kvmgtWith([bug]), bug).not.toThrow();
  });
});
