/**
 * Error unwinding and reconfiguration, pinned against Linux v6.12 drivers/vfio/vfio_iommu_type1.c:
 * a MAP_DMA that fails part-way (vfio_pin_map_dma → vfio_remove_dma), a vfio_pin_pages that fails
 * on a later page (pin_unwind), a group attach whose replay fails (vfio_iommu_replay's unwind,
 * attach_group's out_detach), the last IOMMU group leaving emulated groups behind
 * (vfio_iommu_unmap_unpin_reaccount), and a container re-opened after its last group left. The
 * sound model walks each failure back to exactly the state before; each bug hook leaves the step it
 * forgets visible.
 */
import { describe, expect, it } from 'vitest';
import type { VfioBug, VfioConfig } from '../../../models/vfio/config.js';
import {
  closeDevice,
  groupSetContainer,
  groupUnsetContainer,
  openDevice,
  setIommu,
  VFIO_TYPE1v2_IOMMU,
} from '../../../models/vfio/container.js';
import { injectFault } from '../../../models/vfio/fault.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import { cloneVfioState } from '../../../models/vfio/state.js';
import { stepVfio } from '../../../models/vfio/step.js';
import type { FaultInjection, VfioState } from '../../../models/vfio/types.js';
import { frameRefcountMismatches, lockedVmAccounting, translationDisagreements } from '../../../models/vfio/views.js';
import {
  GROUP_A,
  GROUP_B,
  GROUP_MDEV,
  MDEV,
  PCI_A,
  PCI_B,
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
} from './world.js';

function withBug(bug: VfioBug): VfioConfig {
  return { bugs: [bug] };
}

function arm(state: VfioState, fault: FaultInjection): VfioState {
  expectOk(injectFault(state, config, fault));
  return state;
}

/** An IOMMU group and the emulated group in one container, both devices open, v2. */
function mixedWorld(): VfioState {
  return setUp(world(), [GROUP_A, GROUP_MDEV], [PCI_A, MDEV]);
}

/** The mixed world after its IOMMU group left with two one-page mappings kept (at iova 0 and 1). */
function iommuGroupGone(): VfioState {
  const state = mixedWorld();
  map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
  map(state, { vaddrPage: RAM + 1, iovaPage: 1, npages: 1 });
  expectOk(closeDevice(state, config, { deviceId: PCI_A }));
  expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
  return state;
}

describe('MAP_DMA that fails part-way (vfio_pin_map_dma → vfio_remove_dma)', () => {
  it('a failed iommu_map of the second page: the first is unmapped, unpinned, uncharged, the slot given back', () => {
    const state = arm(passthroughWorld(), { point: 'map', nth: 2 });
    const result = expectRefused(state, 'ENOMEM', (copy) =>
      mapDma(copy, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 2 })),
    );
    expect(result.detail).toMatchObject({ unwound: true });
  });

  it('a failed iommu_map into the second domain unmaps the page from the first domain too', () => {
    const state = arm(setUp(world(), [GROUP_A, GROUP_B], [PCI_A, PCI_B]), { point: 'map', nth: 2 });
    expect(backendOf(state).domains).toHaveLength(2);
    expectRefused(state, 'ENOMEM', (copy) =>
      mapDma(copy, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 1 })),
    );
  });

  it('RLIMIT_MEMLOCK on the third page: the two before go back (ENOMEM)', () => {
    const state = passthroughWorld();
    // RLIMIT_MEMLOCK is 8 pages: 6 charged first, then a request for 3.
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 3 });
    map(state, { vaddrPage: RAM + 3, iovaPage: 3, npages: 3 });
    expectRefused(state, 'ENOMEM', (copy) =>
      mapDma(copy, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 8, npages: 3 })),
    );
  });

  it('map-unwind-skips-uncharge: the pages go back, their locked_vm charge stays', () => {
    const state = arm(passthroughWorld(), { point: 'map', nth: 2 });
    const before = cloneVfioState(state);
    const bug = withBug('map-unwind-skips-uncharge');
    const result = mapDma(state, bug, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 2 }));
    expectErrno(result, 'ENOMEM');
    expect(backendOf(state).dmas).toEqual([]);
    expect(backendOf(state).dmaAvail).toBe(backendOf(before).dmaAvail);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(1);
    expect(state.process.lockedVmPages).toBe(before.process.lockedVmPages + 1);
    expect(lockedVmAccounting(state).expectedPages).toBe(0);
  });

  it('map-failure-leaks-pins: the mapping goes, the pin of the page mapped before stays', () => {
    const state = arm(passthroughWorld(), { point: 'map', nth: 2 });
    const result = mapDma(
      state,
      withBug('map-failure-leaks-pins'),
      mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 2 }),
    );
    expectErrno(result, 'ENOMEM');
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(frameRefcountMismatches(state).map((mismatch) => mismatch.mfn)).toEqual([mfnAt(state, RAM)]);
  });
});

