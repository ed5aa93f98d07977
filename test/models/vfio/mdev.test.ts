/**
 * Emulated-IOMMU devices (docs/reference/vfio-type1.md §1.11, §1.8, §1.4 step 9): vfio_pin_pages /
 * vfio_unpin_pages with their errors in order, the external-pin records and their accounting,
 * and the dma_unmap callback contract (an unmap of a range with external pins asks the drivers to
 * unpin first; a driver that ignores it makes the kernel BUG_ON).
 */
import { describe, expect, it } from 'vitest';
import { closeDevice, groupSetContainer, VFIO_TYPE1_IOMMU } from '../../../models/vfio/container.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { ccwStartIo } from '../../../models/vfio/ccw.js';
import { mdevPinPages, mdevUnpinPages } from '../../../models/vfio/mdev.js';
import type { MdevPinArgs } from '../../../models/vfio/mdev.js';
import { unmapAllArgs, unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import type { VfioConfig } from '../../../models/vfio/config.js';
import type { VfioState } from '../../../models/vfio/types.js';
import {
  externalPinsByMapping,
  frameRefcountMismatches,
  kernelCrash,
  lockedVmAccounting,
} from '../../../models/vfio/views.js';
import {
  CCW,
  GROUP_A,
  MDEV,
  PCI_A,
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
  setUp,
  world,
} from './world.js';
import { GROUP_MDEV } from './world.js';

const ignoresUnmap: VfioConfig = { bugs: ['mdev-ignores-unmap'] };

function pinArgs(overrides: Partial<MdevPinArgs> = {}): MdevPinArgs {
  return { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: true, ...overrides };
}

function refusePin(state: VfioState, errno: string, overrides: Partial<MdevPinArgs> = {}) {
  return expectRefused(state, errno, (copy) => mdevPinPages(copy, config, pinArgs(overrides)));
}

function pin(state: VfioState, overrides: Partial<MdevPinArgs> = {}, bugs: VfioConfig = config) {
  return expectOk(mdevPinPages(state, bugs, pinArgs(overrides)));
}

/** Mediated world with mapping [0, 4) from RAM (read/write) and [8, 9) read-only from RAM + 4. */
function mappedMediated(): VfioState {
  const state = mediatedWorld();
  map(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
  map(state, { vaddrPage: RAM + 4, iovaPage: 8, npages: 1, write: false });
  return state;
}

describe('vfio_pin_pages refusals, in order', () => {
  it('npage 0 (or negative): EINVAL', () => {
    refusePin(mappedMediated(), 'EINVAL', { npage: 0 });
    refusePin(mappedMediated(), 'EINVAL', { npage: -1 });
  });

  it('device not open: EINVAL', () => {
    const state = mappedMediated();
    expectOk(closeDevice(state, config, { deviceId: MDEV }));
    refusePin(state, 'EINVAL');
  });

  it('a device without a dma_unmap op (vfio-pci): EINVAL, before the E2BIG check', () => {
    const state = setUp(world(), [GROUP_A, GROUP_MDEV], [PCI_A, MDEV]);
    refusePin(state, 'EINVAL', { deviceId: PCI_A });
    refusePin(state, 'EINVAL', { deviceId: PCI_A, npage: 600 });
  });

  it('npage > VFIO_PIN_PAGES_MAX_ENTRIES (512): E2BIG, before the v1 check', () => {
    refusePin(mappedMediated(), 'E2BIG', { npage: 513 });
    const v1 = setUp(world(), [GROUP_MDEV], [MDEV], VFIO_TYPE1_IOMMU);
    refusePin(v1, 'E2BIG', { npage: 513 });
  });

  it('a v1 container: EACCES, before the IOVA lookup', () => {
    const state = setUp(world(), [GROUP_MDEV], [MDEV], VFIO_TYPE1_IOMMU);
    refusePin(state, 'EACCES', { iovaPage: 12345 });
  });

  it('a vaddr invalidated (UPDATE_VADDR in progress): EBUSY, before the IOVA lookup', () => {
    // Not reachable through commands (VADDR unmap is refused while emulated groups exist); set by hand.
    const state = mappedMediated();
    backendOf(state).vaddrInvalidCount = 1;
    refusePin(state, 'EBUSY', { iovaPage: 12345 });
  });

  it('no registered device with a dma_unmap op in the container: EINVAL, before the IOVA lookup', () => {
    // Not reachable through commands (the calling device registers when it opens); set by hand.
    const state = mappedMediated();
    backendOf(state).deviceIds = [];
    refusePin(state, 'EINVAL', { iovaPage: 0 });
  });

  it('an IOVA no mapping contains: EINVAL; at a later page, the earlier pins are undone', () => {
    refusePin(mappedMediated(), 'EINVAL', { iovaPage: 5 });
    refusePin(mappedMediated(), 'EINVAL', { iovaPage: 2, npage: 3 });
    refusePin(mappedMediated(), 'EINVAL', { iovaPage: 2 ** 52 - 1, npage: 2 });
  });

  it('prot beyond the mapping prot: EPERM', () => {
    refusePin(mappedMediated(), 'EPERM', { iovaPage: 8 });
    pin(mappedMediated(), { iovaPage: 8, write: false });
  });

  it('an unknown device: EBADF', () => {
    refusePin(mappedMediated(), 'EBADF', { deviceId: 77 });
  });
});

describe('external pins without an IOMMU domain (charged to locked_vm)', () => {
  it('the first pin of an IOVA pins the page and charges it; later pins only count', () => {
    const state = mappedMediated();
    const mfn = mfnAt(state, RAM + 1);
    expect(pin(state, { iovaPage: 1 })).toEqual({ npage: 1, firstMfn: mfn });
    pin(state, { iovaPage: 1 });
    expect(dmaAt(state, 0).externalPins).toEqual({ 1: { mfn, refCount: 2 } });
    expect(frame(state, mfn).refcount).toBe(2);
    expect(state.process.lockedVmPages).toBe(1);
    expect(state.devices[MDEV]!.pins).toEqual({ 1: 2 });
  });

  // vfio_unpin_pages itself, as a driver that unpins whole ranges calls it.
  const rangeDriver = { bugs: ['mdev-unpins-foreign-pins' as const] };

  it('the last unpin unpins and uncharges; an unpinned IOVA is a silent no-op', () => {
    const state = mappedMediated();
    const mfn = mfnAt(state, RAM + 1);
    pin(state, { iovaPage: 1 });
    pin(state, { iovaPage: 1 });
    expect(expectOk(mdevUnpinPages(state, rangeDriver, { deviceId: MDEV, iovaPage: 0, npage: 2 }))).toEqual({
      processed: 2,
      warn: false,
    });
    expect(dmaAt(state, 0).externalPins).toEqual({ 1: { mfn, refCount: 1 } });
    expectOk(mdevUnpinPages(state, config, { deviceId: MDEV, iovaPage: 1, npage: 1 }));
    expect(dmaAt(state, 0).externalPins).toEqual({});
    expect(frame(state, mfn).refcount).toBe(1);
    expect(state.process.lockedVmPages).toBe(0);
    expect(state.devices[MDEV]!.pins).toEqual({});
  });

  it('unpin stops at the first unmapped IOVA (WARN: fewer processed)', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 3 });
    expect(expectOk(mdevUnpinPages(state, rangeDriver, { deviceId: MDEV, iovaPage: 3, npage: 3 }))).toEqual({
      processed: 1,
      warn: true,
    });
    expect(dmaAt(state, 0).externalPins).toEqual({});
  });

  it('a correct driver releases only its own pins: another driver’s pin on the same IOVA stays', () => {
    const state = mappedMediated();
    const mfn = mfnAt(state, RAM + 1);
    expectOk(ccwStartIo(state, config, { deviceId: CCW, program: [{ iovaPage: 1, write: false }] }));
    expect(expectOk(mdevUnpinPages(state, config, { deviceId: MDEV, iovaPage: 0, npage: 2 }))).toEqual({
      processed: 0,
      warn: false,
    });
    expect(dmaAt(state, 0).externalPins).toEqual({ 1: { mfn, refCount: 1 } });
    // The range-unpinning driver drops the ccw device's pin from under it.
    expectOk(mdevUnpinPages(state, rangeDriver, { deviceId: MDEV, iovaPage: 0, npage: 2 }));
    expect(dmaAt(state, 0).externalPins).toEqual({});
    expect(state.devices[CCW]!.io).not.toBeNull();
  });

  it('unpin with npage out of range or a closed device is a WARN with no effect (EINVAL)', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 0 });
    for (const npage of [0, -3, 513]) {
      expectRefused(state, 'EINVAL', (copy) => mdevUnpinPages(copy, config, { deviceId: MDEV, iovaPage: 0, npage }));
    }
    expectRefused(state, 'EINVAL', (copy) => mdevUnpinPages(copy, config, { deviceId: 6, iovaPage: 0, npage: 1 }));
  });

  it('a pin beyond RLIMIT_MEMLOCK: ENOMEM, and the pins of the same call are undone', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 8 });
    map(state, { vaddrPage: 32, iovaPage: 8, npages: 2, write: false });
    pin(state, { iovaPage: 0, npage: 7 });
    expectRefused(state, 'ENOMEM', (copy) =>
      mdevPinPages(copy, config, pinArgs({ iovaPage: 7, npage: 3, write: false })),
    );
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 7, expectedPages: 7 });
  });

  it('pins the frame the vaddr maps at pin time (fault-in included), through the mapping vaddr', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: 40, iovaPage: 100, npages: 2 });
    const detail = pin(state, { iovaPage: 101 });
    expect(detail.firstMfn).toBe(mfnAt(state, 41));
    expect(frame(state, mfnAt(state, 41))).toMatchObject({ owner: 1, refcount: 2 });
  });
});

