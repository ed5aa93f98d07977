/**
 * The VFIO compatibility ioctls on iommufd: the selftests simple_ioctls, unmap_cmd, map_cmd,
 * info_cmd, set_iommu_cmd, vfio_ioas and FIXTURE(vfio_compat_mock_domain) (Ver1v2 / Ver1v0) from
 * tools/testing/selftests/iommu/iommufd.c, and the answers that differ from type1
 * (docs/reference/iommufd.md §6.2).
 */
import { describe, expect, it } from 'vitest';
import { vtdDevice } from '../../models/iommufd/index.js';
import {
  BUFFER_PAGES,
  BUFFER_SIZE,
  Fixture,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  PAGE_SIZE,
  buffer,
  s,
} from './fixture.js';

const VFIO_TYPE1_IOMMU = 1;
const VFIO_TYPE1v2_IOMMU = 3;
const VFIO_DMA_CC_IOMMU = 4;
const VFIO_TYPE1_NESTING_IOMMU = 6;
const VFIO_UNMAP_ALL = 9;
const VFIO_UPDATE_VADDR = 10;
const READ_WRITE = 3;
const UNMAP_FLAG_ALL = 2;

const map = (iova: number, vaddr: number, size: number, flags = READ_WRITE) =>
  ({ kind: 'vfioMapDma', argsz: 32, flags, vaddr: s(vaddr), iova: s(iova), sizeBytes: s(size) }) as const;
const unmap = (iova: number, size: number, flags = 0) =>
  ({ kind: 'vfioUnmapDma', argsz: 24, flags, iova: s(iova), sizeBytes: s(size) }) as const;

describe('FIXTURE(iommufd): the compat ioctls without a compat IOAS', () => {
  it('TEST_F(iommufd, simple_ioctls): VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU) is 1', () => {
    expect(new Fixture().ok({ kind: 'vfioCheckExtension', extension: VFIO_TYPE1v2_IOMMU })['value']).toBe(1);
  });

  it('TEST_F(iommufd, unmap_cmd): argsz 1 EINVAL, flags 1 << 31 EINVAL, then ENODEV', () => {
    const f = new Fixture();
    f.err('EINVAL', { ...unmap(MOCK_APERTURE_START, PAGE_SIZE), argsz: 1 });
    f.err('EINVAL', unmap(MOCK_APERTURE_START, PAGE_SIZE, 2 ** 31));
    f.err('ENODEV', unmap(MOCK_APERTURE_START, PAGE_SIZE));
  });

  it('TEST_F(iommufd, map_cmd): argsz 1 EINVAL, flags 1 << 31 EINVAL, READ|WRITE ENODEV', () => {
    const f = new Fixture();
    f.err('EINVAL', { ...map(MOCK_APERTURE_START, buffer, PAGE_SIZE), argsz: 1 });
    f.err('EINVAL', map(MOCK_APERTURE_START, buffer, PAGE_SIZE, 2 ** 31));
    f.err('ENODEV', map(MOCK_APERTURE_START, buffer, PAGE_SIZE));
  });

  it('TEST_F(iommufd, info_cmd): argsz 1 EINVAL, then ENODEV', () => {
    const f = new Fixture();
    f.err('EINVAL', { kind: 'vfioGetInfo', argsz: 1 });
    f.err('ENODEV', { kind: 'vfioGetInfo', argsz: 24 });
  });

  it('TEST_F(iommufd, set_iommu_cmd): ENODEV for TYPE1v2 and TYPE1', () => {
    const f = new Fixture();
    f.err('ENODEV', { kind: 'vfioSetIommu', type: VFIO_TYPE1v2_IOMMU });
    f.err('ENODEV', { kind: 'vfioSetIommu', type: VFIO_TYPE1_IOMMU });
  });

  it('TEST_F(iommufd, vfio_ioas): GET ENODEV, SET of a bad id ENOENT, SET/GET round trip, CLEAR', () => {
    const f = new Fixture();
    f.err('ENODEV', { kind: 'vfioIoas', op: 'get', ioasId: 0 });
    f.err('ENOENT', { kind: 'vfioIoas', op: 'set', ioasId: 0 });
    const ioasId = f.ioasAlloc();
    f.ok({ kind: 'vfioIoas', op: 'set', ioasId });
    expect(f.ok({ kind: 'vfioIoas', op: 'get', ioasId: 0 })['ioasId']).toBe(ioasId);
    f.ok({ kind: 'vfioIoas', op: 'clear', ioasId: 0 });
    f.err('ENODEV', { kind: 'vfioIoas', op: 'get', ioasId: 0 });
  });
});