describe('vfio_pin_pages that fails on a later page (pin_unwind)', () => {
  it('the second page is not mapped: EINVAL, the first page pinned by this call is released', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectRefused(state, 'EINVAL', (copy) =>
      mdevPinPages(copy, config, { deviceId: MDEV, iovaPage: 0, npage: 2, read: true, write: true }),
    );
  });

  it('a page pinned before the call only counts down: its vfio_pfn keeps the earlier reference', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: true }));
    expectRefused(state, 'EINVAL', (copy) =>
      mdevPinPages(copy, config, { deviceId: MDEV, iovaPage: 0, npage: 2, read: true, write: true }),
    );
    expect(dmaAt(state, 0).externalPins[0]?.refCount).toBe(1);
  });

  it('pin-pages-unwind-skips-earlier: the first page keeps a vfio_pfn no driver records', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    const bug = withBug('pin-pages-unwind-skips-earlier');
    const result = mdevPinPages(state, bug, { deviceId: MDEV, iovaPage: 0, npage: 2, read: true, write: true });
    expectErrno(result, 'EINVAL');
    expect(dmaAt(state, 0).externalPins[0]).toEqual({ mfn: mfnAt(state, RAM), refCount: 1 });
    expect(state.devices[MDEV]?.pins).toEqual({});
    // Unchanged would be the sound answer: the step is kept as the broken unwind left it.
    expect(result.effects).toEqual([]);
  });
});

describe('the last IOMMU group leaves emulated groups behind (vfio_iommu_unmap_unpin_reaccount)', () => {
  it('the mappings stay, no longer iommu_mapped; the IOMMU-path pins and charges go', () => {
    const state = iommuGroupGone();
    const backend = backendOf(state);
    expect(backend.domains).toEqual([]);
    expect(backend.dmas.map((dma) => dma.iommuMapped)).toEqual([false, false]);
    expect(state.process.lockedVmPages).toBe(0);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(1);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('detach-keeps-pins: the charge goes, the pins stay', () => {
    const state = mixedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    const bug = withBug('detach-keeps-pins');
    expectOk(closeDevice(state, bug, { deviceId: PCI_A }));
    expectOk(groupUnsetContainer(state, bug, { groupId: GROUP_A }));
    expect(state.process.lockedVmPages).toBe(0);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(frameRefcountMismatches(state)).toHaveLength(1);
  });
});

describe('a group attached to a container with mappings (vfio_iommu_replay)', () => {
  it('the first domain: every mapping pinned, charged and mapped into it', () => {
    const state = iommuGroupGone();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    const backend = backendOf(state);
    expect(backend.domains).toHaveLength(1);
    expect(backend.dmas.map((dma) => dma.iommuMapped)).toEqual([true, true]);
    expect(Object.keys(backend.domains[0]!.translations)).toEqual(['0', '1']);
    expect(state.process.lockedVmPages).toBe(2);
    expect(translationDisagreements(state)).toEqual([]);
  });

  it('a second domain: the first domain’s translations replayed, nothing pinned again', () => {
    const state = mixedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expectOk(groupSetContainer(state, config, { groupId: GROUP_B }));
    const [first, second] = backendOf(state).domains;
    expect(second?.translations).toEqual(first?.translations);
    expect(state.process.lockedVmPages).toBe(2);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('the second mapping cannot be pinned: the first is unmapped from the new domain and unpinned, the attach fails with the pin’s errno', () => {
    const state = arm(iommuGroupGone(), { point: 'pin', nth: 2 });
    const result = expectRefused(state, 'ENOMEM', (copy) => groupSetContainer(copy, config, { groupId: GROUP_A }));
    expect(result.detail).toMatchObject({ unwound: true });
  });

  it('a munmapped vaddr refuses the attach with EFAULT, unwound', () => {
    const unmapped = stepVfio(iommuGroupGone(), config, { kind: 'munmap', vaddrPage: RAM + 1, npages: 1 });
    expectOk(unmapped.result);
    expectRefused(unmapped.state, 'EFAULT', (copy) => groupSetContainer(copy, config, { groupId: GROUP_A }));
  });

  it('replay-skips-unwind (before aae7a75a821a): the first mapping stays pinned, charged and iommu_mapped without a domain', () => {
    const state = arm(iommuGroupGone(), { point: 'pin', nth: 2 });
    const bug = withBug('replay-skips-unwind');
    expectErrno(groupSetContainer(state, bug, { groupId: GROUP_A }), 'ENOMEM');
    const backend = backendOf(state);
    expect(backend.domains).toEqual([]);
    expect(backend.dmas.map((dma) => dma.iommuMapped)).toEqual([true, false]);
    expect(state.process.lockedVmPages).toBe(1);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(translationDisagreements(state)[0]?.problem).toBe('iommu_mapped without a domain');
  });

  it('attach-skips-replay: the new domain translates none of the mappings', () => {
    const state = iommuGroupGone();
    expectOk(groupSetContainer(state, withBug('attach-skips-replay'), { groupId: GROUP_A }));
    expect(backendOf(state).domains[0]?.translations).toEqual({});
    expect(translationDisagreements(state).map((problem) => problem.problem)).toEqual([
      'mapping not iommu_mapped',
      'mapping not iommu_mapped',
    ]);
  });
});

describe('a container re-used after its last group left (VFIO_SET_IOMMU again)', () => {
  it('release removes every mapping; the group back, SET_IOMMU opens a fresh backend with every slot', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    const unset = expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
    expect(unset).toMatchObject({ released: true });
    expect(state.container.backend).toBeNull();
    expect(state.process.lockedVmPages).toBe(0);
    expectErrno(setIommu(cloneVfioState(state), config, { type: VFIO_TYPE1v2_IOMMU }), 'EINVAL');
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expectErrno(openDevice(cloneVfioState(state), config, { deviceId: PCI_A }), 'EINVAL');
    expectOk(setIommu(state, config, { type: VFIO_TYPE1v2_IOMMU }));
    expect(backendOf(state)).toMatchObject({ dmas: [], dmaAvail: 4, domains: [{ id: 0, groupIds: [GROUP_A] }] });
    expectOk(openDevice(state, config, { deviceId: PCI_A }));
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expect(state.process.lockedVmPages).toBe(2);
  });
});
