/**
 * FIXTURE(iommufd_mock_domain) (one_domain / two_domains) from
 * tools/testing/selftests/iommu/iommufd.c: basic, ro_unshare, all_aligns, all_aligns_copy,
 * user_copy, replace, alloc_hwpt. check_mock_iova is "every domain maps the IOVA to the buffer's
 * frames"; check_refs(…, 1) is "the frame has its page reference and one pin". The hugepage
 * variants are left out (the model has no huge pages); the MOCK_PAGE_SIZE steps of all_aligns are
 * PAGE_SIZE steps (the model's areas are whole pages).
 */
import { describe, expect, it } from 'vitest';
import {
  BUFFER_PAGES,
  BUFFER_SIZE,
  BUFFER_VADDR_PAGE,
  Fixture,
  MOCK_APERTURE_START,
  PAGE_SIZE,
  buffer,
  expectDomainsMatchAreas,
  expectFrameRefcountsMatchHolders,
  s,
} from './fixture.js';

const MMAP_PAGES = 8;
const BUF_VADDR_PAGE = 1024;
const buf = BUF_VADDR_PAGE * PAGE_SIZE;

describe.each([1, 2])('FIXTURE(iommufd_mock_domain) with %i mock domains', (mockDomains) => {
  function setup() {
    const f = new Fixture();
    const ioasId = f.ioasAlloc();
    const hwptIds: number[] = [];
    for (let i = 0; i < mockDomains; i++) hwptIds.push(f.mockDomain(i, ioasId).hwptId);
    return { f, ioasId, hwptIds };
  }

  /** check_mock_iova: each mock domain maps [iova, +length) to the frames at vaddr. */
  function checkMockIova(
    f: Fixture,
    hwptIds: readonly number[],
    vaddrPage: number,
    iova: bigint,
    npages: number,
  ): void {
    for (const hwptId of new Set(hwptIds)) {
      const hwpt = f.state.objects[hwptId];
      if (hwpt?.type !== 'hwpt_paging') throw new Error('no hwpt');
      for (let i = 0; i < npages; i++) {
        const mfn = f.state.process.pages[vaddrPage + i]?.mfn;
        expect(mfn).not.toBeNull();
        expect(hwpt.translations[Number(iova / BigInt(PAGE_SIZE)) + i]?.mfn).toBe(mfn);
      }
    }
  }

  /** check_refs: every frame of the range holds its page reference plus `pins`. */
  function checkRefs(f: Fixture, vaddrPage: number, npages: number, pins: number): void {
    for (let i = 0; i < npages; i++) {
      const mfn = f.state.process.pages[vaddrPage + i]?.mfn;
      if (mfn === null || mfn === undefined) expect(pins).toBe(0);
      else expect(f.state.memory.frames[mfn]?.refcount).toBe(1 + pins);
    }
  }

  it('TEST_F(iommufd_mock_domain, basic): a one page map; EFAULT half way through, EFAULT on the first page', () => {
    const { f, ioasId, hwptIds } = setup();
    const iova = f.map(ioasId, buffer, PAGE_SIZE);
    checkMockIova(f, hwptIds, BUFFER_VADDR_PAGE, iova, 1);
    f.ok({ kind: 'mmap', vaddrPage: BUF_VADDR_PAGE, npages: MMAP_PAGES, writable: true });
    const mapBuf = {
      kind: 'ioasMap',
      ioasId,
      flags: 6,
      userVa: s(buf),
      iova: '0',
      length: s(MMAP_PAGES * PAGE_SIZE),
    } as const;
    f.ok({ kind: 'munmap', vaddrPage: BUF_VADDR_PAGE + MMAP_PAGES / 2, npages: MMAP_PAGES / 2 });
    f.err('EFAULT', mapBuf);
    f.ok({ kind: 'munmap', vaddrPage: BUF_VADDR_PAGE, npages: MMAP_PAGES / 2 });
    f.err('EFAULT', mapBuf);
  });

  it('TEST_F(iommufd_mock_domain, ro_unshare): a read-only map pins the frame the page maps', () => {
    const { f, ioasId, hwptIds } = setup();
    f.ok({ kind: 'mmap', vaddrPage: BUF_VADDR_PAGE, npages: 1, writable: true });
    const iova = BigInt(
      String(f.ok({ kind: 'ioasMap', ioasId, flags: 4, userVa: s(buf), iova: '0', length: s(PAGE_SIZE) })['iova']),
    );
    checkMockIova(f, hwptIds, BUF_VADDR_PAGE, iova, 1);
    // The selftest's page is a private file page the write unshares; the model's memory is
    // anonymous (no copy-on-write), so the check is that the pinned frame is still the one mapped.
    checkRefs(f, BUF_VADDR_PAGE, 1, 1);
    checkMockIova(f, hwptIds, BUF_VADDR_PAGE, iova, 1);
    f.ok({ kind: 'munmap', vaddrPage: BUF_VADDR_PAGE, npages: 1 });
  });

  it('TEST_F(iommufd_mock_domain, all_aligns): every start and length maps, is checked, holds one pin, unmaps', () => {
    const { f, ioasId, hwptIds } = setup();
    f.ok({ kind: 'mmap', vaddrPage: BUF_VADDR_PAGE, npages: MMAP_PAGES, writable: true });
    checkRefs(f, BUF_VADDR_PAGE, MMAP_PAGES, 0);
    for (let start = 0; start < MMAP_PAGES; start++) {
      for (let end = start + 1; end < MMAP_PAGES; end++) {
        const iova = f.map(ioasId, buf + start * PAGE_SIZE, (end - start) * PAGE_SIZE);
        checkMockIova(f, hwptIds, BUF_VADDR_PAGE + start, iova, end - start);
        checkRefs(f, BUF_VADDR_PAGE + start, end - start, 1);
        f.unmap(ioasId, iova, (end - start) * PAGE_SIZE);
      }
    }
    checkRefs(f, BUF_VADDR_PAGE, MMAP_PAGES, 0);
  });

  it('TEST_F(iommufd_mock_domain, all_aligns_copy): a domain added and destroyed while the area exists', () => {
    const { f, ioasId, hwptIds } = setup();
    f.ok({ kind: 'mmap', vaddrPage: BUF_VADDR_PAGE, npages: MMAP_PAGES, writable: true });
    for (let start = 0; start < MMAP_PAGES; start++) {
      for (let end = start + 1; end < MMAP_PAGES; end++) {
        const iova = f.map(ioasId, buf + start * PAGE_SIZE, (end - start) * PAGE_SIZE);
        // A device of its own IOMMU group joins the IOAS's existing auto domain (a mock
        // domain is compatible with every mock device), as the selftest's second mock domain.
        const added = f.mockDomain(3, ioasId);
        checkMockIova(f, [...hwptIds, added.hwptId], BUF_VADDR_PAGE + start, iova, end - start);
        checkRefs(f, BUF_VADDR_PAGE + start, end - start, 1);
        f.ok({ kind: 'deviceUnbind', deviceIndex: 3 });
        f.unmap(ioasId, iova, (end - start) * PAGE_SIZE);
      }
    }
    checkRefs(f, BUF_VADDR_PAGE, MMAP_PAGES, 0);
  });

  it('TEST_F(iommufd_mock_domain, user_copy): pages an access pinned in an IOAS without domains, copied into one with', () => {
    const { f, ioasId, hwptIds } = setup();
    const copy = (srcIoasId: number, srcIova: bigint) =>
      ({
        kind: 'ioasCopy',
        flags: 1 | 2,
        dstIoasId: ioasId,
        srcIoasId,
        dstIova: s(MOCK_APERTURE_START),
        srcIova: s(srcIova),
        length: s(BUFFER_SIZE),
      }) as const;
    const plain = f.ioasAlloc();
    let srcIova = f.map(plain, buffer, BUFFER_SIZE);
    const accessId = Number(f.ok({ kind: 'accessCreate', needsPinPages: true })['accessId']);
    f.ok({ kind: 'accessAttach', accessId, ioasId: plain });
    f.ok({ kind: 'accessPinPages', accessId, iova: s(srcIova), length: s(BUFFER_SIZE), write: false });
    f.ok(copy(plain, srcIova));
    checkMockIova(f, hwptIds, BUFFER_VADDR_PAGE, BigInt(MOCK_APERTURE_START), BUFFER_PAGES);
    // Now replace the IOAS with a new one.
    const fresh = f.ioasAlloc();
    srcIova = f.map(fresh, buffer, BUFFER_SIZE);
    f.ok({ kind: 'accessReplace', accessId, ioasId: fresh });
    f.unmap(ioasId, MOCK_APERTURE_START, BUFFER_SIZE);
    f.ok({ kind: 'destroy', id: plain });
    // Then the same again with the new IOAS.
    f.ok({ kind: 'accessPinPages', accessId, iova: s(srcIova), length: s(BUFFER_SIZE), write: false });
    f.ok(copy(fresh, srcIova));
    checkMockIova(f, hwptIds, BUFFER_VADDR_PAGE, BigInt(MOCK_APERTURE_START), BUFFER_PAGES);
    f.ok({ kind: 'accessUnpinPages', accessId, iova: s(srcIova), length: s(BUFFER_SIZE) });
    f.ok({ kind: 'accessDestroy', accessId });
    f.ok({ kind: 'destroy', id: fresh });
    expectDomainsMatchAreas(f.state);
    expectFrameRefcountsMatchHolders(f.state);
  });

  it('TEST_F(iommufd_mock_domain, replace): replacing the IOAS frees the prior auto hwpt (ENOENT), and back', () => {
    const { f, ioasId, hwptIds } = setup();
    const other = f.ioasAlloc();
    const replace = (ptId: number) => ({ kind: 'deviceAttach', deviceIndex: 0, ptId, flags: 0 }) as const;
    f.ok(replace(other));
    if (mockDomains === 1) f.err('ENOENT', replace(hwptIds[0]!));
    f.ok(replace(other));
    if (mockDomains >= 2) {
      f.ok(replace(hwptIds[1]!));
      f.ok(replace(hwptIds[1]!));
      f.ok(replace(hwptIds[0]!));
    }
    f.ok(replace(ioasId));
    f.ok({ kind: 'destroy', id: other });
    expectDomainsMatchAreas(f.state);
  });

  it('TEST_F(iommufd_mock_domain, alloc_hwpt): unknown flags EOPNOTSUPP; a rotation with EBUSY on the hwpt in use', () => {
    const { f, ioasId } = setup();
    for (let i = 0; i < mockDomains; i++) {
      const devId = f.state.boundDevices[i]!;
      const alloc = (flags: number) =>
        ({ kind: 'hwptAlloc', devId, ptId: ioasId, flags, dataType: 0, dataLen: 0 }) as const;
      f.err('EOPNOTSUPP', alloc(~1 >>> 0));
      const first = Number(f.ok(alloc(0))['hwptId']);
      const second = Number(f.ok(alloc(1))['hwptId']);
      const replace = (ptId: number) => ({ kind: 'deviceAttach', deviceIndex: i, ptId, flags: 0 }) as const;
      f.ok(replace(first));
      f.err('EBUSY', { kind: 'destroy', id: first });
      f.ok(replace(second));
      f.err('EBUSY', { kind: 'destroy', id: second });
      f.ok(replace(ioasId));
      f.ok({ kind: 'destroy', id: second });
      f.mockDomain(3, first);
      f.ok({ kind: 'deviceUnbind', deviceIndex: 3 });
      f.ok({ kind: 'destroy', id: first });
    }
  });
});
