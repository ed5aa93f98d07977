/**
 * DMA by an assigned device: through the translations VFIO programmed into its group's domain on a
 * type1 container, straight to the bus address on a noiommu container (no isolation).
 */
import { describe, expect, it } from 'vitest';
import { closeDevice, setIommu, VFIO_NOIOMMU_IOMMU } from '../../../models/vfio/container.js';
import { deviceDma } from '../../../models/vfio/device-dma.js';
import { unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { deviceReach } from '../../../models/vfio/views.js';
import {
  GROUP_A,
  GROUP_B,
  GROUP_NOIOMMU,
  MDEV,
  OTHER_MFN,
  OTHER_VM,
  PCI_A,
  PCI_B,
  PCI_NOIOMMU,
  RAM,
  VMM,
  config,
  expectOk,
  expectRefused,
  map,
  mediatedWorld,
  mfnAt,
  passthroughWorld,
  setUp,
  world,
} from './world.js';

function dma(state: VfioState, deviceId: number, addressPage: number, write: boolean) {
  const result = deviceDma(state, config, { deviceId, addressPage, write });
  expectOk(result);
  expect(result.accesses).toHaveLength(1);
  return result.accesses[0]!;
}

describe('type1: DMA through the domain', () => {
  it('lands on the pinned frame for a mapped IOVA with the right permission', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 3, npages: 1, write: false });
    expect(dma(state, PCI_A, 3, false)).toEqual({
      deviceId: PCI_A,
      addressPage: 3,
      write: false,
      outcome: 'landed',
      mfn: mfnAt(state, RAM),
      owner: VMM,
    });
  });

  it('faults for an unmapped IOVA, a write through a read-only mapping, or after the unmap', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 3, npages: 1, write: false });
    expect(dma(state, PCI_A, 4, false).outcome).toBe('fault');
    expect(dma(state, PCI_A, 3, true).outcome).toBe('fault');
    expect(dma(state, PCI_A, -1, true).outcome).toBe('fault');
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1 })));
    expect(dma(state, PCI_A, 3, false)).toMatchObject({ outcome: 'fault', mfn: null, owner: null });
  });

  it('each device translates through its own group domain; both see every mapping', () => {
    const state = setUp(world(), [GROUP_A, GROUP_B], [PCI_A, PCI_B]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expect(dma(state, PCI_B, 0, true).mfn).toBe(mfnAt(state, RAM));
    expect(deviceReach(state).map((r) => r.deviceId)).toEqual([PCI_A, PCI_B]);
  });

  it('a closed device does no DMA (ENODEV); an emulated device has none of its own (ENOTTY)', () => {
    const state = passthroughWorld();
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    expectRefused(state, 'ENODEV', (copy) =>
      deviceDma(copy, config, { deviceId: PCI_A, addressPage: 0, write: false }),
    );
    expectRefused(mediatedWorld(), 'ENOTTY', (copy) =>
      deviceDma(copy, config, { deviceId: MDEV, addressPage: 0, write: false }),
    );
  });
});

describe('noiommu: no translation, no isolation', () => {
  function noiommuWorld(): VfioState {
    return setUp(world(), [GROUP_NOIOMMU], [PCI_NOIOMMU], VFIO_NOIOMMU_IOMMU);
  }

  it('a bus address lands on that frame, even one another VM owns, or a free one', () => {
    const state = noiommuWorld();
    expect(dma(state, PCI_NOIOMMU, OTHER_MFN, true)).toMatchObject({
      outcome: 'landed',
      mfn: OTHER_MFN,
      owner: OTHER_VM,
    });
    expect(dma(state, PCI_NOIOMMU, 0, true)).toMatchObject({ outcome: 'landed', mfn: 0, owner: null });
    expect(dma(state, PCI_NOIOMMU, 16, true)).toMatchObject({ outcome: 'master-abort', mfn: null });
  });

  it('every frame is reachable by the device', () => {
    const state = noiommuWorld();
    expect(deviceReach(state)).toHaveLength(state.memory.frames.length);
  });

  it('the noiommu backend is set with its own type only', () => {
    const state = world();
    setUp(state, [GROUP_NOIOMMU], [], VFIO_NOIOMMU_IOMMU);
    expectRefused(state, 'EINVAL', (copy) => setIommu(copy, config, { type: VFIO_NOIOMMU_IOMMU }));
  });
});
