/**
 * Container and group lifecycle (docs/reference/vfio-type1.md §1.2, §1.9, §1.10, §1.14): VFIO_SET_IOMMU, attaching
 * groups (with the replay that pins existing mappings into a first domain), detaching them
 * (reaccounting when emulated groups remain), release when the last group leaves, device fds.
 */
import { describe, expect, it } from 'vitest';
import {
  closeDevice,
  groupSetContainer,
  groupUnsetContainer,
  openDevice,
  setIommu,
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../../../models/vfio/container.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import { munmapRegion } from '../../../models/vfio/process-memory.js';
import { usableIovaRanges } from '../../../models/vfio/state.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { frameRefcountMismatches, lockedVmAccounting, translationDisagreements } from '../../../models/vfio/views.js';
import {
  APERTURE_END_PAGE,
  GROUP_A,
  GROUP_A2,
  GROUP_B,
  GROUP_MDEV,
  GROUP_NOIOMMU,
  GROUP_UNSAFE_MSI,
  MDEV,
  MSI_END_PAGE,
  MSI_START_PAGE,
  PCI_A,
  PCI_A2,
  RAM,
  backendOf,
  config,
  dmaAt,
  expectErrno,
  expectOk,
  expectRefused,
  frame,
  map,
  mediatedWorld,
  mfnAt,
  passthroughWorld,
  setUp,
  world,
  worldSpec,
} from './world.js';

function withGroup(groupId: number): VfioState {
  const state = world();
  expectOk(groupSetContainer(state, config, { groupId }));
  return state;
}

function refuseSetIommu(state: VfioState, errno: string, type: number) {
  return expectRefused(state, errno, (copy) => setIommu(copy, config, { type }));
}

function refuseAttach(state: VfioState, errno: string, groupId: number) {
  return expectRefused(state, errno, (copy) => groupSetContainer(copy, config, { groupId }));
}

describe('VFIO_SET_IOMMU', () => {
  it('refuses a container without a group with EINVAL', () => {
    refuseSetIommu(world(), 'EINVAL', VFIO_TYPE1v2_IOMMU);
  });

  it('refuses a second SET_IOMMU with EINVAL', () => {
    refuseSetIommu(passthroughWorld(), 'EINVAL', VFIO_TYPE1v2_IOMMU);
  });

  it('opens type1 for types 1 (v1), 3 (v2) and 6 (v2, nesting)', () => {
    for (const [type, v2, nesting] of [
      [VFIO_TYPE1_IOMMU, false, false],
      [VFIO_TYPE1v2_IOMMU, true, false],
      [VFIO_TYPE1_NESTING_IOMMU, true, true],
    ] as const) {
      const state = withGroup(GROUP_A);
      expectOk(setIommu(state, config, { type }));
      expect(backendOf(state)).toMatchObject({ v2, nesting, dmaAvail: 4, dmaEntryLimit: 4, domains: [{ id: 0 }] });
    }
  });

  it('refuses a type type1 claims but cannot open (VFIO_UNMAP_ALL) with EINVAL', () => {
    refuseSetIommu(withGroup(GROUP_A), 'EINVAL', VFIO_UNMAP_ALL);
  });

  it('refuses a type no allowed driver supports with ENODEV', () => {
    for (const type of [0, 2, 7, VFIO_NOIOMMU_IOMMU, 1000]) refuseSetIommu(withGroup(GROUP_A), 'ENODEV', type);
  });

  it('noiommu containers accept only VFIO_NOIOMMU_IOMMU', () => {
    refuseSetIommu(withGroup(GROUP_NOIOMMU), 'ENODEV', VFIO_TYPE1v2_IOMMU);
    const state = withGroup(GROUP_NOIOMMU);
    expectOk(setIommu(state, config, { type: VFIO_NOIOMMU_IOMMU }));
    expect(state.container.backend).toEqual({ kind: 'noiommu' });
  });

  it('fails with the attach error of a group (no interrupt remapping: EPERM) and leaves no backend', () => {
    const state = withGroup(GROUP_A);
    expectOk(groupSetContainer(state, config, { groupId: GROUP_UNSAFE_MSI }));
    refuseSetIommu(state, 'EPERM', VFIO_TYPE1v2_IOMMU);
  });

  it('accepts a group without interrupt remapping when allow_unsafe_interrupts is set', () => {
    const state = world({ params: { dmaEntryLimit: 4, allowUnsafeInterrupts: true } });
    setUp(state, [GROUP_UNSAFE_MSI]);
    expect(backendOf(state).domains).toHaveLength(1);
  });
});

describe('VFIO_GROUP_SET_CONTAINER and attach_group (§1.9)', () => {
  it('refuses a group already in the container with EINVAL, an unknown group with EBADF', () => {
    refuseAttach(passthroughWorld(), 'EINVAL', GROUP_A);
    refuseAttach(passthroughWorld(), 'EBADF', 99);
  });

  it('refuses to mix noiommu and IOMMU groups with EPERM, both ways', () => {
    refuseAttach(withGroup(GROUP_A), 'EPERM', GROUP_NOIOMMU);
    refuseAttach(withGroup(GROUP_NOIOMMU), 'EPERM', GROUP_MDEV);
  });

  it('refuses a group without interrupt remapping with EPERM', () => {
    refuseAttach(passthroughWorld(), 'EPERM', GROUP_UNSAFE_MSI);
  });

  it('refuses a group whose reserved region holds a mapping with EINVAL (before the EPERM check)', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: MSI_START_PAGE, npages: 1 });
    refuseAttach(state, 'EINVAL', GROUP_A);
    refuseAttach(state, 'EINVAL', GROUP_UNSAFE_MSI);
  });

  it('refuses a group whose aperture excludes a mapping with EINVAL once iova_list exists', () => {
    const spec = worldSpec();
    const narrow = { ...spec.groups[GROUP_B]!, apertureEndPage: 16 } as const;
    const state = setUp(world({ groups: [spec.groups[0]!, spec.groups[1]!, narrow, ...spec.groups.slice(3)] }), [
      GROUP_A,
    ]);
    map(state, { vaddrPage: RAM, iovaPage: 20, npages: 1 });
    refuseAttach(state, 'EINVAL', GROUP_B);
  });

  it('with iova_list never populated, the replay fails instead: iommu_map beyond the aperture, EFAULT', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: APERTURE_END_PAGE, npages: 1 });
    refuseAttach(state, 'EFAULT', GROUP_A);
  });

  it('narrows the usable IOVA ranges to the aperture minus the reserved regions', () => {
    const state = mediatedWorld();
    expect(usableIovaRanges(state)).toBeNull();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expect(usableIovaRanges(state)).toEqual([
      { startPage: 0, endPage: MSI_START_PAGE },
      { startPage: MSI_END_PAGE, endPage: APERTURE_END_PAGE },
    ]);
  });

  it('joins the domain of a compatible group without replaying anything', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    const before = JSON.parse(JSON.stringify(state.memory)) as unknown;
    const result = groupSetContainer(state, config, { groupId: GROUP_A2 });
    expectOk(result);
    expect(result.effects).toEqual([{ kind: 'attach', domainId: 0, groupId: GROUP_A2 }]);
    expect(backendOf(state).domains).toHaveLength(1);
    expect(state.memory).toEqual(before);
  });

  it('replays existing mappings into a new domain from the first domain, without new pins', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    const result = groupSetContainer(state, config, { groupId: GROUP_B });
    expectOk(result);
    expect(result.effects.filter((e) => e.kind === 'map')).toHaveLength(2);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(state.process.lockedVmPages).toBe(2);
    expect(translationDisagreements(state)).toEqual([]);
  });

  it('pins and charges every mapping when the first IOMMU domain arrives', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 3 });
    expect(state.process.lockedVmPages).toBe(0);
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expect(dmaAt(state, 0)).toMatchObject({ iommuMapped: true, lockedVmPages: 3 });
    expect(frame(state, mfnAt(state, RAM + 2)).refcount).toBe(2);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('does not charge again a page already charged as an external pin', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 3 });
    expectOk(mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 1, npage: 1, read: true, write: true }));
    expect(state.process.lockedVmPages).toBe(1);
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 3, perMappingPages: 3, expectedPages: 3 });
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(3);
  });

  it('fails the attach when the replay exceeds RLIMIT_MEMLOCK (ENOMEM, fully rolled back)', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 6 });
    map(state, { vaddrPage: RAM, iovaPage: 10, npages: 3 });
    refuseAttach(state, 'ENOMEM', GROUP_A);
  });

  it('fails the attach when a mapping vaddr was munmapped (EFAULT)', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expectOk(munmapRegion(state, config, { vaddrPage: RAM + 1, npages: 1 }));
    refuseAttach(state, 'EFAULT', GROUP_A);
  });
});

