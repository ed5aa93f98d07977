/**
 * The VMM process's memory (vaddr → frame) and how pins interact with it: a pinned frame survives
 * munmap and MADV_DONTNEED of its vaddr, and DMA keeps reaching it rather than whatever the vaddr
 * maps now. Also the process-memory commands' own refusals, and frames passing to another owner.
 */
import { describe, expect, it } from 'vitest';
import { deviceDma } from '../../../models/vfio/device-dma.js';
import { allocateToOther, releaseFromOther } from '../../../models/vfio/other-owner.js';
import { discardRange, mmapRegion, munmapRegion, touchPage } from '../../../models/vfio/process-memory.js';
import { unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import { deviceReach, frameRefcountMismatches } from '../../../models/vfio/views.js';
import {
  LAZY,
  OTHER_VM,
  PCI_A,
  RAM,
  RO,
  VMM,
  config,
  expectOk,
  expectRefused,
  frame,
  map,
  mfnAt,
  passthroughWorld,
  world,
} from './world.js';

describe('a pinned frame outlives its vaddr', () => {
  it('survives munmap: still owned by the VMM, one reference (the pin), not free', () => {
    const state = passthroughWorld();
    const mfn = mfnAt(state, RAM);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expect(expectOk(munmapRegion(state, config, { vaddrPage: RAM, npages: 1 }))).toEqual({ freedFrames: 0 });
    expect(state.process.pages[RAM]).toBeUndefined();
    expect(frame(state, mfn)).toMatchObject({ owner: VMM, refcount: 1 });
    expect(state.memory.freeList).not.toContain(mfn);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  it('DMA keeps reaching the pinned frame after munmap, and a new mapping of the vaddr does not change that', () => {
    const state = passthroughWorld();
    const pinned = mfnAt(state, RAM);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(munmapRegion(state, config, { vaddrPage: RAM, npages: 1 }));
    expectOk(mmapRegion(state, config, { vaddrPage: RAM, npages: 1, writable: true }));
    const fresh = expectOk(touchPage(state, config, { vaddrPage: RAM, write: true })).mfn;
    expect(fresh).not.toBe(pinned);
    const result = deviceDma(state, config, { deviceId: PCI_A, addressPage: 0, write: true });
    expect(result.accesses).toEqual([
      { deviceId: PCI_A, addressPage: 0, write: true, outcome: 'landed', mfn: pinned, owner: VMM },
    ]);
  });

  it('survives MADV_DONTNEED (the balloon); the next touch faults in a different frame', () => {
    const state = passthroughWorld();
    const pinned = mfnAt(state, RAM + 1);
    const unpinned = mfnAt(state, RAM + 2);
    map(state, { vaddrPage: RAM + 1, iovaPage: 0, npages: 1 });
    expect(expectOk(discardRange(state, config, { vaddrPage: RAM + 1, npages: 2 }))).toEqual({ freedFrames: 1 });
    expect(state.process.pages[RAM + 1]).toEqual({ writable: true, mfn: null });
    expect(frame(state, pinned)).toMatchObject({ owner: VMM, refcount: 1 });
    expect(frame(state, unpinned)).toMatchObject({ owner: null, refcount: 0 });
    const fresh = expectOk(touchPage(state, config, { vaddrPage: RAM + 1, write: false })).mfn;
    expect(fresh).toBe(unpinned);
    expect(deviceReach(state)).toEqual([
      { deviceId: PCI_A, via: 'iommu', addressPage: 0, mfn: pinned, read: true, write: true },
    ]);
  });

  it('is freed by the unmap after munmap, and can then go to another owner', () => {
    const state = passthroughWorld();
    const mfn = mfnAt(state, RAM);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(munmapRegion(state, config, { vaddrPage: RAM, npages: 1 }));
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 1 })));
    expect(expectOk(allocateToOther(state, config, { owner: OTHER_VM }))).toEqual({ mfn, owner: OTHER_VM });
    expect(deviceReach(state)).toEqual([]);
  });
});

