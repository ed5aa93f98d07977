/**
 * The vfio-ccw style channel-program device (docs/debates.md#mediated-not-noiommu): pin the
 * program's pages, translate, perform the I/O on the pinned frames, unpin — in one step or with the
 * I/O in flight across steps, so an UNMAP_DMA can come in between (the driver's dma_unmap op then
 * aborts the I/O).
 */
import { describe, expect, it } from 'vitest';
import { ccwCompleteIo, ccwRunIo, ccwStartIo } from '../../../models/vfio/ccw.js';
import type { CcwProgramTransfer } from '../../../models/vfio/ccw.js';
import { closeDevice } from '../../../models/vfio/container.js';
import { munmapRegion } from '../../../models/vfio/process-memory.js';
import { unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { deviceReach, frameRefcountMismatches, kernelCrash } from '../../../models/vfio/views.js';
import {
  CCW,
  MDEV,
  RAM,
  RO,
  VMM,
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
} from './world.js';

/** Mediated world with mappings [0, 4) from RAM, [8, 10) from RAM + 4 and read-only [16, 17) from RO. */
function ccwWorld(): VfioState {
  const state = mediatedWorld();
  map(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
  map(state, { vaddrPage: RAM + 4, iovaPage: 8, npages: 2 });
  map(state, { vaddrPage: RO, iovaPage: 16, npages: 1, write: false });
  return state;
}

const program: CcwProgramTransfer[] = [
  { iovaPage: 1, write: true },
  { iovaPage: 9, write: false },
];

function start(state: VfioState, transfers: readonly CcwProgramTransfer[] = program) {
  return expectOk(ccwStartIo(state, config, { deviceId: CCW, program: transfers }));
}

describe('ccw I/O in one step', () => {
  it('lands every transfer on the frame the IOVA translates to, then unpins', () => {
    const state = ccwWorld();
    const before = JSON.parse(JSON.stringify(state)) as unknown;
    const result = ccwRunIo(state, config, { deviceId: CCW, program });
    expect(expectOk(result)).toEqual({ transfers: 2 });
    expect(result.accesses).toEqual([
      { deviceId: CCW, addressPage: 1, write: true, outcome: 'landed', mfn: mfnAt(state, RAM + 1), owner: VMM },
      { deviceId: CCW, addressPage: 9, write: false, outcome: 'landed', mfn: mfnAt(state, RAM + 5), owner: VMM },
    ]);
    expect(state).toEqual(before);
  });
});

describe('ccw I/O in flight', () => {
  it('holds one external pin per page, charged (no IOMMU domain), until completion', () => {
    const state = ccwWorld();
    start(state);
    expect(state.devices[CCW]!.io).toEqual([
      { iovaPage: 1, mfn: mfnAt(state, RAM + 1), write: true },
      { iovaPage: 9, mfn: mfnAt(state, RAM + 5), write: false },
    ]);
    expect(state.process.lockedVmPages).toBe(2);
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(2);
    expect(deviceReach(state).filter((r) => r.deviceId === CCW)).toHaveLength(4);
    expect(expectOk(ccwCompleteIo(state, config, { deviceId: CCW }))).toEqual({ transfers: 2 });
    expect(state.devices[CCW]).toMatchObject({ io: null, pins: {} });
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('the same page twice in a program is pinned once and counted twice', () => {
    const state = ccwWorld();
    start(state, [
      { iovaPage: 2, write: true },
      { iovaPage: 2, write: false },
    ]);
    expect(dmaAt(state, 0).externalPins).toEqual({ 2: { mfn: mfnAt(state, RAM + 2), refCount: 2 } });
    expectOk(ccwCompleteIo(state, config, { deviceId: CCW }));
    expect(dmaAt(state, 0).externalPins).toEqual({});
  });

  it('an UNMAP_DMA of a page of the program aborts the I/O (cp_free unpins it all); completion then fails EIO', () => {
    const state = ccwWorld();
    start(state);
    expect(expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 8, npages: 2 }))).sizeBytes).toBe('8192');
    expect(state.devices[CCW]).toMatchObject({ io: null, pins: {} });
    expect(dmaAt(state, 0).externalPins).toEqual({});
    expect(state.process.lockedVmPages).toBe(0);
    expectRefused(state, 'EIO', (copy) => ccwCompleteIo(copy, config, { deviceId: CCW }));
  });

  it('an UNMAP_DMA of a mapping the program does not use leaves the I/O alone', () => {
    const state = ccwWorld();
    start(state, [{ iovaPage: 1, write: true }]);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 8, npages: 2 })));
    expect(state.devices[CCW]!.io).toHaveLength(1);
    expectOk(ccwCompleteIo(state, config, { deviceId: CCW }));
  });

  it('a munmap of the program vaddr during the I/O: the transfer still lands on the pinned frame', () => {
    const state = ccwWorld();
    const pinned = mfnAt(state, RAM + 1);
    start(state, [{ iovaPage: 1, write: true }]);
    expectOk(munmapRegion(state, config, { vaddrPage: RAM, npages: 4 }));
    const result = ccwCompleteIo(state, config, { deviceId: CCW });
    expect(result.accesses).toEqual([
      { deviceId: CCW, addressPage: 1, write: true, outcome: 'landed', mfn: pinned, owner: VMM },
    ]);
    expect(frame(state, pinned)).toMatchObject({ owner: null, refcount: 0 });
  });

  it('closing the device aborts the I/O and releases its pins', () => {
    const state = ccwWorld();
    start(state);
    expectOk(closeDevice(state, config, { deviceId: CCW }));
    expect(state.devices[CCW]).toMatchObject({ open: false, io: null, pins: {} });
    expect(state.process.lockedVmPages).toBe(0);
  });

  it('with a driver that ignores dma_unmap, the unmap of an in-flight page BUG_ONs', () => {
    const state = ccwWorld();
    start(state);
    expectErrno(unmapDma(state, { bugs: ['mdev-ignores-unmap'] }, unmapDmaArgs({ iovaPage: 0, npages: 4 })), 'BUG_ON');
    expect(kernelCrash(state)).not.toBeNull();
  });
});

