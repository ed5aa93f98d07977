/**
 * The VMM's VM_PFNMAP memory against Linux v6.12 (docs/reference/vfio-type1.md §1.18;
 * vfio_iommu_type1.c vaddr_get_pfns, follow_fault_pfn, is_invalid_reserved_pfn, put_pfn,
 * vfio_pin_pages_remote): a BAR's pfns are mapped without a pin or a charge and unmapped without
 * a put; RAM behind a VM_PFNMAP VMA and a write mapping of a read-only one are EFAULT; munmap puts
 * nothing and MADV_DONTNEED is EINVAL; the hooks change exactly those decisions.
 */
import { describe, expect, test } from 'vitest';
import type { VfioConfig } from '../../models/vfio/config.js';
import { deviceDma } from '../../models/vfio/device-dma.js';
import { mapDma, mapDmaArgs } from '../../models/vfio/map-dma.js';
import { discardRange, munmapRegion } from '../../models/vfio/process-memory.js';
import type { VfioState } from '../../models/vfio/types.js';
import { unmapDma, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../models/vfio/views.js';
import { vfioPfnmapCharged, vfioPfnmapRamUnpinned } from '../../properties/vfio/memory-designs.js';
import {
  GROUP_A,
  PCI_A,
  RAM,
  config,
  expectErrno,
  expectOk,
  expectRefused,
  setUp,
  world,
  worldSpec,
} from '../models/vfio/world.js';

const BAR = 64;
const BAR_RO = 68;
const BUFFER = 72;
const BAR_PFN = 0xf0000;
const HOST_DRIVER = 3;

/** Group A with its device open, a writable 2-page BAR, a read-only BAR page and a driver's 1-page buffer. */
function pfnmapWorld(): VfioState {
  const spec = worldSpec();
  const state = world({
    process: {
      ...spec.process,
      regions: [
        ...spec.process.regions,
        { vaddrPage: BAR, npages: 2, writable: true, populate: false, pfnmapBasePfn: BAR_PFN },
        { vaddrPage: BAR_RO, npages: 1, writable: false, populate: false, pfnmapBasePfn: BAR_PFN + 8 },
        { vaddrPage: BUFFER, npages: 1, writable: true, populate: false, pfnmapOwner: HOST_DRIVER },
      ],
    },
  });
  return setUp(state, [GROUP_A], [PCI_A]);
}

function map(state: VfioState, vaddrPage: number, iovaPage: number, npages: number, withConfig: VfioConfig = config) {
  return mapDma(state, withConfig, mapDmaArgs({ vaddrPage, iovaPage, npages }));
}

function backend(state: VfioState) {
  const found = state.container.backend;
  if (found?.kind !== 'type1') throw new Error('no type1 backend');
  return found;
}

describe('MAP_DMA of VM_PFNMAP memory', () => {
  test('a BAR: its pfns mapped, nothing pinned, nothing charged', () => {
    const state = pfnmapWorld();
    const refcounts = state.memory.frames.map((frame) => frame.refcount);
    expectOk(map(state, BAR, 0, 2));
    expect(backend(state).domains[0]?.translations[0]?.mfn).toBe(BAR_PFN);
    expect(backend(state).domains[0]?.translations[1]?.mfn).toBe(BAR_PFN + 1);
    expect(state.memory.frames.map((frame) => frame.refcount)).toEqual(refcounts);
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
    expect(lockedVmAccounting(state).expectedPages).toBe(0);
  });
  test('RAM and a BAR page in one mapping: only the RAM page is pinned and charged', () => {
    const state = pfnmapWorld();
    expectOk(map(state, RAM, 0, 1));
    expectOk(map(state, BAR, 1, 1));
    expect(state.process.lockedVmPages).toBe(1);
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 1, expectedPages: 1 });
  });
  test('host RAM behind a VM_PFNMAP VMA: EFAULT (is_invalid_reserved_pfn is false), nothing changed', () => {
    expectRefused(pfnmapWorld(), 'EFAULT', (copy) => map(copy, BUFFER, 0, 1));
  });
  test('a write mapping of a read-only VM_PFNMAP PTE: EFAULT (follow_fault_pfn)', () => {
    expectRefused(pfnmapWorld(), 'EFAULT', (copy) => map(copy, BAR_RO, 0, 1));
    const state = pfnmapWorld();
    expectOk(mapDma(state, config, mapDmaArgs({ vaddrPage: BAR_RO, iovaPage: 0, npages: 1, write: false })));
  });
  test('UNMAP_DMA puts no page for a BAR pfn and uncharges nothing', () => {
    const state = pfnmapWorld();
    expectOk(map(state, BAR, 0, 2));
    const refcounts = state.memory.frames.map((frame) => frame.refcount);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
    expect(state.memory.frames.map((frame) => frame.refcount)).toEqual(refcounts);
    expect(state.process.lockedVmPages).toBe(0);
    expect(backend(state).dmaAvail).toBe(4);
  });
  test("the device's DMA through a BAR mapping lands in the peer BAR, the guest's own device memory", () => {
    const state = pfnmapWorld();
    expectOk(map(state, BAR, 0, 1));
    const access = expectOk(deviceDma(state, config, { deviceId: PCI_A, addressPage: 0, write: true }));
    expect(access).toMatchObject({ outcome: 'landed', mfn: BAR_PFN, owner: state.process.owner });
  });
});

describe('the VMM and its VM_PFNMAP VMAs', () => {
  test('munmap of a VM_PFNMAP VMA puts nothing (its PTEs held no reference)', () => {
    const state = pfnmapWorld();
    const [buffer] = state.otherAllocations.filter((allocation) => allocation.owner === HOST_DRIVER);
    expect(buffer).toBeDefined();
    expect(expectOk(munmapRegion(state, config, { vaddrPage: BUFFER, npages: 1 }))['freedFrames']).toBe(0);
    expect(state.memory.frames[buffer?.mfn ?? -1]).toMatchObject({ owner: HOST_DRIVER, refcount: 1 });
    expect(frameRefcountMismatches(state)).toEqual([]);
  });
  test('MADV_DONTNEED on a VM_PFNMAP VMA: EINVAL', () => {
    expectRefused(pfnmapWorld(), 'EINVAL', (copy) => discardRange(copy, config, { vaddrPage: BAR, npages: 1 }));
  });
});

describe('the hooks', () => {
  test('pfnmapPfnAccepted: the flawed design maps the driver’s RAM without a pin', () => {
    const state = pfnmapWorld();
    expectOk(map(state, BUFFER, 0, 1, vfioPfnmapRamUnpinned.config));
    const mfn = backend(state).domains[0]?.translations[0]?.mfn ?? -1;
    expect(state.memory.frames[mfn]?.owner).toBe(HOST_DRIVER);
    expect(frameRefcountMismatches(state).map((mismatch) => mismatch.mfn)).toEqual([mfn]);
  });
  test('chargesPfn: the flawed design charges a BAR page that no unmap uncharges', () => {
    const state = pfnmapWorld();
    expectOk(map(state, BAR, 0, 1, vfioPfnmapCharged.config));
    expect(state.process.lockedVmPages).toBe(1);
    expectOk(unmapDma(state, vfioPfnmapCharged.config, unmapDmaArgs({ iovaPage: 0, npages: 1 })));
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 1, expectedPages: 0 });
  });
  test('the sound model refuses the driver’s RAM where the flawed one maps it', () => {
    const state = pfnmapWorld();
    expectErrno(map(state, BUFFER, 0, 1), 'EFAULT');
    expectOk(map(state, BUFFER, 0, 1, vfioPfnmapRamUnpinned.config));
  });
});
