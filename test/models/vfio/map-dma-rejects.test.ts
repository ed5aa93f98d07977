/**
 * VFIO_IOMMU_MAP_DMA refusals, one per row of docs/reference/vfio-type1.md §1.14 that the model covers, in the
 * order of checks of §1.3: when two inputs are wrong the earlier check's errno wins. Every refusal
 * leaves the state deep-equal to before and reports no effect.
 */
import { describe, expect, it } from 'vitest';
import { groupSetContainer, setIommu, VFIO_NOIOMMU_IOMMU } from '../../../models/vfio/container.js';
import { mapDma, mapDmaArgs, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_VADDR } from '../../../models/vfio/map-dma.js';
import type { MapDmaArgs, MapDmaRequest } from '../../../models/vfio/map-dma.js';
import { U64_MAX } from '../../../models/vfio/u64.js';
import type { VfioState } from '../../../models/vfio/types.js';
import {
  APERTURE_END_PAGE,
  GROUP_A,
  GROUP_NOIOMMU,
  LAZY,
  MSI_START_PAGE,
  RAM,
  RO,
  config,
  expectOk,
  expectRefused,
  map,
  mediatedWorld,
  passthroughWorld,
  world,
} from './world.js';

const TWO_64 = 1n << 64n;

function args(request: Partial<MapDmaRequest> = {}, raw: Partial<MapDmaArgs> = {}): MapDmaArgs {
  return { ...mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 1, ...request }), ...raw };
}

function refuseMap(
  state: VfioState,
  errno: string,
  request: Partial<MapDmaRequest> = {},
  raw: Partial<MapDmaArgs> = {},
) {
  return expectRefused(state, errno, (copy) => mapDma(copy, config, args(request, raw)));
}

/** A passthrough world with one mapping at iova pages [0, 2) from vaddr RAM. */
function mappedWorld(): VfioState {
  const state = passthroughWorld();
  map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
  return state;
}

/** A passthrough world whose four dma_entry_limit slots are used up. */
function fullWorld(): VfioState {
  const state = passthroughWorld();
  for (let i = 0; i < 4; i++) map(state, { vaddrPage: RAM + i, iovaPage: 10 + i, npages: 1 });
  return state;
}

describe('MAP_DMA: step 0, container state', () => {
  it('is refused with EINVAL before VFIO_SET_IOMMU (container ioctl before SET_IOMMU)', () => {
    const state = world();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    refuseMap(state, 'EINVAL');
  });

  it('is refused with ENOTTY by the noiommu backend', () => {
    const state = world();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_NOIOMMU }));
    expectOk(setIommu(state, config, { type: VFIO_NOIOMMU_IOMMU }));
    refuseMap(state, 'ENOTTY');
  });
});

describe('MAP_DMA: step 1, argsz and flags', () => {
  it('refuses argsz < 32 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { argsz: 31 });
  });

  it('accepts argsz larger than the struct', () => {
    expectOk(mapDma(passthroughWorld(), config, args({}, { argsz: 4096 })));
  });

  it('refuses an unknown flag bit with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { flags: VFIO_DMA_MAP_FLAG_READ | (1 << 3) });
  });

  it('refuses argsz or flags that are not u32 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { argsz: 2 ** 32 });
    refuseMap(passthroughWorld(), 'EINVAL', {}, { flags: -1 });
  });

  it('wins over an overlap (EINVAL, not EEXIST)', () => {
    refuseMap(mappedWorld(), 'EINVAL', { iovaPage: 0 }, { argsz: 8 });
  });
});

describe('MAP_DMA: step 2, fields that are not u64', () => {
  it.each([
    ['negative', '-4096'],
    ['hexadecimal', '0x1000'],
    ['2^64', TWO_64.toString()],
    ['fractional', '4096.5'],
    ['empty', ''],
  ])('refuses a %s iova with EINVAL', (_name, iova) => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { iova });
  });

  it('refuses a size above 2^64 - 1 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { sizeBytes: (TWO_64 + 4096n).toString() });
  });
});

describe('MAP_DMA: step 3, READ/WRITE/VADDR combination', () => {
  it('refuses a map without READ, WRITE or VADDR with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { flags: 0 });
  });

  it('refuses VADDR together with READ with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { flags: VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_READ });
  });

  it('wins over size 0 (both EINVAL; the state is unchanged either way)', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { flags: 0, sizeBytes: '0' });
  });
});

describe('MAP_DMA: step 4, size 0 and alignment', () => {
  it('refuses size 0 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { sizeBytes: '0' });
  });

  it.each([
    ['iova', { iova: '4097' }],
    ['vaddr', { vaddr: (RAM * 4096 + 512).toString() }],
    ['size', { sizeBytes: '6144' }],
  ])('refuses an unaligned %s with EINVAL', (_name, raw) => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, raw);
  });

  it('wins over an overlap (EINVAL, not EEXIST)', () => {
    refuseMap(mappedWorld(), 'EINVAL', {}, { sizeBytes: '0' });
  });
});

