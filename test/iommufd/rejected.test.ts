/**
 * One test per rejected input of the iommufd model: the errno in the source's order of checks
 * (docs/reference/iommufd.md §3–§6), and the state unchanged (`Fixture.err` compares it).
 * The world: IOAS `ioas` with a mock device attached (auto domain `hwpt`), a read-only area of
 * two buffer pages at MOCK_APERTURE_START, an access `access` (pin_pages) attached to it, and an
 * empty IOAS `spare`.
 */
import { describe, it } from 'vitest';
import type { IommufdCommand } from '../../models/iommufd/index.js';
import { Fixture, MOCK_APERTURE_START, PAGE_SIZE, UINT64_MAX, buffer, s } from './fixture.js';

interface World {
  readonly f: Fixture;
  readonly ioas: number;
  readonly spare: number;
  readonly hwpt: number;
  readonly dev: number;
  readonly access: number;
  readonly lazyAccess: number;
}

function world(options: ConstructorParameters<typeof Fixture>[0] = {}): World {
  const f = new Fixture(options);
  const ioas = f.ioasAlloc();
  const { devId: dev, hwptId: hwpt } = f.mockDomain(0, ioas);
  f.mapFixed(ioas, buffer, 2 * PAGE_SIZE, MOCK_APERTURE_START, 1 | 4);
  const access = Number(f.ok({ kind: 'accessCreate', needsPinPages: true })['accessId']);
  f.ok({ kind: 'accessAttach', accessId: access, ioasId: ioas });
  const lazyAccess = Number(f.ok({ kind: 'accessCreate', needsPinPages: false })['accessId']);
  const spare = f.ioasAlloc();
  return { f, ioas, spare, hwpt, dev, access, lazyAccess };
}

const A = MOCK_APERTURE_START;
const map = (
  ioasId: number,
  over: Partial<{ flags: number; userVa: string; iova: string; length: string }> = {},
): IommufdCommand => ({
  kind: 'ioasMap',
  ioasId,
  flags: 7,
  userVa: s(buffer),
  iova: s(A + 64 * PAGE_SIZE),
  length: s(PAGE_SIZE),
  ...over,
});
const copy = (
  w: World,
  over: Partial<{
    flags: number;
    srcIova: string;
    dstIova: string;
    length: string;
    srcIoasId: number;
    dstIoasId: number;
  }> = {},
): IommufdCommand => ({
  kind: 'ioasCopy',
  dstIoasId: w.spare,
  srcIoasId: w.ioas,
  flags: 1 | 4,
  dstIova: s(A),
  srcIova: s(A),
  length: s(PAGE_SIZE),
  ...over,
});
const pin = (accessId: number, iova: number | string, length: number | string, write = false): IommufdCommand => ({
  kind: 'accessPinPages',
  accessId,
  iova: String(iova),
  length: String(length),
  write,
});

type Row = readonly [string, string, (w: World) => IommufdCommand, ConstructorParameters<typeof Fixture>[0]?];