describe('process memory commands', () => {
  it('mmap creates non-present pages; refuses an occupied range (EEXIST), bad arguments (EINVAL), RLIMIT_AS (ENOMEM)', () => {
    const state = world();
    expect(expectOk(mmapRegion(state, config, { vaddrPage: 100, npages: 2, writable: false }))).toEqual({
      vaddrPage: 100,
      npages: 2,
    });
    expect(state.process.pages[101]).toEqual({ writable: false, mfn: null });
    expectRefused(state, 'EEXIST', (copy) => mmapRegion(copy, config, { vaddrPage: 99, npages: 2, writable: true }));
    expectRefused(state, 'EINVAL', (copy) => mmapRegion(copy, config, { vaddrPage: 200, npages: 0, writable: true }));
    expectRefused(state, 'EINVAL', (copy) => mmapRegion(copy, config, { vaddrPage: -1, npages: 1, writable: true }));
    expectRefused(state, 'EINVAL', (copy) =>
      mmapRegion(copy, config, { vaddrPage: 2 ** 52 - 1, npages: 2, writable: true }),
    );
    expectRefused(state, 'ENOMEM', (copy) => mmapRegion(copy, config, { vaddrPage: 200, npages: 64, writable: true }));
  });

  it('munmap drops present pages (freeing unpinned frames) and accepts holes; EINVAL for an empty range', () => {
    const state = world();
    const mfn = mfnAt(state, RAM + 7);
    expect(expectOk(munmapRegion(state, config, { vaddrPage: RAM + 7, npages: 8 }))).toEqual({ freedFrames: 1 });
    expect(frame(state, mfn)).toMatchObject({ owner: null, refcount: 0 });
    expect(expectOk(munmapRegion(state, config, { vaddrPage: 2 ** 40, npages: 2 ** 40 }))).toEqual({ freedFrames: 0 });
    expectRefused(state, 'EINVAL', (copy) => munmapRegion(copy, config, { vaddrPage: RAM, npages: 0 }));
  });

  it('MADV_DONTNEED over a hole is refused whole with ENOMEM', () => {
    expectRefused(world(), 'ENOMEM', (copy) => discardRange(copy, config, { vaddrPage: RAM + 7, npages: 2 }));
  });

  it('touch faults a page in; EFAULT without a VMA or for a write to read-only memory', () => {
    const state = world();
    const free = [...state.memory.freeList];
    expect(expectOk(touchPage(state, config, { vaddrPage: LAZY, write: true })).mfn).toBe(free[free.length - 1]);
    expectRefused(state, 'EFAULT', (copy) => touchPage(copy, config, { vaddrPage: 1000, write: false }));
    expectRefused(state, 'EFAULT', (copy) => touchPage(copy, config, { vaddrPage: RO, write: true }));
    expect(expectOk(touchPage(state, config, { vaddrPage: RO, write: false })).mfn).toBe(mfnAt(state, RO));
  });

  it('touch of a lazy page with no free frame: ENOMEM', () => {
    const state = world();
    for (let i = 0; i < 5; i++) expectOk(allocateToOther(state, config, { owner: OTHER_VM }));
    expectRefused(state, 'ENOMEM', (copy) => touchPage(copy, config, { vaddrPage: LAZY, write: false }));
  });

  it('another owner takes free frames and gives them back; it cannot name the VMM or release what it does not hold', () => {
    const state = world();
    const taken = expectOk(allocateToOther(state, config, { owner: 7 })).mfn as number;
    expect(frame(state, taken)).toMatchObject({ owner: 7, refcount: 1 });
    expectOk(releaseFromOther(state, config, { mfn: taken }));
    expect(frame(state, taken)).toMatchObject({ owner: null, refcount: 0 });
    expectRefused(state, 'EINVAL', (copy) => allocateToOther(copy, config, { owner: VMM }));
    expectRefused(state, 'ENOENT', (copy) => releaseFromOther(copy, config, { mfn: taken }));
  });
});
