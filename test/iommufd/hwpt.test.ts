/**
 * HWPTs and devices: IOMMU_HWPT_ALLOC (paging, NEST_PARENT, nested with the selftest mock's data),
 * VFIO cdev bind / attach / replace / detach / unbind, auto domains, reserved regions (the MSI
 * window, the aperture), the domain's content (filled on attach, unfilled on unmap and detach) and
 * the accounting of pinned pages. Selftest scenarios named where they follow one
 * (tools/testing/selftests/iommu/iommufd.c, FIXTURE(iommufd_mock_domain), iommufd_ioas
 * fork_gone).
 */
import { describe, expect, it } from 'vitest';
import type { HwptPagingObject } from '../../models/iommufd/index.js';
import { mockDevice, soundIommufdHooks, vtdDevice } from '../../models/iommufd/index.js';
import {
  BUFFER_PAGES,
  BUFFER_SIZE,
  BUFFER_VADDR_PAGE,
  Fixture,
  MOCK_APERTURE_START,
  PAGE_SIZE,
  buffer,
  expectFrameRefcountsMatchHolders,
  expectPinnedVmMatches,
  s,
} from './fixture.js';

const NEST_PARENT = 1;
const DATA_SELFTEST = 0xdead;

function hwptOf(f: Fixture, id: number): HwptPagingObject {
  const hwpt = f.state.objects[id];
  if (hwpt?.type !== 'hwpt_paging') throw new Error(`no paging hwpt ${id}`);
  return hwpt;
}

describe('IOMMU_HWPT_ALLOC and attach (mock devices)', () => {
  it('a manual paging hwpt: attach, EBUSY on destroy while attached, destroyed after detach', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const devId = Number(f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 })['devId']);
    const hwptId = Number(
      f.ok({ kind: 'hwptAlloc', devId, ptId: ioasId, flags: 0, dataType: 0, dataLen: 0 })['hwptId'],
    );
    expect(f.ok({ kind: 'deviceAttach', deviceIndex: 0, ptId: hwptId, flags: 0 })['ptId']).toBe(hwptId);
    f.err('EBUSY', { kind: 'destroy', id: hwptId });
    f.err('EBUSY', { kind: 'destroy', id: devId });
    f.err('EBUSY', { kind: 'destroy', id: ioasId });
    f.ok({ kind: 'deviceDetach', deviceIndex: 0, flags: 0 });
    // A manual hwpt outlives its devices.
    expect(f.state.objects[hwptId]).toBeDefined();
    f.ok({ kind: 'destroy', id: hwptId });
    f.ok({ kind: 'destroy', id: ioasId });
  });

  it('auto domains: a second device of the IOAS shares the auto hwpt; it goes with the last device', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const a = f.mockDomain(0, ioasId);
    const b = f.mockDomain(1, ioasId);
    expect(b.hwptId).toBe(a.hwptId);
    expect(hwptOf(f, a.hwptId).users).toBe(3);
    f.ok({ kind: 'deviceUnbind', deviceIndex: 0 });
    f.ok({ kind: 'deviceUnbind', deviceIndex: 1 });
    expect(f.state.objects[a.hwptId]).toBeUndefined();
    f.ok({ kind: 'destroy', id: ioasId });
    expect(Object.keys(f.state.objects)).toEqual([]);
  });

  it('nested: NEST_PARENT required, selftest data required, the parent busy while the child lives', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const devId = Number(f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 })['devId']);
    const plain = Number(f.ok({ kind: 'hwptAlloc', devId, ptId: ioasId, flags: 0, dataType: 0, dataLen: 0 })['hwptId']);
    f.err('EINVAL', { kind: 'hwptAlloc', devId, ptId: plain, flags: 0, dataType: DATA_SELFTEST, dataLen: 4, iotlb: 0 });
    const parent = Number(
      f.ok({ kind: 'hwptAlloc', devId, ptId: ioasId, flags: NEST_PARENT, dataType: 0, dataLen: 0 })['hwptId'],
    );
    f.err('EOPNOTSUPP', { kind: 'hwptAlloc', devId, ptId: parent, flags: 0, dataType: 1, dataLen: 4 });
    f.err('EINVAL', { kind: 'hwptAlloc', devId, ptId: parent, flags: 0, dataType: 0, dataLen: 4 });
    f.err('EINVAL', { kind: 'hwptAlloc', devId, ptId: parent, flags: 0, dataType: DATA_SELFTEST, dataLen: 0 });
    const nested = Number(
      f.ok({ kind: 'hwptAlloc', devId, ptId: parent, flags: 0, dataType: DATA_SELFTEST, dataLen: 4, iotlb: 0 })[
        'hwptId'
      ],
    );
    f.err('EBUSY', { kind: 'destroy', id: parent });
    // Attached to the nested hwpt, the device translates through the parent's stage 2.
    f.ok({ kind: 'deviceAttach', deviceIndex: 0, ptId: nested, flags: 0 });
    f.mapFixed(ioasId, buffer, PAGE_SIZE, MOCK_APERTURE_START);
    expect(hwptOf(f, parent).translations[MOCK_APERTURE_START / PAGE_SIZE]).toBeDefined();
    // An auto-domain parent is refused.
    const auto = f.mockDomain(1, ioasId);
    const devB = auto.devId;
    f.err('EINVAL', {
      kind: 'hwptAlloc',
      devId: devB,
      ptId: auto.hwptId,
      flags: 0,
      dataType: DATA_SELFTEST,
      dataLen: 4,
    });
    f.ok({ kind: 'deviceDetach', deviceIndex: 0, flags: 0 });
    f.ok({ kind: 'destroy', id: nested });
    f.ok({ kind: 'destroy', id: parent });
  });

  it('replace: attaching an attached device moves it (and its group) to the new IOAS; the old auto domain goes', () => {
    const f = new Fixture();
    const first = f.ioasAlloc();
    const second = f.ioasAlloc();
    f.mapFixed(first, buffer, PAGE_SIZE, MOCK_APERTURE_START);
    const { hwptId: old } = f.mockDomain(0, first);
    expect(f.state.pinnedVmPages).toBe(1);
    const moved = Number(f.ok({ kind: 'deviceAttach', deviceIndex: 0, ptId: second, flags: 0 })['ptId']);
    expect(moved).not.toBe(old);
    expect(f.state.objects[old]).toBeUndefined();
    expect(f.state.groups[0]?.hwptId).toBe(moved);
    // The first IOAS has no domain left: its pages are unpinned.
    expect(f.state.pinnedVmPages).toBe(0);
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('TEST_F(iommufd_ioas, fork_gone): a domain cannot be filled from memory that is gone (EFAULT)', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    f.ok({ kind: 'munmap', vaddrPage: BUFFER_VADDR_PAGE, npages: BUFFER_PAGES });
    f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    f.err('EFAULT', { kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 0 });
  });
});