describe('external pins with an IOMMU domain', () => {
  it('are not charged (the IOMMU pin already is) but hold their own pin reference', () => {
    const state = setUp(world(), [GROUP_A, GROUP_MDEV], [MDEV]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    pin(state, { iovaPage: 1 });
    expect(state.process.lockedVmPages).toBe(2);
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(3);
    expectOk(mdevUnpinPages(state, config, { deviceId: MDEV, iovaPage: 1, npage: 1 }));
    expect(state.process.lockedVmPages).toBe(2);
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(2);
  });
});

describe('the dma_unmap callback contract', () => {
  it('UNMAP_DMA of a pinned mapping asks the driver, which unpins; then the mapping goes', () => {
    const state = mappedMediated();
    const mfn = mfnAt(state, RAM + 2);
    pin(state, { iovaPage: 2 });
    pin(state, { iovaPage: 2 });
    pin(state, { iovaPage: 8, write: false });
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 4 }));
    expect(expectOk(result)).toEqual({ sizeBytes: '16384', removed: 1, callbacks: 1 });
    expect(frame(state, mfn).refcount).toBe(1);
    expect(state.devices[MDEV]!.pins).toEqual({ 8: 1 });
    expect(externalPinsByMapping(state)).toEqual([{ dmaIovaPage: 8, records: 1, references: 1, driverRecorded: 1 }]);
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 1, perMappingPages: 1, expectedPages: 1 });
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('unmap-all releases every pinned mapping through the callback', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 0, npage: 4 });
    pin(state, { iovaPage: 8, write: false });
    expect(expectOk(unmapDma(state, config, unmapAllArgs())).sizeBytes).toBe('20480');
    expect(state.devices[MDEV]!.pins).toEqual({});
    expect(state.process.lockedVmPages).toBe(0);
  });

  it('a refused unmap (v2 bisection) does not call the driver', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 2 });
    expectRefused(state, 'EINVAL', (copy) => unmapDma(copy, config, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
  });

  it('a driver that ignores the callback leaves pins: the kernel BUG_ONs (recorded crash, BUG_ON result)', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 2 }, ignoresUnmap);
    const result = unmapDma(state, ignoresUnmap, unmapDmaArgs({ iovaPage: 0, npages: 4 }));
    expectErrno(result, 'BUG_ON');
    expect(result.detail).toEqual({ iovaPage: 0, externalPins: 1 });
    expect(kernelCrash(state)).toMatchObject({ where: 'vfio_dma_do_unmap', iovaPage: 0, externalPins: 1 });
  });

  it('after the crash nothing runs: every operation is refused with BUG_ON and changes nothing', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 2 }, ignoresUnmap);
    unmapDma(state, ignoresUnmap, unmapAllArgs());
    expectRefused(state, 'BUG_ON', (copy) =>
      mapDma(copy, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 50, npages: 1 })),
    );
    expectRefused(state, 'BUG_ON', (copy) => closeDevice(copy, config, { deviceId: CCW }));
  });

  it('with the same bug, an unmap of unpinned mappings still succeeds (the callback is only for pins)', () => {
    const state = mappedMediated();
    expectOk(unmapDma(state, ignoresUnmap, unmapAllArgs()));
    expect(kernelCrash(state)).toBeNull();
  });

  it('closing the device releases every pin it holds', () => {
    const state = mappedMediated();
    pin(state, { iovaPage: 0, npage: 3 });
    pin(state, { iovaPage: 0 });
    expectOk(closeDevice(state, ignoresUnmap, { deviceId: MDEV }));
    expect(dmaAt(state, 0).externalPins).toEqual({});
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('the attach of the emulated group to a container registers nothing until a device opens', () => {
    const state = setUp(world(), [GROUP_A]);
    expectOk(groupSetContainer(state, config, { groupId: GROUP_MDEV }));
    expect(backendOf(state)).toMatchObject({ emulatedGroupIds: [GROUP_MDEV], deviceIds: [] });
  });
});