describe('MAP_DMA: step 5, wrap-around near 2^64', () => {
  it('refuses an iova range that wraps past 2^64 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { iova: (TWO_64 - 4096n).toString(), sizeBytes: '8192' });
  });

  it('refuses a vaddr range that wraps past 2^64 with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { vaddr: (TWO_64 - 4096n).toString(), sizeBytes: '8192' });
  });

  it('refuses the largest aligned size from a nonzero iova with EINVAL', () => {
    const largest = (U64_MAX - 4095n).toString();
    refuseMap(passthroughWorld(), 'EINVAL', {}, { iova: '4096', vaddr: '0', sizeBytes: largest });
  });

  it('wins over an overlap (EINVAL, not EEXIST)', () => {
    refuseMap(mappedWorld(), 'EINVAL', {}, { vaddr: (TWO_64 - 4096n).toString(), sizeBytes: '8192' });
  });

  it('lets a range ending exactly at 2^64 through to the IOVA-range check (EINVAL with a domain)', () => {
    refuseMap(passthroughWorld(), 'EINVAL', {}, { iova: (TWO_64 - 4096n).toString(), sizeBytes: '4096' });
  });

  it('accepts a range ending exactly at 2^64 when no IOMMU domain restricts IOVA', () => {
    const state = mediatedWorld();
    const detail = expectOk(mapDma(state, config, args({}, { iova: (TWO_64 - 4096n).toString() })));
    expect(detail.iovaPage).toBe(2 ** 52 - 1);
  });
});

describe('MAP_DMA: step 6, overlap', () => {
  it.each([
    ['the same range', 0, 2],
    ['the first page only', 0, 1],
    ['the last page and beyond', 1, 4],
    ['a range around it', 0, 8],
  ])('refuses %s with EEXIST', (_name, iovaPage, npages) => {
    refuseMap(mappedWorld(), 'EEXIST', { vaddrPage: RAM + 2, iovaPage, npages });
  });

  it('accepts an adjacent range (no merge: a second mapping)', () => {
    const state = mappedWorld();
    map(state, { vaddrPage: RAM + 2, iovaPage: 2, npages: 1 });
    expect(state.container.backend?.kind === 'type1' && state.container.backend.dmas.length).toBe(2);
  });

  it('wins over dma_avail == 0 (EEXIST, not ENOSPC)', () => {
    refuseMap(fullWorld(), 'EEXIST', { iovaPage: 10 });
  });
});

describe('MAP_DMA: step 7, dma_entry_limit', () => {
  it('refuses a map with no slot left with ENOSPC', () => {
    refuseMap(fullWorld(), 'ENOSPC', { iovaPage: 100 });
  });

  it('wins over an IOVA outside the aperture (ENOSPC, not EINVAL)', () => {
    refuseMap(fullWorld(), 'ENOSPC', { iovaPage: APERTURE_END_PAGE });
  });
});

describe('MAP_DMA: step 8, usable IOVA ranges', () => {
  it('refuses a range beyond the aperture with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', { iovaPage: APERTURE_END_PAGE });
  });

  it('refuses a range straddling the aperture end with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', { iovaPage: APERTURE_END_PAGE - 1, npages: 2 });
  });

  it('refuses a range in the reserved MSI window with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', { iovaPage: MSI_START_PAGE + 3 });
  });

  it('refuses a range straddling the start of the reserved window with EINVAL', () => {
    refuseMap(passthroughWorld(), 'EINVAL', { iovaPage: MSI_START_PAGE - 1, npages: 2 });
  });

  it('wins over unmapped user memory (EINVAL, not EFAULT)', () => {
    refuseMap(passthroughWorld(), 'EINVAL', { vaddrPage: 1000, iovaPage: MSI_START_PAGE });
  });
});

describe('MAP_DMA: step 10, pinning', () => {
  it('refuses unmapped user memory with EFAULT (rolled back)', () => {
    refuseMap(passthroughWorld(), 'EFAULT', { vaddrPage: 1000 });
  });

  it('refuses a range running off the end of the VMA with EFAULT, unpinning what it pinned', () => {
    refuseMap(passthroughWorld(), 'EFAULT', { vaddrPage: RAM + 6, npages: 3 });
  });

  it('refuses a writable map of read-only memory with EFAULT', () => {
    refuseMap(passthroughWorld(), 'EFAULT', { vaddrPage: RO, npages: 1 });
  });

  it('accepts a read-only map of read-only memory', () => {
    map(passthroughWorld(), { vaddrPage: RO, iovaPage: 0, npages: 2, write: false });
  });

  it('refuses a map beyond RLIMIT_MEMLOCK with ENOMEM (rolled back, nothing charged)', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 6 });
    // Pages 7 and 8 fit under the limit of 8, the third does not.
    refuseMap(
      state,
      'ENOMEM',
      { vaddrPage: RAM + 6, iovaPage: 10, npages: 2 },
      { vaddr: String((RAM + 5) * 4096), sizeBytes: '12288' },
    );
    expect(state.process.lockedVmPages).toBe(6);
  });

  it('checks a page vaddr before its RLIMIT charge (EFAULT, not ENOMEM, at the limit)', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 8 });
    refuseMap(state, 'EFAULT', { vaddrPage: 1000, iovaPage: 10 });
    refuseMap(state, 'ENOMEM', { vaddrPage: LAZY, iovaPage: 10 });
  });
});

describe('MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR (UPDATE_VADDR)', () => {
  it('refuses a VADDR update with no mapping there with ENOENT', () => {
    refuseMap(passthroughWorld(), 'ENOENT', { updateVaddr: true });
  });

  it('refuses a VADDR update of a mapping whose vaddr is valid with EINVAL', () => {
    refuseMap(mappedWorld(), 'EINVAL', { updateVaddr: true, npages: 2 });
  });

  it('is decided at step 6: ENOENT wins over dma_avail == 0', () => {
    refuseMap(fullWorld(), 'ENOENT', { updateVaddr: true, iovaPage: 100 });
  });
});
