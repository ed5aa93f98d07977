/**
 * The iommufd selftests' IOAS scenarios (tools/testing/selftests/iommu/iommufd.c, FIXTURE(iommufd)
 * and FIXTURE(iommufd_ioas) with its no_domain / mock_domain / two_mock_domain variants), with the
 * selftests' expected values, on the iommufd model. test_cmd_mock_domain is a mock device bound
 * and attached to the IOAS (an auto domain).
 */
import { describe, expect, it } from 'vitest';
import {
  BUFFER_SIZE,
  Fixture,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_PAGE_SIZE,
  PAGE_SIZE,
  SIZE_MAX,
  UINT64_MAX,
  buffer,
  expectFrameRefcountsMatchHolders,
  expectPinnedVmMatches,
  s,
} from './fixture.js';

describe('FIXTURE(iommufd)', () => {
  it('TEST_F(iommufd, cmd_fail): destroying object id 0 is ENOENT', () => {
    new Fixture().err('ENOENT', { kind: 'destroy', id: 0 });
  });

  it('TEST_F(iommufd, global_options): RLIMIT_MODE get 0, set 1, set 2 EINVAL, HUGE_PAGES on id 0 ENOENT', () => {
    const f = new Fixture({ config: { capSysResource: true } });
    expect(f.ok({ kind: 'option', optionId: 'rlimit_mode', op: 'get', objectId: 0, val64: 1 })['val64']).toBe(0);
    f.ok({ kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: 0, val64: 1 });
    f.err('EINVAL', { kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: 0, val64: 2 });
    expect(f.ok({ kind: 'option', optionId: 'rlimit_mode', op: 'get', objectId: 0, val64: 0 })['val64']).toBe(1);
    f.ok({ kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: 0, val64: 0 });
    f.err('ENOENT', { kind: 'option', optionId: 'huge_pages', op: 'get', objectId: 0, val64: 0 });
    f.err('ENOENT', { kind: 'option', optionId: 'huge_pages', op: 'set', objectId: 0, val64: 0 });
  });
});

interface Variant {
  readonly name: string;
  readonly mockDomains: number;
}

const variants: readonly Variant[] = [
  { name: 'no_domain', mockDomains: 0 },
  { name: 'mock_domain', mockDomains: 1 },
  { name: 'two_mock_domain', mockDomains: 2 },
];

/** FIXTURE_SETUP(iommufd_ioas). */
function setup(variant: Variant) {
  const f = new Fixture();
  const ioasId = f.ioasAlloc();
  let baseIova = 0;
  let stdev: { devId: number; hwptId: number } | null = null;
  for (let i = 0; i < variant.mockDomains; i++) {
    stdev = f.mockDomain(i, ioasId);
    baseIova = MOCK_APERTURE_START;
  }
  return { f, ioasId, baseIova, stdev };
}

