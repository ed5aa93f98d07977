/**
 * What a successful VFIO_IOMMU_MAP_DMA does (docs/reference/vfio-type1.md §1.3 step 10, §1.7, §1.8, §1.5): one
 * vfio_dma per call, every page pinned once (a frame reference) and charged once to locked_vm
 * whatever the number of domains, mapped into every domain with the mapping's prot, one
 * dma_entry_limit slot used; nothing pinned without a domain.
 */
import { describe, expect, it } from 'vitest';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting, translationDisagreements } from '../../../models/vfio/views.js';
import {
  GROUP_A,
  GROUP_A2,
  GROUP_B,
  LAZY,
  RAM,
  backendOf,
  config,
  dmaAt,
  expectErrno,
  expectOk,
  frame,
  map,
  mediatedWorld,
  mfnAt,
  passthroughWorld,
  setUp,
  world,
} from './world.js';

describe('MAP_DMA with one IOMMU domain', () => {
  it('pins each page once, charges it, and maps it with the mapping prot', () => {
    const state = passthroughWorld();
    const mfns = [0, 1, 2].map((i) => mfnAt(state, RAM + i));
    const detail = map(state, { vaddrPage: RAM, iovaPage: 0x100, npages: 3, write: false });
    expect(detail).toEqual({ iovaPage: 0x100, npages: 3, pinnedPages: 3 });
    for (const mfn of mfns) expect(frame(state, mfn)).toMatchObject({ owner: 1, refcount: 2 });
    const backend = backendOf(state);
    expect(backend.domains[0]!.translations).toEqual({
      256: { mfn: mfns[0], read: true, write: false },
      257: { mfn: mfns[1], read: true, write: false },
      258: { mfn: mfns[2], read: true, write: false },
    });
    expect(dmaAt(state, 0x100)).toMatchObject({ npages: 3, vaddrPage: RAM, iommuMapped: true, lockedVmPages: 3 });
    expect(state.process.lockedVmPages).toBe(3);
    expect(backend.dmaAvail).toBe(3);
    expect(frameRefcountMismatches(state)).toEqual([]);
    expect(translationDisagreements(state)).toEqual([]);
  });

  it('reports one map effect per page, in IOVA order', () => {
    const state = passthroughWorld();
    const result = mapDma(state, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 7, npages: 2 }));
    expectOk(result);
    expect(result.effects).toEqual([
      { kind: 'map', domainId: 0, iovaPage: 7, mfn: mfnAt(state, RAM), read: true, write: true },
      { kind: 'map', domainId: 0, iovaPage: 8, mfn: mfnAt(state, RAM + 1), read: true, write: true },
    ]);
    expect(result.accesses).toEqual([]);
  });

  it('faults a page that is not present in before pinning it (a fresh frame of the VMM)', () => {
    const state = passthroughWorld();
    const free = [...state.memory.freeList];
    map(state, { vaddrPage: LAZY, iovaPage: 0, npages: 1 });
    const mfn = mfnAt(state, LAZY);
    expect(mfn).toBe(free[free.length - 1]);
    expect(frame(state, mfn)).toMatchObject({ owner: 1, refcount: 2 });
  });

  it('keeps the list sorted by IOVA whatever the order of the calls', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 50, npages: 1 });
    map(state, { vaddrPage: RAM + 1, iovaPage: 10, npages: 1 });
    map(state, { vaddrPage: RAM + 2, iovaPage: 30, npages: 1 });
    expect(backendOf(state).dmas.map((dma) => dma.iovaPage)).toEqual([10, 30, 50]);
  });

  it('lets two mappings pin the same frame: two pins, two charges', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    map(state, { vaddrPage: RAM, iovaPage: 1, npages: 1 });
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(3);
    expect(state.process.lockedVmPages).toBe(2);
  });
});

