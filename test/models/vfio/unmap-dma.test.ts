/**
 * VFIO_IOMMU_UNMAP_DMA (docs/reference/vfio-type1.md §1.4, §1.6, §1.14): refusals in the order of checks, the v1
 * and v2 worked examples of §1.4, unmap-all, the reported size, and what removal undoes (pins,
 * charge, translations, slot), plus the VADDR invalidation of the UPDATE_VADDR protocol.
 */
import { describe, expect, it } from 'vitest';
import { groupSetContainer, setIommu, VFIO_NOIOMMU_IOMMU, VFIO_TYPE1_IOMMU } from '../../../models/vfio/container.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { munmapRegion } from '../../../models/vfio/process-memory.js';
import type { VfioState } from '../../../models/vfio/types.js';
import {
  unmapAllArgs,
  unmapDma,
  unmapDmaArgs,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
} from '../../../models/vfio/unmap-dma.js';
import type { UnmapDmaArgs, UnmapDmaRequest } from '../../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../../models/vfio/views.js';
import {
  GROUP_A,
  GROUP_B,
  GROUP_MDEV,
  GROUP_NOIOMMU,
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
  passthroughWorld,
  setUp,
  world,
} from './world.js';

const TWO_64 = 1n << 64n;

function args(request: Partial<UnmapDmaRequest> = {}, raw: Partial<UnmapDmaArgs> = {}): UnmapDmaArgs {
  return { ...unmapDmaArgs({ iovaPage: 1, npages: 2, ...request }), ...raw };
}

function refuseUnmap(
  state: VfioState,
  errno: string,
  request: Partial<UnmapDmaRequest> = {},
  raw: Partial<UnmapDmaArgs> = {},
) {
  return expectRefused(state, errno, (copy) => unmapDma(copy, config, args(request, raw)));
}

/** §1.4 worked example: A = [0x1000, 0x3000) and B = [0x3000, 0x4000). */
function exampleWorld(v2: boolean): VfioState {
  const state = setUp(world(), [GROUP_A], [PCI_A], v2 ? undefined : VFIO_TYPE1_IOMMU);
  map(state, { vaddrPage: RAM, iovaPage: 1, npages: 2 });
  map(state, { vaddrPage: RAM + 2, iovaPage: 3, npages: 1 });
  return state;
}

function iovas(state: VfioState): number[] {
  return backendOf(state).dmas.map((dma) => dma.iovaPage);
}

describe('UNMAP_DMA refusals, in the order of checks', () => {
  it('before VFIO_SET_IOMMU: EINVAL', () => {
    const state = world();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    refuseUnmap(state, 'EINVAL');
  });

  it('on the noiommu backend: ENOTTY', () => {
    const state = world();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_NOIOMMU }));
    expectOk(setIommu(state, config, { type: VFIO_NOIOMMU_IOMMU }));
    refuseUnmap(state, 'ENOTTY');
  });

  it('step 1: argsz < 24 or an unknown flag: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { argsz: 23 });
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { flags: 1 << 3 });
  });

  it('step 1: a field that is not a u64: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { iova: '-1' });
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { sizeBytes: TWO_64.toString() });
  });

  it('step 2: GET_DIRTY_BITMAP with ALL or VADDR: EINVAL', () => {
    const dirtyAll = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL;
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { flags: dirtyAll, iova: '0', sizeBytes: '0' });
    refuseUnmap(
      exampleWorld(true),
      'EINVAL',
      {},
      { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR },
    );
  });

  it('step 2 wins over step 4: GET_DIRTY_BITMAP|VADDR with an emulated group is EINVAL, not EBUSY', () => {
    const state = mediatedWorld();
    refuseUnmap(state, 'EINVAL', {}, { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR });
  });

  it('steps 3/7: GET_DIRTY_BITMAP without dirty tracking: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, argsz: 48 });
  });

  it('step 4: VADDR while an emulated group is attached: EBUSY', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 1, npages: 2 });
    refuseUnmap(state, 'EBUSY', { invalidateVaddr: true });
  });

  it('step 4 wins over step 5: VADDR with an unaligned iova and an emulated group is EBUSY', () => {
    refuseUnmap(mediatedWorld(), 'EBUSY', { invalidateVaddr: true }, { iova: '4097' });
  });

  it('step 5: an unaligned iova: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { iova: '4097' });
  });

  it('step 6: size 0, unaligned size, or a range wrapping past 2^64: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { sizeBytes: '0' });
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { sizeBytes: '4095' });
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { iova: (TWO_64 - 4096n).toString(), sizeBytes: '8192' });
  });

  it('step 6: ALL with a nonzero iova or size: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: '4096', sizeBytes: '0' });
    refuseUnmap(exampleWorld(true), 'EINVAL', {}, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: '0', sizeBytes: '4096' });
  });

  it('step 8: v2 request bisecting a mapping at its start: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', { iovaPage: 2, npages: 2 });
  });

  it('step 8: v2 request bisecting a mapping at its end: EINVAL', () => {
    refuseUnmap(exampleWorld(true), 'EINVAL', { iovaPage: 1, npages: 1 });
    refuseUnmap(exampleWorld(true), 'EINVAL', { iovaPage: 0, npages: 2 });
  });
});