describe.each(variants)('FIXTURE(iommufd_ioas) $name', (variant) => {
  it('TEST_F(iommufd_ioas, ioas_destroy): EBUSY while a device has a HWPT using it, else destroyed', () => {
    const { f, ioasId, stdev } = setup(variant);
    if (stdev !== null) f.err('EBUSY', { kind: 'destroy', id: ioasId });
    else f.ok({ kind: 'destroy', id: ioasId });
  });

  it('TEST_F(iommufd_ioas, hwpt_attach): a device attaches to the hwpt directly (no hwpt: ENOENT)', () => {
    const { f, stdev } = setup(variant);
    if (stdev !== null) f.mockDomain(3, stdev.hwptId);
    else {
      f.ok({ kind: 'deviceBind', deviceIndex: 3, flags: 0 });
      f.err('ENOENT', { kind: 'deviceAttach', deviceIndex: 3, ptId: 99, flags: 0 });
    }
  });

  it('TEST_F(iommufd_ioas, ioas_area_destroy): an area does not change the ability to destroy', () => {
    const { f, ioasId, baseIova, stdev } = setup(variant);
    f.mapFixed(ioasId, buffer, PAGE_SIZE, baseIova);
    if (stdev !== null) f.err('EBUSY', { kind: 'destroy', id: ioasId });
    else f.ok({ kind: 'destroy', id: ioasId });
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('TEST_F(iommufd_ioas, ioas_area_auto_destroy): ten areas, then closing the context frees them', () => {
    const { f, ioasId, baseIova } = setup(variant);
    for (let i = 0; i < 10; i++) f.mapFixed(ioasId, buffer, PAGE_SIZE, baseIova + i * PAGE_SIZE);
    const ioas = f.state.objects[ioasId];
    expect(ioas?.type === 'ioas' ? ioas.areas.length : -1).toBe(10);
    // The ten areas pin the same buffer page once per iopt_pages (one per IOAS_MAP).
    if (variant.mockDomains > 0) expect(f.state.pinnedVmPages).toBe(10);
    expectPinnedVmMatches(f.state);
  });

  it('TEST_F(iommufd_ioas, area): unmap ENOENT when empty, exact areas, no split, no over-map, unmap all', () => {
    const { f, ioasId, baseIova } = setup(variant);
    for (let i = 0; i < 10; i++)
      f.err('ENOENT', { kind: 'ioasUnmap', ioasId, iova: s(i * PAGE_SIZE), length: s(PAGE_SIZE) });
    for (let i = 0; i < 10; i++) f.mapFixed(ioasId, buffer, PAGE_SIZE, baseIova + i * PAGE_SIZE);
    for (let i = 0; i < 10; i++) expect(f.unmap(ioasId, baseIova + i * PAGE_SIZE, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    // Split fails
    f.mapFixed(ioasId, buffer, PAGE_SIZE * 2, baseIova + 16 * PAGE_SIZE);
    f.err('ENOENT', { kind: 'ioasUnmap', ioasId, iova: s(baseIova + 16 * PAGE_SIZE), length: s(PAGE_SIZE) });
    f.err('ENOENT', { kind: 'ioasUnmap', ioasId, iova: s(baseIova + 17 * PAGE_SIZE), length: s(PAGE_SIZE) });
    // Over map fails
    const overMaps: [number, number][] = [
      [2, 16],
      [1, 16],
      [1, 17],
      [2, 15],
      [3, 15],
    ];
    for (const [npages, at] of overMaps) {
      f.err('EEXIST', {
        kind: 'ioasMap',
        ioasId,
        flags: 7,
        userVa: s(buffer),
        iova: s(baseIova + at * PAGE_SIZE),
        length: s(npages * PAGE_SIZE),
      });
    }
    expect(f.unmap(ioasId, 0, UINT64_MAX)).toBe(2n * BigInt(PAGE_SIZE));
    expect(f.unmap(ioasId, 0, UINT64_MAX)).toBe(0n);
    expectFrameRefcountsMatchHolders(f.state);
    expect(f.state.pinnedVmPages).toBe(0);
  });

  it('TEST_F(iommufd_ioas, unmap_fully_contained_areas): ENOENT for partial cover, 32 pages for the full one', () => {
    const setupResult = setup(variant);
    const { f, ioasId } = setupResult;
    const baseIova = setupResult.baseIova + 4 * PAGE_SIZE;
    for (let i = 0; i < 4; i++) f.mapFixed(ioasId, buffer, 8 * PAGE_SIZE, baseIova + i * 16 * PAGE_SIZE);
    f.err('ENOENT', { kind: 'ioasUnmap', ioasId, iova: s(baseIova - 4 * PAGE_SIZE), length: s(8 * PAGE_SIZE) });
    f.err('ENOENT', {
      kind: 'ioasUnmap',
      ioasId,
      iova: s(baseIova + 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE - 4 * PAGE_SIZE),
      length: s(8 * PAGE_SIZE),
    });
    const unmapped = f.unmap(ioasId, baseIova - 4 * PAGE_SIZE, 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE + 4 * PAGE_SIZE);
    expect(unmapped).toBe(BigInt(32 * PAGE_SIZE));
  });

  it('TEST_F(iommufd_ioas, area_auto_iova): aligned IOVAs, reserved avoided, allowed regions honoured', () => {
    const { f, ioasId, stdev } = setup(variant);
    const iovas: bigint[] = [];
    for (let i = 0; i < 10; i++) iovas.push(f.map(ioasId, buffer, PAGE_SIZE));
    for (const iova of iovas) f.unmap(ioasId, iova, PAGE_SIZE);
    const ffsAlignment = (length: number): bigint => BigInt(length & -length);
    // Kernel automatically aligns IOVAs properly
    iovas.length = 0;
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      iovas.push(f.map(ioasId, stdev !== null ? buffer : 2 ** 31, length));
      expect(iovas[i]! % ffsAlignment(length)).toBe(0n);
    }
    iovas.forEach((iova, i) => f.unmap(ioasId, iova, PAGE_SIZE * (i + 1)));
    // Avoids a reserved region
    const reservedStart = PAGE_SIZE * 4;
    const reservedLength = PAGE_SIZE * 100;
    f.ok({ kind: 'testAddReserved', ioasId, start: s(reservedStart), length: s(reservedLength) });
    iovas.length = 0;
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      iovas.push(f.map(ioasId, buffer, length));
      expect(iovas[i]! % ffsAlignment(length)).toBe(0n);
      expect(iovas[i]! > BigInt(reservedStart) && iovas[i]! < BigInt(reservedStart + reservedLength)).toBe(false);
    }
    iovas.forEach((iova, i) => f.unmap(ioasId, iova, PAGE_SIZE * (i + 1)));
    // Allowed region intersects with a reserved region
    f.err('EADDRINUSE', {
      kind: 'ioasAllowIovas',
      ioasId,
      ranges: [{ start: s(PAGE_SIZE), last: s(PAGE_SIZE * 600) }],
    });
    // Allocate from an allowed region
    const range =
      stdev !== null
        ? { start: MOCK_APERTURE_START + PAGE_SIZE, last: MOCK_APERTURE_START + PAGE_SIZE * 600 - 1 }
        : { start: PAGE_SIZE * 200, last: PAGE_SIZE * 600 - 1 };
    f.ok({ kind: 'ioasAllowIovas', ioasId, ranges: [{ start: s(range.start), last: s(range.last) }] });
    iovas.length = 0;
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      const iova = f.map(ioasId, buffer, length);
      iovas.push(iova);
      expect(iova % ffsAlignment(length)).toBe(0n);
      expect(iova >= BigInt(range.start) && iova <= BigInt(range.last)).toBe(true);
      expect(iova + BigInt(length) > BigInt(range.start) && iova + BigInt(length) <= BigInt(range.last) + 1n).toBe(
        true,
      );
    }
    iovas.forEach((iova, i) => f.unmap(ioasId, iova, PAGE_SIZE * (i + 1)));
  });

  it('TEST_F(iommufd_ioas, area_allowed): reserved over allowed and allowed over reserved are EADDRINUSE', () => {
    const { f, ioasId, baseIova } = setup(variant);
    const allowed = { start: s(baseIova), last: s(baseIova + PAGE_SIZE * 600) };
    f.ok({ kind: 'ioasAllowIovas', ioasId, ranges: [allowed] });
    const reserved = { kind: 'testAddReserved', ioasId, start: s(baseIova + PAGE_SIZE), length: s(PAGE_SIZE) } as const;
    f.err('EADDRINUSE', reserved);
    f.ok({ kind: 'ioasAllowIovas', ioasId, ranges: [] });
    f.ok(reserved);
    f.err('EADDRINUSE', { kind: 'ioasAllowIovas', ioasId, ranges: [allowed] });
  });

  it('TEST_F(iommufd_ioas, copy_area): copy inside one IOAS and between IOASes, sharing the pages', () => {
    const { f, ioasId, baseIova } = setup(variant);
    f.mapFixed(ioasId, buffer, PAGE_SIZE, baseIova);
    const copy = { kind: 'ioasCopy', flags: 1 | 2, length: s(PAGE_SIZE) } as const;
    f.ok({ ...copy, dstIoasId: ioasId, srcIoasId: ioasId, srcIova: s(baseIova), dstIova: s(baseIova + PAGE_SIZE) });
    const dst = f.ioasAlloc();
    f.ok({ ...copy, dstIoasId: dst, srcIoasId: ioasId, srcIova: s(baseIova), dstIova: '0' });
    // One iopt_pages, three areas.
    const pages = Object.values(f.state.pages);
    expect(pages).toHaveLength(1);
    expect(pages[0]?.users).toBe(3);
    if (variant.mockDomains > 0) expect(Object.keys(pages[0]?.pinned ?? {})).toHaveLength(1);
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('TEST_F(iommufd_ioas, iova_ranges): the holes of the reserved ranges, EMSGSIZE when short', () => {
    const { f, ioasId, stdev } = setup(variant);
    const ranges = (numIovas: number) => f.run({ kind: 'ioasIovaRanges', ioasId, numIovas });
    const first = ranges(BUFFER_SIZE / 16);
    expect(first.ok).toBe(true);
    expect(first.detail?.['numIovas']).toBe(1);
    if (stdev === null) {
      expect(first.detail?.['ranges']).toBe(`0-${SIZE_MAX}`);
      expect(first.detail?.['outIovaAlignment']).toBe(1);
    } else {
      expect(first.detail?.['ranges']).toBe(`${MOCK_APERTURE_START}-${MOCK_APERTURE_LAST}`);
      expect(first.detail?.['outIovaAlignment']).toBe(MOCK_PAGE_SIZE);
    }
    // Buffer too small
    const short = f.err('EMSGSIZE', { kind: 'ioasIovaRanges', ioasId, numIovas: 0 });
    expect(short['numIovas']).toBe(1);
    expect(short['ranges']).toBe('');
    // 2 ranges
    f.ok({ kind: 'testAddReserved', ioasId, start: s(PAGE_SIZE), length: s(PAGE_SIZE) });
    const two = f.ok({ kind: 'ioasIovaRanges', ioasId, numIovas: BUFFER_SIZE / 16 });
    if (stdev === null) {
      expect(two['numIovas']).toBe(2);
      expect(two['ranges']).toBe(`0-${PAGE_SIZE - 1},${PAGE_SIZE * 2}-${SIZE_MAX}`);
      const oneOfTwo = f.err('EMSGSIZE', { kind: 'ioasIovaRanges', ioasId, numIovas: 1 });
      expect(oneOfTwo['numIovas']).toBe(2);
      expect(oneOfTwo['ranges']).toBe(`0-${PAGE_SIZE - 1}`);
    } else {
      expect(two['numIovas']).toBe(1);
      expect(two['ranges']).toBe(`${MOCK_APERTURE_START}-${MOCK_APERTURE_LAST}`);
      expect(f.ok({ kind: 'ioasIovaRanges', ioasId, numIovas: 1 })['numIovas']).toBe(1);
    }
  });

  it('TEST_F(iommufd_ioas, ioas_option_huge_pages): get 1, set 0, get 0, set 2 EINVAL, set 1', () => {
    const { f, ioasId } = setup(variant);
    const opt = { kind: 'option', optionId: 'huge_pages', objectId: ioasId } as const;
    expect(f.ok({ ...opt, op: 'get', val64: 3 })['val64']).toBe(1);
    f.ok({ ...opt, op: 'set', val64: 0 });
    expect(f.ok({ ...opt, op: 'get', val64: 3 })['val64']).toBe(0);
    f.err('EINVAL', { ...opt, op: 'set', val64: 2 });
    f.ok({ ...opt, op: 'set', val64: 1 });
  });

  it('TEST_F(iommufd_ioas, copy_sweep): ENOENT outside the source area, else copied and unmapped (page steps)', () => {
    const { f, ioasId } = setup(variant);
    const dst = f.ioasAlloc();
    const lastIova = MOCK_APERTURE_START + BUFFER_SIZE - 1;
    f.mapFixed(ioasId, buffer, lastIova - MOCK_APERTURE_START + 1, MOCK_APERTURE_START);
    // The selftest steps by 511 bytes; the model's areas are whole pages, so it steps by pages.
    for (let iova = MOCK_APERTURE_START - PAGE_SIZE; iova <= lastIova; iova += PAGE_SIZE) {
      const copy = {
        kind: 'ioasCopy',
        flags: 1 | 2,
        dstIoasId: dst,
        srcIoasId: ioasId,
        dstIova: s(MOCK_APERTURE_START),
        srcIova: s(iova),
        length: s(PAGE_SIZE),
      } as const;
      if (iova < MOCK_APERTURE_START || iova + PAGE_SIZE - 1 > lastIova) f.err('ENOENT', copy);
      else {
        f.ok(copy);
        f.unmap(dst, MOCK_APERTURE_START, PAGE_SIZE);
      }
    }
    f.ok({ kind: 'destroy', id: dst });
  });
});

describe('IOMMU_IOAS_MAP without FIXED_IOVA', () => {
  it('ignores the iova argument (it is only an output), even one that is not page aligned', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const detail = f.ok({ kind: 'ioasMap', ioasId, flags: 6, userVa: s(buffer), iova: '123', length: s(PAGE_SIZE) });
    expect(detail['iova']).toBe(s(PAGE_SIZE));
  });
});
