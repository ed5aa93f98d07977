/**
 * Fault injection: while armed, the nth pin (or allocation) of each operation fails with ENOMEM,
 * and the failed operation changes nothing — not the pins, charges, translations, page faults or
 * the allocator — and consumes nothing: the same operation fails the same way again.
 */
import { describe, expect, it } from 'vitest';
import { ccwStartIo } from '../../../models/vfio/ccw.js';
import { groupSetContainer, setIommu, VFIO_TYPE1v2_IOMMU } from '../../../models/vfio/container.js';
import { clearFault, injectFault } from '../../../models/vfio/fault.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import type { MapDmaRequest } from '../../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import { allocateToOther } from '../../../models/vfio/other-owner.js';
import { touchPage } from '../../../models/vfio/process-memory.js';
import type { FaultInjection, VfioState } from '../../../models/vfio/types.js';
import {
  CCW,
  GROUP_A,
  GROUP_B,
  LAZY,
  MDEV,
  OTHER_VM,
  RAM,
  backendOf,
  config,
  expectOk,
  expectRefused,
  map,
  mediatedWorld,
  passthroughWorld,
  world,
} from './world.js';

function armed(state: VfioState, fault: FaultInjection): VfioState {
  expectOk(injectFault(state, config, fault));
  return state;
}

function refuseMap(state: VfioState, request: MapDmaRequest) {
  return expectRefused(state, 'ENOMEM', (copy) => mapDma(copy, config, mapDmaArgs(request)));
}

describe('arming and disarming', () => {
  it('records the fault; refuses a bad point or count with EINVAL; clearFault disarms', () => {
    const state = world();
    armed(state, { point: 'pin', nth: 3 });
    expect(state.faultInjection).toEqual({ point: 'pin', nth: 3 });
    for (const bad of [
      { point: 'pin', nth: 0 },
      { point: 'pin', nth: 1.5 },
      { point: 'dma', nth: 1 },
    ] as const) {
      expectRefused(state, 'EINVAL', (copy) => injectFault(copy, config, bad as FaultInjection));
    }
    expectOk(clearFault(state));
    expect(state.faultInjection).toBeNull();
  });
});

describe('MAP_DMA under injected faults', () => {
  it('the nth page pin fails: ENOMEM, state unchanged, and again on a retry', () => {
    const state = armed(passthroughWorld(), { point: 'pin', nth: 3 });
    refuseMap(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
    refuseMap(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
  });

  it('an operation with fewer pins than nth is not affected', () => {
    const state = armed(passthroughWorld(), { point: 'pin', nth: 3 });
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    map(state, { vaddrPage: RAM + 2, iovaPage: 2, npages: 2 });
    expect(backendOf(state).dmas).toHaveLength(2);
  });

  it('the first allocation is the vfio_dma: ENOMEM before any pin', () => {
    refuseMap(armed(passthroughWorld(), { point: 'alloc', nth: 1 }), { vaddrPage: RAM, iovaPage: 0, npages: 1 });
  });

  it('a failed page fault (allocation 2, then 3) undoes the earlier fault-ins and pins', () => {
    refuseMap(armed(passthroughWorld(), { point: 'alloc', nth: 2 }), { vaddrPage: LAZY, iovaPage: 0, npages: 2 });
    refuseMap(armed(passthroughWorld(), { point: 'alloc', nth: 3 }), { vaddrPage: LAZY, iovaPage: 0, npages: 2 });
  });

  it('without a domain nothing is pinned, so a pin fault does not matter', () => {
    const state = armed(mediatedWorld(), { point: 'pin', nth: 1 });
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
  });
});

describe('other operations under injected faults', () => {
  it('vfio_pin_pages: a failed pin or vfio_pfn allocation undoes the pins of the same call', () => {
    const base = mediatedWorld();
    map(base, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
    const args = { deviceId: MDEV, iovaPage: 0, npage: 4, read: true, write: true };
    for (const fault of [
      { point: 'pin', nth: 4 },
      { point: 'alloc', nth: 2 },
    ] as const) {
      const state = armed(JSON.parse(JSON.stringify(base)) as VfioState, fault);
      expectRefused(state, 'ENOMEM', (copy) => mdevPinPages(copy, config, args));
    }
  });

  it('the replay of a group attach: a failed pin fails the attach, rolled back', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 3 });
    armed(state, { point: 'pin', nth: 2 });
    expectRefused(state, 'ENOMEM', (copy) => groupSetContainer(copy, config, { groupId: GROUP_A }));
  });

  it('SET_IOMMU: the vfio_iommu allocation, then a group record, then a domain', () => {
    for (const nth of [1, 2, 3]) {
      const state = world();
      expectOk(groupSetContainer(state, config, { groupId: GROUP_B }));
      armed(state, { point: 'alloc', nth });
      expectRefused(state, 'ENOMEM', (copy) => setIommu(copy, config, { type: VFIO_TYPE1v2_IOMMU }));
    }
  });

  it('a ccw start whose second page pin fails is refused whole', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
    armed(state, { point: 'pin', nth: 2 });
    const program = [
      { iovaPage: 0, write: true },
      { iovaPage: 3, write: true },
    ];
    expectRefused(state, 'ENOMEM', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program }));
  });

  it('frame allocations: a CPU fault and another owner taking a frame', () => {
    const state = armed(world(), { point: 'alloc', nth: 1 });
    expectRefused(state, 'ENOMEM', (copy) => touchPage(copy, config, { vaddrPage: LAZY, write: true }));
    expectRefused(state, 'ENOMEM', (copy) => allocateToOther(copy, config, { owner: OTHER_VM }));
  });
});