describe('UNMAP_DMA: the §1.4 worked examples (A = [0x1000,0x3000), B = [0x3000,0x4000))', () => {
  const cases: readonly [string, number, number, number[], string | null, number[], string | null][] = [
    // request, iovaPage, npages, v1 left, v1 size, v2 left, v2 size (null = EINVAL)
    ['[0x1000,0x2000)', 1, 1, [3], '8192', [1, 3], null],
    ['[0x2000,0x4000)', 2, 2, [1, 3], '0', [1, 3], null],
    ['[0x0,0x5000)', 0, 5, [], '12288', [], '12288'],
    ['[0x5000,0x6000)', 5, 1, [1, 3], '0', [1, 3], '0'],
    ['[0x0,0x2000)', 0, 2, [3], '8192', [1, 3], null],
  ];

  it.each(cases)('%s', (_name, iovaPage, npages, v1Left, v1Size, v2Left, v2Size) => {
    const v1 = exampleWorld(false);
    expect(expectOk(unmapDma(v1, config, unmapDmaArgs({ iovaPage, npages }))).sizeBytes).toBe(v1Size);
    expect(iovas(v1)).toEqual(v1Left);
    const v2 = exampleWorld(true);
    if (v2Size === null) {
      refuseUnmap(v2, 'EINVAL', { iovaPage, npages });
    } else {
      expect(expectOk(unmapDma(v2, config, unmapDmaArgs({ iovaPage, npages }))).sizeBytes).toBe(v2Size);
    }
    expect(iovas(v2)).toEqual(v2Left);
  });

  it('v1: a request starting inside the first mapping removes nothing, even mappings wholly inside it', () => {
    const state = exampleWorld(false);
    map(state, { vaddrPage: RAM + 3, iovaPage: 6, npages: 1 });
    expect(expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 2, npages: 10 }))).sizeBytes).toBe('0');
    expect(iovas(state)).toEqual([1, 3, 6]);
  });
});

