/**
 * VFIO_SET_IOMMU with several groups (Linux v6.12 drivers/vfio/container.c `vfio_ioctl_set_iommu`,
 * `__vfio_container_attach_groups` and its `unwind:`): the container emptied (every device closed,
 * both groups out: the last one releases the backend), both groups back, and the attach of the
 * second one (the older, attached after the newest) failing on its allocation. The sound model
 * detaches the group it had attached, releases the new backend and leaves the state as it was; the
 * flawed design leaves that group attached to a domain nobody holds. In the mixed world the same
 * with the emulated group joining first.
 */
import { describe, expect, it } from 'vitest';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import { runTrace } from '../../../src/execute.js';
import { vfioSetIommuUnwindSkipsAttached } from '../../../properties/vfio/lifecycle-designs.js';
import { vfioDesign } from '../../../properties/vfio/design.js';

const reopen: VfioCommand[] = [
  { kind: 'closeDevice', deviceId: 0 },
  { kind: 'closeDevice', deviceId: 1 },
  { kind: 'closeDevice', deviceId: 2 },
  { kind: 'groupUnsetContainer', groupId: 1 },
  { kind: 'groupUnsetContainer', groupId: 0 },
  { kind: 'groupSetContainer', groupId: 1 },
  { kind: 'groupSetContainer', groupId: 0 },
];
const failing: VfioCommand[] = [
  ...reopen,
  { kind: 'injectFault', point: 'alloc', nth: 4 },
  { kind: 'setIommu', type: 3 },
];

// Two IOMMU groups of different domain classes, one vfio-pci device each.
const twoDomains: VfioCommand[] = [
  { kind: 'closeDevice', deviceId: 0 },
  { kind: 'closeDevice', deviceId: 1 },
  { kind: 'groupUnsetContainer', groupId: 0 },
  { kind: 'groupUnsetContainer', groupId: 1 },
  { kind: 'groupSetContainer', groupId: 1 },
  { kind: 'groupSetContainer', groupId: 0 },
  { kind: 'injectFault', point: 'alloc', nth: 4 },
  { kind: 'setIommu', type: 3 },
];

describe('VFIO_SET_IOMMU with several groups', () => {
  const sound = vfioDesign({ id: 'sound', world: 'mixed', expected: 'holds', description: 'v6.12' });
  const soundTwo = vfioDesign({
    id: 'sound-two',
    world: { groups: [{ kind: 'iommu' }, { kind: 'iommu', domainClass: 1 }] },
    expected: 'holds',
    description: 'v6.12',
  });

  it('attaches every group that came back and opens the devices again', () => {
    const run = runTrace(sound, [...reopen, { kind: 'setIommu', type: 3 }, { kind: 'openDevice', deviceId: 0 }]);
    expect(run.violations).toEqual([]);
    expect(run.steps.map((step) => step.result.ok)).toEqual([true, true, true, true, true, true, true, true, true]);
  });

  it('unwinds a later attach that fails: ENOMEM, the state as it was', () => {
    for (const [design, trace] of [
      [sound, failing],
      [soundTwo, twoDomains],
    ] as const) {
      const run = runTrace(design, trace);
      expect(run.violations).toEqual([]);
      expect(run.steps.at(-1)?.result).toMatchObject({ ok: false, error: 'ENOMEM' });
    }
  });

  it('without the unwind and the release detaching, the group attached first stays attached', () => {
    const run = runTrace(vfioSetIommuUnwindSkipsAttached, twoDomains, { stopAtFirst: false });
    expect(run.violations.map((found) => found.invariant).sort()).toEqual(
      [...vfioSetIommuUnwindSkipsAttached.breaks].sort(),
    );
  });
});
