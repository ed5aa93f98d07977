/**
 * Access objects (emulated devices over iommufd): the selftests access_pin, access_pin_unmap and
 * access_rw (tools/testing/selftests/iommu/iommufd.c, test_cmd_create_access = create + attach),
 * and the unmap notification with a sound and with flawed callbacks.
 */
import { describe, expect, it } from 'vitest';
import type { AccessObject, IommufdHooks } from '../../models/iommufd/index.js';
import { soundIommufdHooks } from '../../models/iommufd/index.js';
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

function createAccess(f: Fixture, ioasId: number, needsPinPages = true): number {
  const accessId = Number(f.ok({ kind: 'accessCreate', needsPinPages })['accessId']);
  f.ok({ kind: 'accessAttach', accessId, ioasId });
  return accessId;
}

function accessOf(f: Fixture, accessId: number): AccessObject {
  const access = f.state.objects[accessId];
  if (access?.type !== 'access') throw new Error('no access');
  return access;
}

const pin = (accessId: number, iova: number, length: number, write = false) =>
  ({ kind: 'accessPinPages', accessId, iova: s(iova), length: s(length), write }) as const;
const unpin = (accessId: number, iova: number, length: number) =>
  ({ kind: 'accessUnpinPages', accessId, iova: s(iova), length: s(length) }) as const;

/** The frames the process maps at the buffer's pages. */
function bufferFrames(f: Fixture, npages: number): number[] {
  return Array.from({ length: npages }, (_, i) => f.state.process.pages[BUFFER_VADDR_PAGE + i]?.mfn ?? -1);
}