describe('the domain content (what a stack forwards to the IOMMU)', () => {
  it('is filled on attach and on map with the pinned frames and the area prot, and emptied by unmap', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, 2 * PAGE_SIZE, MOCK_APERTURE_START, 1 | 4);
    const { hwptId } = f.mockDomain(0, ioasId);
    const first = MOCK_APERTURE_START / PAGE_SIZE;
    const frame0 = f.state.process.pages[BUFFER_VADDR_PAGE]?.mfn;
    expect(hwptOf(f, hwptId).translations[first]).toEqual({ mfn: frame0, read: true, write: false });
    f.mapFixed(ioasId, buffer + 2 * PAGE_SIZE, PAGE_SIZE, MOCK_APERTURE_START + 4 * PAGE_SIZE);
    expect(Object.keys(hwptOf(f, hwptId).translations)).toHaveLength(3);
    f.unmap(ioasId, MOCK_APERTURE_START, 2 * PAGE_SIZE);
    expect(Object.keys(hwptOf(f, hwptId).translations).map(Number)).toEqual([first + 4]);
    expectPinnedVmMatches(f.state);
  });

  it('with fillDomainOnAdd off, a new domain stays empty over existing areas (the hook is consulted)', () => {
    const f = new Fixture({ config: { hooks: { ...soundIommufdHooks, fillDomainOnAdd: () => false } } });
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, PAGE_SIZE, MOCK_APERTURE_START);
    const { hwptId } = f.mockDomain(0, ioasId);
    expect(hwptOf(f, hwptId).translations).toEqual({});
  });
});