describe('VFIO_GROUP_UNSET_CONTAINER, detach_group and release', () => {
  it('refuses a group not in a container with EINVAL, and one with an open device with EBUSY', () => {
    const state = passthroughWorld();
    expectRefused(state, 'EINVAL', (copy) => groupUnsetContainer(copy, config, { groupId: GROUP_B }));
    expectRefused(state, 'EBUSY', (copy) => groupUnsetContainer(copy, config, { groupId: GROUP_A }));
  });

  it('the last group out releases the backend: every mapping unpinned and uncharged, domain freed', () => {
    const state = passthroughWorld();
    const initialMemory = JSON.parse(JSON.stringify(state.memory)) as unknown;
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    map(state, { vaddrPage: RAM + 2, iovaPage: 8, npages: 2 });
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    const result = groupUnsetContainer(state, config, { groupId: GROUP_A });
    expect(expectOk(result)).toEqual({ groupId: GROUP_A, released: true });
    expect(state.container).toEqual({ groupIds: [], noiommu: false, backend: null });
    expect(state.memory).toEqual(initialMemory);
    expect(state.process.lockedVmPages).toBe(0);
    expect(result.effects.slice(-2)).toEqual([
      { kind: 'iotlb-sync', domainId: 0 },
      { kind: 'domain-free', domainId: 0 },
    ]);
    expect(result.effects[0]).toEqual({ kind: 'detach', domainId: 0, groupId: GROUP_A });
  });

  it('a group leaving a shared domain changes nothing else', () => {
    const state = setUp(world(), [GROUP_A, GROUP_A2], [PCI_A]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    const before = JSON.parse(JSON.stringify(backendOf(state).dmas)) as unknown;
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A2 }));
    expect(backendOf(state).dmas).toEqual(before);
    expect(backendOf(state).domains[0]!.groupIds).toEqual([GROUP_A]);
  });

  it('the last group of one domain out of two frees that domain; mappings stay pinned once', () => {
    const state = setUp(world(), [GROUP_A, GROUP_B], [PCI_A]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_B }));
    expect(backendOf(state).domains.map((d) => d.id)).toEqual([0]);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(translationDisagreements(state)).toEqual([]);
  });

  it('the last domain out with an emulated group left: unpinned, reaccounted to the external pins, mappings kept', () => {
    const state = setUp(world(), [GROUP_A, GROUP_MDEV], [MDEV]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 3 });
    expectOk(mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 2, npage: 1, read: true, write: false }));
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
    expect(backendOf(state).domains).toEqual([]);
    expect(dmaAt(state, 0)).toMatchObject({ iommuMapped: false, lockedVmPages: 1 });
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 1, perMappingPages: 1, expectedPages: 1 });
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(1);
    expect(frame(state, mfnAt(state, RAM + 2)).refcount).toBe(2);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('the emulated group leaving while a domain remains changes no mapping', () => {
    const state = setUp(world(), [GROUP_A, GROUP_MDEV]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_MDEV }));
    expect(backendOf(state).dmas).toHaveLength(1);
    expect(backendOf(state).emulatedGroupIds).toEqual([]);
  });

  it('a new backend after release starts from dma_entry_limit again', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
    setUp(state, [GROUP_A]);
    expect(backendOf(state)).toMatchObject({ dmaAvail: 4, dmas: [] });
  });
});