describe.each([0, 1, 2])('FIXTURE(iommufd_ioas) with %i mock domains', (mockDomains) => {
  function setup() {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    for (let i = 0; i < mockDomains; i++) f.mockDomain(i, ioasId);
    return { f, ioasId };
  }

  it('TEST_F(iommufd_ioas, access_pin): single, double user, and a domain added and removed under a pin', () => {
    const { f, ioasId } = setup();
    const accessId = createAccess(f, ioasId);
    for (let npages = 1; npages < BUFFER_PAGES; npages++) {
      const length = npages * PAGE_SIZE;
      f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
      // Single map/unmap
      const mfns = String(f.ok(pin(accessId, MOCK_APERTURE_START, length))['mfns']);
      expect(mfns).toBe(bufferFrames(f, npages).join(','));
      f.ok(unpin(accessId, MOCK_APERTURE_START, length));
      // Double user
      f.ok(pin(accessId, MOCK_APERTURE_START, length));
      f.ok(pin(accessId, MOCK_APERTURE_START, length));
      f.ok(unpin(accessId, MOCK_APERTURE_START, length));
      f.ok(unpin(accessId, MOCK_APERTURE_START, length));
      // Add/remove a domain with a user: IOMMU_TEST_OP_MD_CHECK_MAP — the domain maps the user's pages.
      f.ok(pin(accessId, MOCK_APERTURE_START, length));
      const { hwptId } = f.mockDomain(3, ioasId);
      const hwpt = f.state.objects[hwptId];
      expect(hwpt?.type).toBe('hwpt_paging');
      if (hwpt?.type === 'hwpt_paging') {
        bufferFrames(f, BUFFER_PAGES).forEach((mfn, i) => {
          expect(hwpt.translations[MOCK_APERTURE_START / PAGE_SIZE + i]).toEqual({ mfn, read: true, write: true });
        });
      }
      f.ok({ kind: 'deviceUnbind', deviceIndex: 3 });
      f.ok(unpin(accessId, MOCK_APERTURE_START, length));
      f.unmap(ioasId, MOCK_APERTURE_START, BUFFER_SIZE);
      expectFrameRefcountsMatchHolders(f.state);
      expectPinnedVmMatches(f.state);
    }
    f.ok({ kind: 'accessDestroy', accessId });
    expect(f.state.pinnedVmPages).toBe(0);
  });

  it('TEST_F(iommufd_ioas, access_pin_unmap): the unmap calls the access back and its pin is gone', () => {
    const { f, ioasId } = setup();
    const accessId = createAccess(f, ioasId);
    f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    f.ok(pin(accessId, MOCK_APERTURE_START, BUFFER_SIZE));
    expect(f.unmap(ioasId, MOCK_APERTURE_START, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
    // The kernel removed the item for us (the selftest's ENOENT is its own id table; the model
    // refuses an unpin of a pin the driver does not hold).
    expect(accessOf(f, accessId).pins).toEqual([]);
    f.err('EINVAL', unpin(accessId, MOCK_APERTURE_START, BUFFER_SIZE));
    expect(f.state.pinnedVmPages).toBe(0);
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('TEST_F(iommufd_ioas, access_rw): reads and writes reach the buffer frames, one page or many', () => {
    const { f, ioasId } = setup();
    const accessId = createAccess(f, ioasId, false);
    const iova = Number(f.map(ioasId, buffer, BUFFER_SIZE));
    for (let i = 0; i < BUFFER_PAGES; i++) f.ok({ kind: 'mmap', vaddrPage: 4096 + i, npages: 1, writable: true });
    const all = f.ok({ kind: 'accessRw', accessId, iova: s(iova), length: s(BUFFER_SIZE), write: false });
    expect(String(all['mfns'])).toBe(bufferFrames(f, BUFFER_PAGES).join(','));
    const one = f.ok({ kind: 'accessRw', accessId, iova: s(iova + PAGE_SIZE), length: s(PAGE_SIZE), write: true });
    expect(one['mfns']).toBe(String(bufferFrames(f, 2)[1]));
    f.unmap(ioasId, iova, BUFFER_SIZE);
    f.ok({ kind: 'accessDestroy', accessId });
  });

  it('access destroy and replace give every pin back through the unmap callback (iommufd_access_change_ioas)', () => {
    const { f, ioasId } = setup();
    const other = f.ioasAlloc();
    const accessId = createAccess(f, ioasId);
    f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    f.ok(pin(accessId, MOCK_APERTURE_START, 2 * PAGE_SIZE));
    f.ok({ kind: 'accessReplace', accessId, ioasId: other });
    expect(accessOf(f, accessId).pins).toEqual([]);
    expect(accessOf(f, accessId).ioasId).toBe(other);
    f.err('ENOENT', pin(accessId, MOCK_APERTURE_START, PAGE_SIZE));
    f.err('EBUSY', { kind: 'destroy', id: accessId });
    f.ok({ kind: 'accessDestroy', accessId });
    f.ok({ kind: 'destroy', id: other });
    expectPinnedVmMatches(f.state);
  });
});

describe('the access unmap callback and unmap waiting (hooks)', () => {
  function pinned(hooks: Partial<IommufdHooks>) {
    const f = new Fixture({ config: { hooks: { ...soundIommufdHooks, ...hooks } } });
    const ioasId = f.ioasAlloc();
    const accessId = createAccess(f, ioasId);
    f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    f.ok(pin(accessId, MOCK_APERTURE_START, PAGE_SIZE));
    return { f, ioasId, accessId };
  }

  it('a callback that keeps its pins makes IOMMU_IOAS_UNMAP fail EDEADLOCK, the area blocked for new access', () => {
    const { f, ioasId, accessId } = pinned({ accessUnmap: () => [] });
    const detail = f.err('EDEADLOCK', {
      kind: 'ioasUnmap',
      ioasId,
      iova: s(MOCK_APERTURE_START),
      length: s(BUFFER_SIZE),
    });
    expect(detail['partial']).toBe(true);
    const ioas = f.state.objects[ioasId];
    expect(ioas?.type === 'ioas' && ioas.areas[0]?.preventAccess).toBe(true);
    f.err('EINVAL', pin(accessId, MOCK_APERTURE_START, PAGE_SIZE));
    f.err('EINVAL', { kind: 'accessRw', accessId, iova: s(MOCK_APERTURE_START), length: s(PAGE_SIZE), write: false });
  });

  it('an unmap that does not wait for accesses frees the frame the access still uses', () => {
    const { f, ioasId, accessId } = pinned({ unmapWaitsForAccesses: () => false });
    const held = accessOf(f, accessId).pins[0]?.mfns[0] ?? -1;
    f.ok({ kind: 'munmap', vaddrPage: BUFFER_VADDR_PAGE, npages: BUFFER_PAGES });
    f.unmap(ioasId, MOCK_APERTURE_START, BUFFER_SIZE);
    expect(accessOf(f, accessId).pins).toHaveLength(1);
    expect(f.state.memory.frames[held]?.refcount).toBe(0);
  });

  it('the sound unmap keeps the frame until the callback unpinned it, then frees it', () => {
    const { f, ioasId, accessId } = pinned({});
    const held = accessOf(f, accessId).pins[0]?.mfns[0] ?? -1;
    f.ok({ kind: 'munmap', vaddrPage: BUFFER_VADDR_PAGE, npages: BUFFER_PAGES });
    expect(f.state.memory.frames[held]?.refcount).toBe(1);
    f.unmap(ioasId, MOCK_APERTURE_START, BUFFER_SIZE);
    expect(accessOf(f, accessId).pins).toHaveLength(0);
    expect(f.state.memory.frames[held]?.refcount).toBe(0);
  });
});

describe('the driver unpins a pin it holds (accessUnpinHeld)', () => {
  it('unpins its k-th oldest pin, k modulo the pins it holds, as an unpin of that pin’s iova and length', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    f.mockDomain(0, ioasId);
    const accessId = createAccess(f, ioasId);
    f.mapFixed(ioasId, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    f.ok(pin(accessId, MOCK_APERTURE_START, PAGE_SIZE));
    f.ok(pin(accessId, MOCK_APERTURE_START + PAGE_SIZE, 2 * PAGE_SIZE));
    const firstPage = MOCK_APERTURE_START / PAGE_SIZE;
    // 3 modulo 2 pins: the second (index 1).
    f.ok({ kind: 'accessUnpinHeld', accessId, pin: 3 });
    expect(accessOf(f, accessId).pins.map((held) => [held.iovaPage, held.npages])).toEqual([[firstPage, 1]]);
    f.ok({ kind: 'accessUnpinHeld', accessId, pin: 0 });
    expect(accessOf(f, accessId).pins).toEqual([]);
    expectPinnedVmMatches(f.state);
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('holding no pin, or naming no access, is refused and changes nothing', () => {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const accessId = createAccess(f, ioasId);
    const before = structuredClone(f.state);
    f.err('EINVAL', { kind: 'accessUnpinHeld', accessId, pin: 0 });
    f.err('ENOENT', { kind: 'accessUnpinHeld', accessId: accessId + 1, pin: 0 });
    expect(f.state).toEqual(before);
  });
});