describe.each([
  { name: 'Ver1v2', version: VFIO_TYPE1v2_IOMMU },
  { name: 'Ver1v0', version: VFIO_TYPE1_IOMMU },
])('FIXTURE(vfio_compat_mock_domain) $name', ({ version }) => {
  function setup() {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    f.mockDomain(0, ioasId);
    f.ok({ kind: 'vfioIoas', op: 'set', ioasId });
    f.ok({ kind: 'vfioSetIommu', type: version });
    return { f, ioasId };
  }

  it('TEST_F(vfio_compat_mock_domain, option_huge_pages): 0 under TYPE1, 1 under TYPE1v2', () => {
    const { f, ioasId } = setup();
    const value = f.ok({ kind: 'option', optionId: 'huge_pages', op: 'get', objectId: ioasId, val64: 3 })['val64'];
    expect(value).toBe(version === VFIO_TYPE1_IOMMU ? 0 : 1);
  });

  it('TEST_F(vfio_compat_mock_domain, get_info): flags, pgsizes, the cap chain size and the IOVA range cap', () => {
    const { f } = setup();
    const preCap = f.ok({ kind: 'vfioGetInfo', argsz: 16 });
    expect(preCap['iovaPgsizes']).not.toBe('0');
    expect(preCap['flags']).toBe(1 | 2);
    const sized = f.ok({ kind: 'vfioGetInfo', argsz: 24 });
    expect(sized['capOffset']).toBe(0);
    const capLength = Number(sized['argsz']);
    expect(capLength).toBeGreaterThan(24);
    expect(capLength).toBe(24 + 12 + 16 + 16);
    for (let argsz = 24; argsz < capLength + 1; argsz++) {
      const info = f.ok({ kind: 'vfioGetInfo', argsz });
      expect(info['flags']).toBe(1 | 2);
      if (info['capOffset'] === 0) continue;
      expect(info['nrIovas']).toBe(1);
      expect(info['iovaRanges']).toBe(`${MOCK_APERTURE_START}-${MOCK_APERTURE_LAST}`);
      expect(info['dmaAvail']).toBe(0xffff_ffff);
    }
  });

  it('TEST_F(vfio_compat_mock_domain, map): map/unmap, UNMAP_FLAG_ALL needs 0 iova/size, small pages', () => {
    const { f } = setup();
    f.ok(map(MOCK_APERTURE_START, buffer, BUFFER_SIZE));
    expect(f.ok(unmap(MOCK_APERTURE_START, BUFFER_SIZE))['sizeBytes']).toBe(s(BUFFER_SIZE));
    f.ok(map(MOCK_APERTURE_START, buffer, BUFFER_SIZE));
    f.err('EINVAL', unmap(MOCK_APERTURE_START, BUFFER_SIZE, UNMAP_FLAG_ALL));
    expect(f.ok(unmap(0, 0, UNMAP_FLAG_ALL))['sizeBytes']).toBe(s(BUFFER_SIZE));
    const iovas: number[] = [];
    for (let i = 0; i < BUFFER_PAGES; i++) {
      iovas.push(MOCK_APERTURE_START + i * PAGE_SIZE);
      f.ok(map(MOCK_APERTURE_START + i * PAGE_SIZE, buffer + i * PAGE_SIZE, PAGE_SIZE));
    }
    // A fixed shuffle (the selftest uses rand()).
    for (const i of [5, 0, 15, 7, 3, 9, 1, 12, 14, 2, 8, 11, 4, 13, 6, 10]) f.ok(unmap(iovas[i]!, PAGE_SIZE));
    expect(f.state.pinnedVmPages).toBe(0);
  });

  it('TEST_F(vfio_compat_mock_domain, huge_map): TYPE1 cuts a larger mapping, TYPE1v2 fails ENOENT', () => {
    const { f } = setup();
    f.ok(map(MOCK_APERTURE_START, buffer, BUFFER_SIZE));
    for (const i of [3, 0, 15, 8, 1, 12, 6, 10, 2, 14, 5, 9, 4, 11, 7, 13]) {
      const request = unmap(MOCK_APERTURE_START + i * PAGE_SIZE, PAGE_SIZE);
      if (version === VFIO_TYPE1_IOMMU) expect(f.ok(request)['sizeBytes']).toBe(s(PAGE_SIZE));
      else f.err('ENOENT', request);
    }
  });
});