describe('reserved regions of VT-d devices: the MSI window and the aperture', () => {
  const msiIova = 0xfee00000;

  it('an area in the MSI window makes the attach EADDRINUSE; after attach the window is refused EINVAL', () => {
    const f = new Fixture({ devices: [vtdDevice(0)] });
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, PAGE_SIZE, msiIova);
    f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    f.err('EADDRINUSE', { kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 0 });
    f.unmap(ioasId, msiIova, PAGE_SIZE);
    f.ok({ kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 0 });
    f.err('EINVAL', { kind: 'ioasMap', ioasId, flags: 7, userVa: s(buffer), iova: s(msiIova), length: s(PAGE_SIZE) });
    const ranges = f.ok({ kind: 'ioasIovaRanges', ioasId, numIovas: 8 });
    expect(ranges['numIovas']).toBe(2);
    expect(ranges['ranges']).toBe(`0-${msiIova - 1},${0xfef00000}-${2 ** 48 - 1}`);
    // Detaching drops the device's reservation, and the aperture's with the auto domain.
    f.ok({ kind: 'deviceDetach', deviceIndex: 0, flags: 0 });
    expect(f.ok({ kind: 'ioasIovaRanges', ioasId, numIovas: 8 })['numIovas']).toBe(1);
  });

  it('an area beyond the aperture makes the attach EADDRINUSE', () => {
    const f = new Fixture({ devices: [vtdDevice(0)] });
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, PAGE_SIZE, 2 ** 48);
    f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    f.err('EADDRINUSE', { kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 0 });
  });

  it('a VT-d device and a mock device never share a domain (EINVAL), each gets its own auto domain', () => {
    const f = new Fixture({ devices: [vtdDevice(0), mockDevice(1)] });
    const ioasId = f.ioasAlloc();
    const vtd = f.mockDomain(0, ioasId);
    const mock = f.mockDomain(1, ioasId);
    expect(mock.hwptId).not.toBe(vtd.hwptId);
    f.err('EINVAL', { kind: 'deviceAttach', deviceIndex: 1, ptId: vtd.hwptId, flags: 0 });
  });
});

describe('a failed replace onto a hwpt of the same IOAS (device.c err_unresv)', () => {
  it("drops the group devices' reserved regions from that IOAS, as the source does: the MSI window becomes mappable", () => {
    // A second IOMMU driver with the same aperture and no reserved region of its own.
    const f = new Fixture({ devices: [vtdDevice(0), vtdDevice(1, { iommu: 'other', reservedRegions: [] })] });
    const ioasId = f.ioasAlloc();
    f.mockDomain(0, ioasId);
    const mockDev = Number(f.ok({ kind: 'deviceBind', deviceIndex: 1, flags: 0 })['devId']);
    const mockHwpt = Number(
      f.ok({ kind: 'hwptAlloc', devId: mockDev, ptId: ioasId, flags: 0, dataType: 0, dataLen: 0 })['hwptId'],
    );
    const msiMap = {
      kind: 'ioasMap',
      ioasId,
      flags: 7,
      userVa: s(buffer),
      iova: s(0xfee00000),
      length: s(PAGE_SIZE),
    } as const;
    f.err('EINVAL', msiMap);
    // The VT-d device cannot take the other driver's domain: EINVAL, the group stays on its hwpt…
    const replace = f.run({ kind: 'deviceAttach', deviceIndex: 0, ptId: mockHwpt, flags: 0 });
    expect(replace).toMatchObject({ ok: false, error: 'EINVAL', detail: { partial: true } });
    expect(f.state.groups[0]?.hwptId).not.toBe(mockHwpt);
    // …but iommufd_group_remove_reserved_iova ran on the shared IOAS at err_unresv: the attached
    // VT-d device's MSI window is no longer reserved, and IOAS_MAP accepts it.
    f.ok(msiMap);
  });
});