describe('UNMAP_DMA: what removal undoes', () => {
  it('unpins, uncharges, removes the translations and frees the slot', () => {
    const state = passthroughWorld();
    const before = JSON.parse(JSON.stringify(state)) as VfioState;
    map(state, { vaddrPage: RAM, iovaPage: 4, npages: 3 });
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 4, npages: 3 }));
    expect(expectOk(result)).toEqual({ sizeBytes: '12288', removed: 1, callbacks: 0 });
    expect(state).toEqual(before);
    const mfn = (i: number) => mfnAt(state, RAM + i);
    expect(result.effects).toEqual([
      { kind: 'unmap', domainId: 0, iovaPage: 4, mfn: mfn(0) },
      { kind: 'unmap', domainId: 0, iovaPage: 5, mfn: mfn(1) },
      { kind: 'unmap', domainId: 0, iovaPage: 6, mfn: mfn(2) },
      { kind: 'iotlb-sync', domainId: 0 },
    ]);
  });

  it('with two domains, unmaps the others, then the first, each followed by a sync', () => {
    const state = setUp(world(), [GROUP_A, GROUP_B]);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 1 }));
    expectOk(result);
    const mfn = mfnAt(state, RAM);
    expect(result.effects).toEqual([
      { kind: 'unmap', domainId: 0, iovaPage: 0, mfn },
      { kind: 'iotlb-sync', domainId: 0 },
      { kind: 'unmap', domainId: 1, iovaPage: 0, mfn },
      { kind: 'iotlb-sync', domainId: 1 },
    ]);
    expect(frame(state, mfn).refcount).toBe(1);
  });

  it('frees a frame whose vaddr was munmapped while it was pinned', () => {
    const state = passthroughWorld();
    const mfn = mfnAt(state, RAM);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    expectOk(munmapRegion(state, config, { vaddrPage: RAM, npages: 1 }));
    expect(frame(state, mfn)).toMatchObject({ owner: 1, refcount: 1 });
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 1 })));
    expect(frame(state, mfn)).toMatchObject({ owner: null, refcount: 0 });
    expect(state.memory.freeList).toContain(mfn);
  });

  it('removes several whole mappings with one v2 request and reports their total size', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    map(state, { vaddrPage: RAM + 2, iovaPage: 4, npages: 1 });
    map(state, { vaddrPage: RAM + 3, iovaPage: 10, npages: 1 });
    expect(expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 8 })))).toEqual({
      sizeBytes: '12288',
      removed: 2,
      callbacks: 0,
    });
    expect(iovas(state)).toEqual([10]);
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 1, perMappingPages: 1, expectedPages: 1 });
  });

  it('unmap-all removes everything, v1 and v2 alike', () => {
    for (const v2 of [false, true]) {
      const state = exampleWorld(v2);
      expect(expectOk(unmapDma(state, config, unmapAllArgs())).sizeBytes).toBe('12288');
      expect(iovas(state)).toEqual([]);
      expect(state.process.lockedVmPages).toBe(0);
      expect(backendOf(state).dmaAvail).toBe(4);
      expect(frameRefcountMismatches(state)).toEqual([]);
    }
  });

  it('without a domain, removes the mapping record only', () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 4 });
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 4 }));
    expect(expectOk(result).sizeBytes).toBe('16384');
    expect(result.effects).toEqual([]);
  });

  it('unmaps a mapping that ends exactly at 2^64 (no domain)', () => {
    const state = mediatedWorld();
    const iova = (TWO_64 - 8192n).toString();
    expectOk(mapDma(state, config, { ...mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 2 }), iova }));
    expectErrno(mapDma(state, config, { ...mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 1 }), iova }), 'EEXIST');
    const result = unmapDma(state, config, { argsz: 24, flags: 0, iova, sizeBytes: '8192' });
    expect(expectOk(result).sizeBytes).toBe('8192');
    expect(iovas(state)).toEqual([]);
  });
});

describe('UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR, and MAP_DMA with VADDR (§1.6)', () => {
  it('invalidates whole mappings, keeps their pins and translations, and reports their size', () => {
    const state = exampleWorld(true);
    const translations = { ...backendOf(state).domains[0]!.translations };
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 8, invalidateVaddr: true }));
    expect(expectOk(result).sizeBytes).toBe('12288');
    expect(result.effects).toEqual([]);
    expect(backendOf(state).vaddrInvalidCount).toBe(2);
    expect(dmaAt(state, 1).vaddrInvalid).toBe(true);
    expect(backendOf(state).domains[0]!.translations).toEqual(translations);
  });

  it('refuses to invalidate an already invalid vaddr with EINVAL and un-marks the others', () => {
    const state = exampleWorld(true);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1, invalidateVaddr: true })));
    const result = refuseUnmap(state, 'EINVAL', { iovaPage: 0, npages: 8, invalidateVaddr: true });
    expect(result.detail).toEqual({ sizeBytes: '0' });
  });

  it('takes a new vaddr for an invalidated mapping of the same iova and size', () => {
    const state = exampleWorld(true);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1, invalidateVaddr: true })));
    const vaddrUpdate = (npages: number) => mapDmaArgs({ vaddrPage: RAM + 7, iovaPage: 3, npages, updateVaddr: true });
    expectRefused(state, 'EINVAL', (copy) => mapDma(copy, config, vaddrUpdate(2)));
    expectOk(mapDma(state, config, vaddrUpdate(1)));
    expect(dmaAt(state, 3)).toMatchObject({ vaddrPage: RAM + 7, vaddrInvalid: false });
    expect(backendOf(state).vaddrInvalidCount).toBe(0);
  });

  it('blocks attaching a group while a vaddr is invalid (EBUSY)', () => {
    const state = exampleWorld(true);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1, invalidateVaddr: true })));
    expectRefused(state, 'EBUSY', (copy) => groupSetContainer(copy, config, { groupId: GROUP_MDEV }));
  });

  it('lets a plain unmap remove an invalidated mapping', () => {
    const state = exampleWorld(true);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1, invalidateVaddr: true })));
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 3, npages: 1 })));
    expect(backendOf(state).vaddrInvalidCount).toBe(0);
  });
});
