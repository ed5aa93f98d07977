/**
 * Worlds as data: a preset or a described container is laid out (group and device ids) and set up
 * as a VMM does; a world the model cannot build, or one VFIO refuses, throws an Error saying why;
 * and a described world is exercised as the presets are: a default run of each stack executes
 * every command kind (the statistics test covers the registered designs, `vfio/mixed` among them;
 * here, VFIO over VT-d in a described world of two IOMMU domains and an emulated group).
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, passthroughDesign, vfioDesign, vfioWorldLayout } from '../../src/index.js';
import type { VfioWorld } from '../../src/index.js';
import { DEFAULT_RUNS } from '../../src/cli.js';
import { neverExecuted } from '../../src/stats.js';
import { DEEP } from '../helpers.js';

describe('world layouts', () => {
  test('mixed: an IOMMU group with a vfio-pci device, an emulated group with an mdev and a ccw device', () => {
    const layout = vfioWorldLayout('mixed');
    expect(layout.groups.map((group) => group.kind)).toEqual(['iommu', 'emulated']);
    expect(layout.devices).toEqual([
      { groupId: 0, kind: 'pci' },
      { groupId: 1, kind: 'mdev' },
      { groupId: 1, kind: 'ccw' },
    ]);
    expect([layout.pciDevices, layout.mdevDevices, layout.ccwDevices]).toEqual([[0], [1], [2]]);
    expect([
      layout.frames,
      layout.ramPages,
      layout.memlockLimitPages,
      layout.dmaEntryLimit,
      layout.otherVmFrames,
    ]).toEqual([16, 8, 6, 4, 1]);
  });

  test('the mixed world starts with one IOMMU domain, the emulated group recorded, its drivers registered', () => {
    const design = vfioDesign({ id: 'test/mixed', world: 'mixed', expected: 'holds', description: 'x' });
    const state = design.init();
    const backend = state.container.backend;
    if (backend?.kind !== 'type1') throw new Error('no type1 backend');
    expect(state.container.groupIds).toEqual([0, 1]);
    expect(backend.domains.map((domain) => domain.groupIds)).toEqual([[0]]);
    expect(backend.emulatedGroupIds).toEqual([1]);
    expect(backend.deviceIds).toEqual([1, 2]);
    expect(state.devices.every((device) => device.open)).toBe(true);
    expect(design.stack).toBe('mixed');
  });

  test('sizes are parameters: frames, RAM, limits, the other VM', () => {
    const design = vfioDesign({
      id: 'test/sized',
      world: {
        groups: [{ kind: 'iommu', pci: 2 }],
        frames: 24,
        ramPages: 4,
        memlockLimitPages: 3,
        dmaEntryLimit: 2,
        otherVmFrames: 3,
      },
      expected: 'holds',
      description: 'x',
    });
    const state = design.init();
    expect(state.memory.frames).toHaveLength(24);
    expect(Object.values(state.process.pages).filter((page) => page.mfn !== null)).toHaveLength(4);
    expect(state.process.memlockLimitPages).toBe(3);
    expect(state.params.dmaEntryLimit).toBe(2);
    expect(state.otherAllocations).toHaveLength(3);
    expect(state.devices.map((device) => [device.id, device.groupId, device.kind])).toEqual([
      [0, 0, 'pci'],
      [1, 0, 'pci'],
    ]);
  });

  test.for<[string, VfioWorld, string]>([
    ['an unknown preset', 'bare' as VfioWorld, "unknown preset 'bare'"],
    ['no group', { groups: [] }, 'a container needs at least one group'],
    [
      'a noiommu group next to an IOMMU group',
      { groups: [{ kind: 'noiommu' }, { kind: 'iommu' }] },
      'a VFIO_NO_IOMMU group cannot share a container with IOMMU-backed or emulated groups (VFIO_GROUP_SET_CONTAINER refuses it, EPERM)',
    ],
    [
      'an emulated group without devices',
      { groups: [{ kind: 'emulated', mdev: 0, ccw: 0 }] },
      'needs an mdev or a ccw device',
    ],
    [
      'no free frame',
      { groups: [{ kind: 'iommu' }], frames: 9 },
      '9 frames hold the 8 RAM pages and 1 frames of the other VM',
    ],
    ['a fractional size', { groups: [{ kind: 'iommu' }], ramPages: 2.5 }, 'ramPages must be a whole number'],
    ['five groups', { groups: Array(5).fill({ kind: 'iommu' }) }, 'at most 4 groups'],
  ])('refuses %s', ([, world, why]) => {
    expect(() => vfioWorldLayout(world)).toThrow(why);
    expect(() => vfioDesign({ id: 'test/bad', world, expected: 'holds', description: 'x' })).toThrow(why);
  });
});

describe('a described world is exercised: every command kind executes over a default run', () => {
  test('VFIO over VT-d with two IOMMU domains and an emulated group (mdev, ccw) in one container', () => {
    const design = passthroughDesign({
      id: 'test/two-domains-and-mdev',
      mode: 'strict',
      world: {
        groups: [
          { kind: 'iommu', pci: 1 },
          { kind: 'iommu', pci: 1, domainClass: 1 },
          { kind: 'emulated', mdev: 1, ccw: 1 },
        ],
        ramPages: 6,
        memlockLimitPages: 8,
      },
      expected: 'holds',
      description: 'x',
    });
    // 300 runs execute every kind here (1.5 s); the deeper tier runs the default budget (5 s).
    const check = checkDesign(design, { seed: 1, runs: DEEP ? DEFAULT_RUNS : 300, report: [] });
    expect(check.verdict).toBe('holds');
    expect(neverExecuted(check.stats, design.commands.kinds)).toEqual([]);
    expect(design.commands.kinds).toEqual(expect.arrayContaining(['deviceDma', 'mdevPinPages', 'ccwStartIo']));
  });
});