describe('MAP_DMA with several domains', () => {
  it('maps into every domain but pins and charges each page once', () => {
    const state = setUp(world(), [GROUP_A, GROUP_B]);
    const result = mapDma(state, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 2 }));
    expectOk(result);
    const backend = backendOf(state);
    expect(backend.domains.map((domain) => domain.id)).toEqual([1, 0]);
    expect(backend.domains[0]!.translations).toEqual(backend.domains[1]!.translations);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(state.process.lockedVmPages).toBe(2);
    expect(result.effects.filter((effect) => effect.kind === 'map')).toHaveLength(4);
  });

  it('puts compatible groups into one domain', () => {
    const state = setUp(world(), [GROUP_A, GROUP_A2]);
    expect(backendOf(state).domains).toEqual([{ id: 0, groupIds: [GROUP_A2, GROUP_A], translations: {} }]);
  });
});

describe('MAP_DMA without an IOMMU domain (emulated groups only)', () => {
  it('records the mapping whole and pins nothing', () => {
    const state = mediatedWorld();
    const before = state.memory.frames.map((f) => ({ ...f }));
    const result = mapDma(state, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 4 }));
    expect(expectOk(result)).toEqual({ iovaPage: 0, npages: 4, pinnedPages: 0 });
    expect(result.effects).toEqual([]);
    expect(state.memory.frames).toEqual(before);
    expect(dmaAt(state, 0)).toMatchObject({ iommuMapped: false, lockedVmPages: 0 });
    expect(state.process.lockedVmPages).toBe(0);
  });

  it('does not even look at the vaddr: unmapped user memory is accepted', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: 5000, iovaPage: 0, npages: 1 });
  });
});

describe('dma_entry_limit (§1.5)', () => {
  it('allows exactly dma_entry_limit mappings, then ENOSPC; an unmap returns the slot', () => {
    const state = passthroughWorld();
    for (let i = 0; i < 4; i++) map(state, { vaddrPage: RAM + i, iovaPage: i * 2, npages: 1 });
    expect(backendOf(state).dmaAvail).toBe(0);
    expectErrno(mapDma(state, config, mapDmaArgs({ vaddrPage: RAM + 5, iovaPage: 20, npages: 1 })), 'ENOSPC');
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 2, npages: 1 })));
    expect(backendOf(state).dmaAvail).toBe(1);
    map(state, { vaddrPage: RAM + 5, iovaPage: 20, npages: 1 });
  });

  it('is read when the backend opens', () => {
    const state = passthroughWorld({ params: { dmaEntryLimit: 1, allowUnsafeInterrupts: false } });
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectErrno(mapDma(state, config, mapDmaArgs({ vaddrPage: RAM + 1, iovaPage: 1, npages: 1 })), 'ENOSPC');
  });
});

describe('locked_vm and RLIMIT_MEMLOCK (§1.8)', () => {
  it('charges up to the limit exactly', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 8 });
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 8, perMappingPages: 8, expectedPages: 8 });
  });

  it('is not enforced with CAP_IPC_LOCK', () => {
    const spec = world().process;
    const state = passthroughWorld({
      process: {
        owner: spec.owner,
        memlockLimitPages: 1,
        capIpcLock: true,
        addressSpaceLimitPages: 64,
        regions: [{ vaddrPage: RAM, npages: 8, writable: true, populate: true }],
      },
    });
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 8 });
    expect(state.process.lockedVmPages).toBe(8);
    expect(dmaAt(state, 0).lockCap).toBe(true);
  });

  it('a refused map leaves refcounts, locked_vm, translations and the free list as they were', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 7 });
    const before = JSON.stringify(state);
    // Faults a lazy page in, pins it (8 pages charged), then the next page exceeds the limit.
    expectErrno(mapDma(state, config, mapDmaArgs({ vaddrPage: LAZY, iovaPage: 20, npages: 2 })), 'ENOMEM');
    expect(JSON.stringify(state)).toBe(before);
  });
});