describe('the compat container through VFIO groups and what it answers unlike type1', () => {
  function container(devices = [vtdDevice(0)]) {
    const f = new Fixture({ devices, openedAsVfio: true });
    f.ok({ kind: 'vfioGroupSetContainer' });
    f.ok({ kind: 'vfioGroupOpenDevice', deviceIndex: 0 });
    f.ok({ kind: 'vfioSetIommu', type: VFIO_TYPE1v2_IOMMU });
    return f;
  }

  it('a group opened into the container attaches to the compat IOAS; maps are charged to mm->locked_vm', () => {
    const f = container();
    f.ok(map(0x100000, buffer, 2 * PAGE_SIZE));
    expect(f.state.accountMode).toBe('mm');
    expect(f.state.process.lockedVmPages).toBe(2);
    expect(f.state.userLockedVmPages).toBe(0);
    expect(f.ok({ kind: 'vfioCheckExtension', extension: VFIO_DMA_CC_IOMMU })['value']).toBe(1);
  });

  it('CHECK_EXTENSION: UNMAP_ALL 1, NESTING 0, UPDATE_VADDR 0 (type1 answers 1 for the last)', () => {
    const f = container();
    expect(f.ok({ kind: 'vfioCheckExtension', extension: VFIO_UNMAP_ALL })['value']).toBe(1);
    expect(f.ok({ kind: 'vfioCheckExtension', extension: VFIO_TYPE1_NESTING_IOMMU })['value']).toBe(0);
    expect(f.ok({ kind: 'vfioCheckExtension', extension: VFIO_UPDATE_VADDR })['value']).toBe(0);
  });

  it('MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR and UNMAP_DMA with FLAG_VADDR or GET_DIRTY_BITMAP are EINVAL', () => {
    const f = container();
    f.err('EINVAL', map(0x100000, buffer, PAGE_SIZE, 4));
    f.err('EINVAL', unmap(0x100000, PAGE_SIZE, 4));
    f.err('EINVAL', unmap(0x100000, PAGE_SIZE, 1));
    f.err('ENOTTY', { kind: 'vfioDirtyPages' });
  });

  it('UNMAP_DMA of an empty range is ENOENT (type1: success, 0 bytes); overflow is EOVERFLOW (type1: EINVAL)', () => {
    const f = container();
    f.err('ENOENT', unmap(0x100000, PAGE_SIZE));
    f.err('EOVERFLOW', { ...unmap(PAGE_SIZE, 0), sizeBytes: '18446744073709551615' });
  });

  it('MAP_DMA without READ or WRITE: VT-d refuses the area EINVAL at fill (type1: EINVAL before anything)', () => {
    const f = container();
    f.err('EINVAL', map(0x100000, buffer, PAGE_SIZE, 0));
  });

  it('VFIO_SET_IOMMU may be repeated (type1: EINVAL once the container has a backend)', () => {
    const f = container();
    f.ok({ kind: 'vfioSetIommu', type: VFIO_TYPE1v2_IOMMU });
  });
});
