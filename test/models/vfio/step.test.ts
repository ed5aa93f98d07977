/**
 * The step function: it never modifies the state it is given, dispatches every command kind to
 * its operation, and answers a kind it does not know with ENOTTY (an unknown ioctl).
 */
import { describe, expect, it } from 'vitest';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import { VFIO_TYPE1v2_IOMMU } from '../../../models/vfio/container.js';
import { mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { cloneVfioState } from '../../../models/vfio/state.js';
import { applyVfioCommand, stepVfio } from '../../../models/vfio/step.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { unmapAllArgs } from '../../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../../models/vfio/views.js';
import { CCW, GROUP_A, GROUP_MDEV, LAZY, MDEV, OTHER_VM, PCI_A, RAM, config, world } from './world.js';

const script: VfioCommand[] = [
  { kind: 'groupSetContainer', groupId: GROUP_A },
  { kind: 'groupSetContainer', groupId: GROUP_MDEV },
  { kind: 'setIommu', type: VFIO_TYPE1v2_IOMMU },
  { kind: 'openDevice', deviceId: PCI_A },
  { kind: 'openDevice', deviceId: MDEV },
  { kind: 'openDevice', deviceId: CCW },
  { kind: 'mmap', vaddrPage: 100, npages: 2, writable: true },
  { kind: 'touch', vaddrPage: LAZY, write: true },
  { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 4 }) },
  { kind: 'mdevPinPages', deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: true },
  { kind: 'ccwStartIo', deviceId: CCW, program: [{ iovaPage: 1, write: true }] },
  { kind: 'deviceDma', deviceId: PCI_A, addressPage: 2, write: true },
  { kind: 'injectFault', point: 'pin', nth: 9 },
  { kind: 'ccwCompleteIo', deviceId: CCW },
  { kind: 'ccwRunIo', deviceId: CCW, program: [{ iovaPage: 3, write: false }] },
  { kind: 'mdevUnpinPages', deviceId: MDEV, iovaPage: 0, npage: 1 },
  { kind: 'clearFault' },
  { kind: 'discard', vaddrPage: RAM, npages: 2 },
  { kind: 'munmap', vaddrPage: RAM + 2, npages: 2 },
  { kind: 'unmapDma', ...unmapAllArgs() },
  { kind: 'allocateToOther', owner: OTHER_VM },
  { kind: 'releaseFromOther', mfn: 5 },
  { kind: 'closeDevice', deviceId: CCW },
  { kind: 'closeDevice', deviceId: MDEV },
  { kind: 'closeDevice', deviceId: PCI_A },
  { kind: 'groupUnsetContainer', groupId: GROUP_MDEV },
  { kind: 'groupUnsetContainer', groupId: GROUP_A },
];

describe('stepVfio', () => {
  it('runs a whole session, every step succeeding, without touching the states it was given', () => {
    let state: VfioState = world();
    for (const command of script) {
      const before = cloneVfioState(state);
      const step = stepVfio(state, config, command);
      expect(step.result.error, command.kind).toBeUndefined();
      expect(state).toEqual(before);
      state = step.state;
    }
    expect(state.container).toEqual({ groupIds: [], noiommu: false, backend: null });
    expect(state.devices.every((device) => !device.open && device.io === null)).toBe(true);
    expect(frameRefcountMismatches(state)).toEqual([]);
    expect(lockedVmAccounting(state).processPages).toBe(0);
  });

  it('answers a command kind it does not know with ENOTTY and changes nothing', () => {
    const state = world();
    const before = cloneVfioState(state);
    const result = applyVfioCommand(state, config, { kind: 'VFIO_IOMMU_GET_INFO' } as unknown as VfioCommand);
    expect(result).toEqual({ ok: false, error: 'ENOTTY', effects: [], accesses: [] });
    expect(state).toEqual(before);
  });
});