describe('VFIO_DEVICE_BIND_IOMMUFD', () => {
  it('refuses a device without cache coherency EINVAL, unisolated MSIs EPERM (unless allowed), a second bind EINVAL', () => {
    const f = new Fixture({ devices: [vtdDevice(0, { cacheCoherent: false }), vtdDevice(1, { msiIsolated: false })] });
    f.err('EINVAL', { kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    f.err('EPERM', { kind: 'deviceBind', deviceIndex: 1, flags: 0 });
    const unsafe = new Fixture({
      devices: [vtdDevice(1, { msiIsolated: false })],
      config: { allowUnsafeInterrupts: true },
    });
    unsafe.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    unsafe.err('EINVAL', { kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    unsafe.err('EINVAL', { kind: 'deviceBind', deviceIndex: 5, flags: 0 });
  });

  it('attach and detach need a bound device and zero flags (EINVAL); detach of an unattached device is a no-op', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    f.err('EINVAL', { kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 0 });
    f.ok({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    f.err('EINVAL', { kind: 'deviceAttach', deviceIndex: 0, ptId: ioasId, flags: 1 });
    f.err('EINVAL', { kind: 'deviceDetach', deviceIndex: 0, flags: 1 });
    f.ok({ kind: 'deviceDetach', deviceIndex: 0, flags: 0 });
    const accessId = Number(f.ok({ kind: 'accessCreate', needsPinPages: true })['accessId']);
    f.err('EINVAL', { kind: 'deviceAttach', deviceIndex: 0, ptId: accessId, flags: 0 });
  });
});

describe('accounting of pinned pages (iopt_pages_update_pinned)', () => {
  function attached(options: ConstructorParameters<typeof Fixture>[0]) {
    const f = new Fixture(options);
    const ioasId = f.ioasAlloc();
    f.mockDomain(0, ioasId);
    return { f, ioasId };
  }

  it('USER mode charges user->locked_vm, MM mode mm->locked_vm, CAP_IPC_LOCK neither; pinned_vm always', () => {
    const user = attached({});
    user.f.mapFixed(user.ioasId, buffer, 3 * PAGE_SIZE, MOCK_APERTURE_START);
    expect([user.f.state.userLockedVmPages, user.f.state.process.lockedVmPages, user.f.state.pinnedVmPages]).toEqual([
      3, 0, 3,
    ]);
    const mm = attached({ openedAsVfio: true });
    mm.f.mapFixed(mm.ioasId, buffer, 3 * PAGE_SIZE, MOCK_APERTURE_START);
    expect([mm.f.state.userLockedVmPages, mm.f.state.process.lockedVmPages, mm.f.state.pinnedVmPages]).toEqual([
      0, 3, 3,
    ]);
    const cap = attached({ capIpcLock: true });
    cap.f.mapFixed(cap.ioasId, buffer, 3 * PAGE_SIZE, MOCK_APERTURE_START);
    expect([cap.f.state.userLockedVmPages, cap.f.state.process.lockedVmPages, cap.f.state.pinnedVmPages]).toEqual([
      0, 0, 3,
    ]);
  });

  it('over RLIMIT_MEMLOCK the map fails ENOMEM and nothing stays pinned or charged', () => {
    const { f, ioasId } = attached({ memlockLimitPages: 2 });
    f.err('ENOMEM', {
      kind: 'ioasMap',
      ioasId,
      flags: 7,
      userVa: s(buffer),
      iova: s(MOCK_APERTURE_START),
      length: s(3 * PAGE_SIZE),
    });
    expect(f.state.pinnedVmPages).toBe(0);
    f.mapFixed(ioasId, buffer, 2 * PAGE_SIZE, MOCK_APERTURE_START);
    expect(f.state.userLockedVmPages).toBe(2);
  });

  it('a copy shares the pinned pages: one charge per page however many areas map it', () => {
    const { f, ioasId } = attached({});
    f.mapFixed(ioasId, buffer, 2 * PAGE_SIZE, MOCK_APERTURE_START);
    f.ok({
      kind: 'ioasCopy',
      dstIoasId: ioasId,
      srcIoasId: ioasId,
      flags: 1 | 4,
      dstIova: s(MOCK_APERTURE_START + 8 * PAGE_SIZE),
      srcIova: s(MOCK_APERTURE_START),
      length: s(2 * PAGE_SIZE),
    });
    expect(f.state.pinnedVmPages).toBe(2);
    f.unmap(ioasId, MOCK_APERTURE_START, 2 * PAGE_SIZE);
    expect(f.state.pinnedVmPages).toBe(2);
    f.unmap(ioasId, MOCK_APERTURE_START + 8 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(f.state.pinnedVmPages).toBe(0);
    expect(f.state.pages).toEqual({});
  });
});
