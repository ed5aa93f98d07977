/**
 * VFIO_GROUP_UNSET_CONTAINER started phased (`models/vfio/container.ts`, docs/reference/vtd.md
 * §3.13.1): type1's `iommu_detach_group` first, then the rest of `vfio_iommu_type1_detach_group`
 * (the unmaps, the unpins, the domain's free) and of the ioctl. Its effects, concatenated, and its
 * final state are the atomic ioctl's, in every world; a group with no IOMMU domain runs in one
 * phase; the refusals are the atomic ones, with the state unchanged.
 */
import { describe, expect, test } from 'vitest';
import { mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { stepVfio } from '../../../models/vfio/step.js';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioResult, VfioState } from '../../../models/vfio/types.js';
import { vfioDesign } from '../../../properties/vfio/design.js';
import type { VfioDesign } from '../../../properties/vfio/design.js';
import type { VfioWorld } from '../../../properties/vfio/world.js';
import { RAM_VADDR_PAGE } from '../../../properties/vfio/world.js';

const worlds: readonly { readonly name: string; readonly world: VfioWorld }[] = [
  { name: 'one IOMMU group', world: 'passthrough' },
  { name: 'an IOMMU group beside an emulated one', world: 'mixed' },
  {
    name: 'two IOMMU groups in one domain',
    world: {
      groups: [
        { kind: 'iommu', pci: 1 },
        { kind: 'iommu', pci: 1 },
      ],
    },
  },
  {
    name: 'two IOMMU groups in two domains',
    world: {
      groups: [
        { kind: 'iommu', pci: 1 },
        { kind: 'iommu', pci: 1, domainClass: 1 },
      ],
    },
  },
];

function run(design: VfioDesign, start: VfioState, commands: readonly VfioCommand[]) {
  let state = start;
  const results: VfioResult[] = [];
  for (const command of commands) {
    const step = stepVfio(state, design.config, command);
    results.push(step.result);
    state = step.state;
  }
  return { state, results };
}

/** The world with a mapping and every device closed (a group may leave only with its devices closed). */
function ready(design: VfioDesign): VfioState {
  const map: VfioCommand = { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 0, npages: 2 }) };
  const mapped = run(design, design.init(), [map]).state;
  const closes = mapped.devices
    .filter((device) => device.open)
    .map((device): VfioCommand => ({ kind: 'closeDevice', deviceId: device.id }));
  return run(design, mapped, closes).state;
}

describe('VFIO_GROUP_UNSET_CONTAINER in two phases', () => {
  test.for(worlds)('$name: each group out, phased, ends in the atomic state with the same effects', ({ world }) => {
    const design = vfioDesign({ id: 'test/unset', world, expected: 'holds', description: 'x' });
    const start = ready(design);
    for (const groupId of design.world.groupIds) {
      const atomic = run(design, start, [{ kind: 'groupUnsetContainer', groupId }]);
      const phased = run(design, start, [{ kind: 'groupUnsetContainer', groupId, phased: true }]);
      expect(atomic.results[0]?.ok).toBe(true);
      expect(phased.results[0]?.ok).toBe(true);
      const inFlight = phased.state.inflight.length;
      const iommuGroup = design.world.groups[groupId]?.kind === 'iommu';
      // In flight after the detach when the group was in an IOMMU domain; otherwise one phase.
      expect(inFlight).toBe(iommuGroup ? 1 : 0);
      const done = inFlight === 0 ? phased : run(design, phased.state, [{ kind: 'advance', op: 0 }]);
      expect(done.state).toEqual(atomic.state);
      const effects = [...phased.results, ...(inFlight === 0 ? [] : done.results)].flatMap((result) => result.effects);
      expect(effects).toEqual(atomic.results[0]?.effects);
      if (iommuGroup) expect(phased.results[0]?.effects.map((effect) => effect.kind)).toEqual(['detach']);
    }
  });

  test('refusals are the atomic ones, the state unchanged', () => {
    const design = vfioDesign({ id: 'test/unset', world: 'passthrough', expected: 'holds', description: 'x' });
    const initial = design.init();
    for (const [command, errno] of [
      [{ kind: 'groupUnsetContainer', groupId: 9, phased: true }, 'EBADF'],
      // The device is open.
      [{ kind: 'groupUnsetContainer', groupId: 0, phased: true }, 'EBUSY'],
    ] as const) {
      const step = stepVfio(initial, design.config, command);
      expect(step.result.error).toBe(errno);
      expect(step.state).toBe(initial);
    }
    const out = run(design, ready(design), [{ kind: 'groupUnsetContainer', groupId: 0 }]).state;
    expect(stepVfio(out, design.config, { kind: 'groupUnsetContainer', groupId: 0, phased: true }).result.error).toBe(
      'EINVAL',
    );
  });

  test('in flight it holds the VMM and iommu->lock: MAP_DMA waits (EBUSY), the state unchanged', () => {
    const design = vfioDesign({ id: 'test/unset', world: 'passthrough', expected: 'holds', description: 'x' });
    const started = run(design, ready(design), [{ kind: 'groupUnsetContainer', groupId: 0, phased: true }]).state;
    const map: VfioCommand = { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 4, npages: 1 }) };
    const busy = stepVfio(started, design.config, map);
    expect(busy.result.error).toBe('EBUSY');
    expect(busy.state).toBe(started);
  });
});