const rows: readonly Row[] = [
  // IOMMU_DESTROY (iommufd_object_remove)
  ['destroy: no such id', 'ENOENT', () => ({ kind: 'destroy', id: 99 })],
  ['destroy: an IOAS a hwpt uses', 'EBUSY', (w) => ({ kind: 'destroy', id: w.ioas })],
  ['destroy: a hwpt a device uses', 'EBUSY', (w) => ({ kind: 'destroy', id: w.hwpt })],
  ['destroy: a bound device (its driver holds it)', 'EBUSY', (w) => ({ kind: 'destroy', id: w.dev })],
  ['destroy: an access (its driver holds it)', 'EBUSY', (w) => ({ kind: 'destroy', id: w.access })],
  // IOMMU_IOAS_ALLOC
  ['ioas alloc: flags', 'EOPNOTSUPP', () => ({ kind: 'ioasAlloc', flags: 1 })],
  // IOMMU_IOAS_MAP
  ['map: unknown flag', 'EOPNOTSUPP', (w) => map(w.ioas, { flags: 8 })],
  ['map: unknown flag before a bad IOAS', 'EOPNOTSUPP', () => map(99, { flags: 8 })],
  ['map: iova ULONG_MAX', 'EOVERFLOW', (w) => map(w.ioas, { iova: UINT64_MAX })],
  ['map: length ULONG_MAX', 'EOVERFLOW', (w) => map(w.ioas, { length: UINT64_MAX })],
  ['map: neither READABLE nor WRITEABLE', 'EINVAL', (w) => map(w.ioas, { flags: 1 })],
  ['map: no such IOAS', 'ENOENT', () => map(99)],
  ['map: the id of a hwpt (wrong type)', 'ENOENT', (w) => map(w.hwpt)],
  ['map: length 0', 'EINVAL', (w) => map(w.ioas, { length: '0' })],
  [
    'map: user_va + length past 2^64',
    'EOVERFLOW',
    (w) => map(w.ioas, { userVa: s(2n ** 64n - 4096n), length: s(2 * PAGE_SIZE) }),
  ],
  ['map: not page aligned (model restriction)', 'EINVAL', (w) => map(w.ioas, { length: '100' })],
  ['map: a fixed iova not page aligned (model restriction)', 'EINVAL', (w) => map(w.ioas, { iova: s(A + 100) })],
  [
    'map: fixed iova + length past 2^64',
    'EOVERFLOW',
    (w) => map(w.spare, { iova: s(2n ** 64n - 4096n), length: s(2 * PAGE_SIZE) }),
  ],
  ['map: fixed iova on reserved IOVA (outside the aperture)', 'EINVAL', (w) => map(w.ioas, { iova: '0' })],
  ['map: fixed iova over an area', 'EEXIST', (w) => map(w.ioas, { iova: s(A + PAGE_SIZE) })],
  ['map: no room for an allocated iova', 'ENOSPC', (w) => map(w.ioas, { flags: 6, length: s(2 ** 31) })],
  ['map: pinning unmapped memory into the domain', 'EFAULT', (w) => map(w.ioas, { userVa: s(8 * PAGE_SIZE) })],
  [
    'map: pinning beyond RLIMIT_MEMLOCK',
    'ENOMEM',
    (w) => map(w.ioas, { length: s(3 * PAGE_SIZE) }),
    { memlockLimitPages: 4 },
  ],
  // IOMMU_IOAS_UNMAP
  [
    'unmap: iova ULONG_MAX',
    'EOVERFLOW',
    (w) => ({ kind: 'ioasUnmap', ioasId: w.ioas, iova: UINT64_MAX, length: s(PAGE_SIZE) }),
  ],
  ['unmap: length 0', 'EINVAL', (w) => ({ kind: 'ioasUnmap', ioasId: w.ioas, iova: s(A), length: '0' })],
  [
    'unmap: iova + length past 2^64',
    'EOVERFLOW',
    (w) => ({ kind: 'ioasUnmap', ioasId: w.ioas, iova: s(2n ** 64n - 4096n), length: s(2 * PAGE_SIZE) }),
  ],
  [
    'unmap: nothing mapped there',
    'ENOENT',
    (w) => ({ kind: 'ioasUnmap', ioasId: w.ioas, iova: s(A + 64 * PAGE_SIZE), length: s(PAGE_SIZE) }),
  ],
  [
    'unmap: part of an area',
    'ENOENT',
    (w) => ({ kind: 'ioasUnmap', ioasId: w.ioas, iova: s(A), length: s(PAGE_SIZE) }),
  ],
  ['unmap: not an IOAS', 'ENOENT', (w) => ({ kind: 'ioasUnmap', ioasId: w.access, iova: s(A), length: s(PAGE_SIZE) })],
  // IOMMU_IOAS_COPY
  ['copy: unknown flag', 'EOPNOTSUPP', (w) => copy(w, { flags: 8 })],
  ['copy: length ULONG_MAX', 'EOVERFLOW', (w) => copy(w, { length: UINT64_MAX })],
  ['copy: neither READABLE nor WRITEABLE', 'EINVAL', (w) => copy(w, { flags: 1 })],
  ['copy: no source IOAS', 'ENOENT', (w) => copy(w, { srcIoasId: 99 })],
  ['copy: length 0', 'EINVAL', (w) => copy(w, { length: '0' })],
  ['copy: the source range not fully mapped', 'ENOENT', (w) => copy(w, { length: s(3 * PAGE_SIZE) })],
  ['copy: no destination IOAS', 'ENOENT', (w) => copy(w, { dstIoasId: 99 })],
  ['copy: writable copy of read-only pages', 'EPERM', (w) => copy(w, { flags: 1 | 2 })],
  ['copy: fixed destination over an area', 'EEXIST', (w) => copy(w, { dstIoasId: w.ioas })],
  // IOMMU_IOAS_IOVA_RANGES, ALLOW_IOVAS, OPTION
  ['iova ranges: a short buffer', 'EMSGSIZE', (w) => ({ kind: 'ioasIovaRanges', ioasId: w.ioas, numIovas: 0 })],
  ['iova ranges: not an IOAS', 'ENOENT', (w) => ({ kind: 'ioasIovaRanges', ioasId: w.hwpt, numIovas: 4 })],
  [
    'allow iovas: start >= last',
    'EINVAL',
    (w) => ({ kind: 'ioasAllowIovas', ioasId: w.spare, ranges: [{ start: '8192', last: '8192' }] }),
  ],
  [
    'allow iovas: overlapping ranges',
    'EINVAL',
    (w) => ({
      kind: 'ioasAllowIovas',
      ioasId: w.spare,
      ranges: [
        { start: '0', last: '8191' },
        { start: '4096', last: '16383' },
      ],
    }),
  ],
  [
    'allow iovas: over reserved IOVA',
    'EADDRINUSE',
    (w) => ({ kind: 'ioasAllowIovas', ioasId: w.ioas, ranges: [{ start: '0', last: '8191' }] }),
  ],
  [
    'option rlimit: object id',
    'EOPNOTSUPP',
    (w) => ({ kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: w.ioas, val64: 1 }),
  ],
  [
    'option rlimit: set without CAP_SYS_RESOURCE',
    'EPERM',
    () => ({ kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: 0, val64: 1 }),
  ],
  [
    'option rlimit: set with objects',
    'EBUSY',
    () => ({ kind: 'option', optionId: 'rlimit_mode', op: 'set', objectId: 0, val64: 1 }),
    { config: { capSysResource: true } },
  ],
  [
    'option huge pages: disable with a domain and areas',
    'EINVAL',
    (w) => ({ kind: 'option', optionId: 'huge_pages', op: 'set', objectId: w.ioas, val64: 0 }),
  ],
  // IOMMU_HWPT_ALLOC
  [
    'hwpt alloc: data type NONE with a length',
    'EINVAL',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.ioas, flags: 0, dataType: 0, dataLen: 8 }),
  ],
  [
    'hwpt alloc: no such device',
    'ENOENT',
    (w) => ({ kind: 'hwptAlloc', devId: 99, ptId: w.ioas, flags: 0, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: pt_id is nothing',
    'EINVAL',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: 99, flags: 0, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: pt_id is an access',
    'EINVAL',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.access, flags: 0, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: unknown flag',
    'EOPNOTSUPP',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.ioas, flags: 8, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: dirty tracking without the capability',
    'EOPNOTSUPP',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.ioas, flags: 2, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: driver data for a paging domain',
    'EOPNOTSUPP',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.ioas, flags: 0, dataType: 0xdead, dataLen: 4 }),
  ],
  [
    'hwpt alloc: a fault id (no fault object)',
    'ENOENT',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.ioas, flags: 4, dataType: 0, dataLen: 0 }),
  ],
  [
    'hwpt alloc: nested with flags',
    'EOPNOTSUPP',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.hwpt, flags: 1, dataType: 0xdead, dataLen: 4 }),
  ],
  [
    'hwpt alloc: nested over an auto domain',
    'EINVAL',
    (w) => ({ kind: 'hwptAlloc', devId: w.dev, ptId: w.hwpt, flags: 0, dataType: 0xdead, dataLen: 4 }),
  ],
  // Access objects
  ['access attach: already attached', 'EINVAL', (w) => ({ kind: 'accessAttach', accessId: w.access, ioasId: w.spare })],
  ['access attach: no such IOAS', 'ENOENT', (w) => ({ kind: 'accessAttach', accessId: w.lazyAccess, ioasId: 99 })],
  [
    'access replace: not attached',
    'ENOENT',
    (w) => ({ kind: 'accessReplace', accessId: w.lazyAccess, ioasId: w.spare }),
  ],
  ['access detach: not attached', 'EINVAL', (w) => ({ kind: 'accessDetach', accessId: w.lazyAccess })],
  ['access pin: ops without pin_pages (IOMMUFD_TEST)', 'EINVAL', (w) => pin(w.lazyAccess, A, PAGE_SIZE)],
  ['access pin: length 0', 'EINVAL', (w) => pin(w.access, A, 0)],
  ['access pin: iova + length past 2^64', 'EOVERFLOW', (w) => pin(w.access, s(2n ** 64n - 4096n), 2 * PAGE_SIZE)],
  ['access pin: write to a read-only area', 'EPERM', (w) => pin(w.access, A, PAGE_SIZE, true)],
  ['access pin: past the area (a gap)', 'ENOENT', (w) => pin(w.access, A, 3 * PAGE_SIZE)],
  ['access pin: nothing mapped', 'ENOENT', (w) => pin(w.access, A + 64 * PAGE_SIZE, PAGE_SIZE)],
  [
    'access unpin: no such pin',
    'EINVAL',
    (w) => ({ kind: 'accessUnpinPages', accessId: w.access, iova: s(A), length: s(PAGE_SIZE) }),
  ],
  [
    'access rw: write to a read-only area',
    'EPERM',
    (w) => ({ kind: 'accessRw', accessId: w.access, iova: s(A), length: s(PAGE_SIZE), write: true }),
  ],
  [
    'access rw: not attached',
    'ENOENT',
    (w) => ({ kind: 'accessRw', accessId: w.lazyAccess, iova: s(A), length: s(PAGE_SIZE), write: false }),
  ],
  // Devices
  [
    'device attach: pt_id of an access',
    'EINVAL',
    (w) => ({ kind: 'deviceAttach', deviceIndex: 0, ptId: w.access, flags: 0 }),
  ],
  ['device attach: no such pt_id', 'ENOENT', () => ({ kind: 'deviceAttach', deviceIndex: 0, ptId: 99, flags: 0 })],
  ['device bind: twice', 'EINVAL', () => ({ kind: 'deviceBind', deviceIndex: 0, flags: 0 })],
  ['device unbind: not bound', 'EINVAL', () => ({ kind: 'deviceUnbind', deviceIndex: 1 })],
  // Process memory
  ['mmap: over a mapped page', 'EEXIST', () => ({ kind: 'mmap', vaddrPage: 512, npages: 1, writable: true })],
  ['mmap: zero pages', 'EINVAL', () => ({ kind: 'mmap', vaddrPage: 0, npages: 0, writable: true })],
  // The selftest's ADD_RESERVED
  [
    'add reserved: over an area',
    'EADDRINUSE',
    (w) => ({ kind: 'testAddReserved', ioasId: w.ioas, start: s(A), length: s(PAGE_SIZE) }),
  ],
];

describe('rejected inputs of the iommufd model', () => {
  const cases = rows.map(([name, errno, command, options]) => ({ name, errno, command, options }));
  it.each(cases)('$name → $errno', ({ errno, command, options }) => {
    const w = world(options);
    w.f.err(errno, command(w));
  });

  it('malformed u64 strings are EINVAL, never a throw', () => {
    const w = world();
    w.f.err('EINVAL', map(w.ioas, { iova: '-1' }));
    w.f.err('EINVAL', { kind: 'ioasUnmap', ioasId: w.ioas, iova: '0x10', length: '4096' });
    w.f.err('EINVAL', { kind: 'vfioMapDma', argsz: 32, flags: 3, vaddr: 'x', iova: '0', sizeBytes: '4096' });
  });
});