describe('ccw refusals', () => {
  it('a second start while the I/O is in flight: EBUSY', () => {
    const state = ccwWorld();
    start(state);
    expectRefused(state, 'EBUSY', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program }));
  });

  it('an empty program or one longer than 256 transfers: EINVAL', () => {
    expectRefused(ccwWorld(), 'EINVAL', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program: [] }));
    const long = Array.from({ length: 257 }, () => ({ iovaPage: 1, write: false }));
    expectRefused(ccwWorld(), 'EINVAL', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program: long }));
  });

  it('a page no mapping holds: EINVAL from vfio_pin_pages, the earlier pages unpinned', () => {
    const bad = [...program, { iovaPage: 5, write: true }];
    expectRefused(ccwWorld(), 'EINVAL', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program: bad }));
    expectRefused(ccwWorld(), 'EINVAL', (copy) => ccwRunIo(copy, config, { deviceId: CCW, program: bad }));
  });

  it('a read-only mapping: EPERM (vfio-ccw pins read/write)', () => {
    const bad = [{ iovaPage: 16, write: false }];
    expectRefused(ccwWorld(), 'EPERM', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program: bad }));
  });

  it('a program page whose vaddr was munmapped: EFAULT', () => {
    const state = ccwWorld();
    expectOk(munmapRegion(state, config, { vaddrPage: RAM + 1, npages: 1 }));
    expectRefused(state, 'EFAULT', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program }));
  });

  it('completion with no I/O: EIO; a closed or unknown device: EBADF; not a ccw device: ENOTTY', () => {
    expectRefused(ccwWorld(), 'EIO', (copy) => ccwCompleteIo(copy, config, { deviceId: CCW }));
    const closed = ccwWorld();
    expectOk(closeDevice(closed, config, { deviceId: CCW }));
    expectRefused(closed, 'EBADF', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program }));
    expectRefused(ccwWorld(), 'EBADF', (copy) => ccwCompleteIo(copy, config, { deviceId: 99 }));
    expectRefused(ccwWorld(), 'ENOTTY', (copy) => ccwStartIo(copy, config, { deviceId: MDEV, program }));
  });

  it('a passthrough container has no emulated device to start I/O on', () => {
    expectRefused(passthroughWorld(), 'EBADF', (copy) => ccwStartIo(copy, config, { deviceId: CCW, program }));
  });
});