describe('device fds', () => {
  it('need the group in a container with a backend (EINVAL); a second open is EBUSY; unknown is EBADF', () => {
    expectRefused(world(), 'EINVAL', (copy) => openDevice(copy, config, { deviceId: PCI_A }));
    expectRefused(withGroup(GROUP_A), 'EINVAL', (copy) => openDevice(copy, config, { deviceId: PCI_A }));
    expectRefused(passthroughWorld(), 'EINVAL', (copy) => openDevice(copy, config, { deviceId: PCI_A2 }));
    expectRefused(passthroughWorld(), 'EBUSY', (copy) => openDevice(copy, config, { deviceId: PCI_A }));
    expectRefused(passthroughWorld(), 'EBADF', (copy) => openDevice(copy, config, { deviceId: 42 }));
  });

  it('register devices with a dma_unmap op while open, and only those', () => {
    const state = setUp(world(), [GROUP_A, GROUP_MDEV], [PCI_A, MDEV]);
    expect(backendOf(state).deviceIds).toEqual([MDEV]);
    expectOk(closeDevice(state, config, { deviceId: MDEV }));
    expect(backendOf(state).deviceIds).toEqual([]);
    expectRefused(state, 'EINVAL', (copy) => closeDevice(copy, config, { deviceId: MDEV }));
  });

  it('a v1 container still registers mdev devices, but their pins are refused (EACCES)', () => {
    const state = setUp(world(), [GROUP_MDEV], [MDEV], VFIO_TYPE1_IOMMU);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectErrno(
      mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: false }),
      'EACCES',
    );
  });

  it('MAP_DMA through a container whose group left is refused (no backend: EINVAL)', () => {
    const state = passthroughWorld();
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
    expectErrno(mapDma(state, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 1 })), 'EINVAL');
  });
});
