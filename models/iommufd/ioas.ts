/**
 * The IOAS ioctls: IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_UNMAP, IOMMU_IOAS_COPY,
 * IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_ALLOW_IOVAS, IOMMU_OPTION (RLIMIT_MODE, HUGE_PAGES).
 * Reference: docs/reference/iommufd.md §3 (order of checks per ioctl).
 *
 * Sources (v6.12 ioas.c): iommufd_ioas_alloc_ioctl (flags → -EOPNOTSUPP), iommufd_ioas_map
 * (unknown flags → -EOPNOTSUPP; iova or length ≥ ULONG_MAX → -EOVERFLOW; neither READABLE nor
 * WRITEABLE → -EINVAL; the IOAS → -ENOENT; then io_pagetable.c iopt_map_user_pages →
 * pages.c iopt_alloc_pages: length 0 → -EINVAL, uptr + length overflows → -EOVERFLOW),
 * iommufd_ioas_unmap (iova 0 with length U64_MAX is unmap-all), iommufd_ioas_copy,
 * iommufd_ioas_iova_ranges (-EMSGSIZE with the count when the buffer is short),
 * iommufd_ioas_load_iovas (start ≥ last, or overlapping ranges → -EINVAL), iopt_set_allow_iova
 * (an allowed range over reserved IOVA → -EADDRINUSE), iommufd_option_rlimit_mode,
 * iopt_disable_large_pages.
 *
 * Model restriction: `user_va`, `iova` and `length` must be multiples of 4 KiB (else -EINVAL,
 * checked right after the source's own argument checks). The source accepts byte-granular values
 * while the IOAS's iova_alignment is 1 (no domain, no pin_pages access); the model's areas are
 * whole pages.
 */
import type { IommufdConfig } from './config.js';
import { getPagesSlices, mapPages, unmapAll, unmapRange } from './io-pagetable.js';
import { iovaAlignmentBytes, overlaps, touchedPages, usableIovaRanges } from './iova.js';
import { getObject, insertObject } from './objects.js';
import { createPages } from './pages.js';
import { refuse } from './refusal.js';
import type { IoasObject, IommufdState, IovaRange, PageInterval } from './types.js';
import { PAGE_SIZE_BIG, U64_MAX, isU32, parseU64, toPage } from '../vfio/u64.js';
import type { ResultDetail } from '../result.js';

export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;
const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/** A u64 argument as bigint, -EINVAL when it is not one (it would not fit the struct field). */
export function u64Arg(text: unknown): bigint {
  const value = parseU64(text);
  if (value === null) refuse('EINVAL');
  return value;
}

/** The model restriction: a page-aligned byte value as a page number (-EINVAL otherwise). */
export function pageArg(value: bigint): number {
  if (value % PAGE_SIZE_BIG !== 0n) refuse('EINVAL');
  return toPage(value);
}

export function ioasAlloc(state: IommufdState, flags: unknown): ResultDetail {
  if (flags !== 0) refuse('EOPNOTSUPP');
  return { ioasId: createIoas(state).id };
}

/** iommufd_ioas_alloc: a new, empty IOAS. */
export function createIoas(state: IommufdState): IoasObject {
  return insertObject(state, (id) => ({
    type: 'ioas',
    id,
    users: 1,
    areas: [],
    allowed: [],
    reserved: [],
    domainHwptIds: [],
    hwptIds: [],
    accessIds: [],
    disableLargePages: false,
  }));
}

export interface IoasMapArgs {
  readonly ioasId: number;
  readonly flags: number;
  readonly userVa: string;
  readonly iova: string;
  readonly length: string;
}

/** iopt_map_user_pages from iopt_alloc_pages on: the IOVA page mapped. */
export function mapUserPages(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  userVa: bigint,
  iova: bigint,
  length: bigint,
  fixed: boolean,
  read: boolean,
  write: boolean,
): number {
  // iopt_alloc_pages
  if (length === 0n || length > U64_MAX - PAGE_SIZE_BIG) refuse('EINVAL');
  if (userVa + length > U64_MAX) refuse('EOVERFLOW');
  const vaddrPage = pageArg(userVa);
  const npages = pageArg(length);
  // Without FIXED_IOVA the iova argument is ignored (an output).
  const iovaPage = fixed ? pageArg(iova) : null;
  const accountMode = config.hooks.pagesAccountMode({
    ctxMode: state.accountMode,
    capIpcLock: state.process.capIpcLock,
  });
  const pages = createPages(state, vaddrPage, npages, write, accountMode);
  return mapPages(state, config, ioas, [{ pagesId: pages.id, pageIndex: 0, npages }], iovaPage, read, write);
}

export function ioasMap(state: IommufdState, config: IommufdConfig, args: IoasMapArgs): ResultDetail {
  if (!isU32(args.flags) || (args.flags & ~MAP_FLAGS) !== 0) refuse('EOPNOTSUPP');
  const userVa = u64Arg(args.userVa);
  const iova = u64Arg(args.iova);
  const length = u64Arg(args.length);
  if (iova >= U64_MAX || length >= U64_MAX) refuse('EOVERFLOW');
  const read = (args.flags & IOMMU_IOAS_MAP_READABLE) !== 0;
  const write = (args.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
  if (!read && !write) refuse('EINVAL');
  const ioas = getObject(state, args.ioasId, 'ioas');
  const fixed = (args.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const iovaPage = mapUserPages(state, config, ioas, userVa, iova, length, fixed, read, write);
  return { iova: (BigInt(iovaPage) * PAGE_SIZE_BIG).toString() };
}

export interface IoasUnmapArgs {
  readonly ioasId: number;
  readonly iova: string;
  readonly length: string;
}

export function ioasUnmap(state: IommufdState, config: IommufdConfig, args: IoasUnmapArgs): ResultDetail {
  const iova = u64Arg(args.iova);
  const length = u64Arg(args.length);
  const ioas = getObject(state, args.ioasId, 'ioas');
  let unmappedPages: number;
  if (iova === 0n && length === U64_MAX) unmappedPages = unmapAll(state, config, ioas);
  else {
    if (iova >= U64_MAX || length >= U64_MAX) refuse('EOVERFLOW');
    unmappedPages = unmapIova(state, config, ioas, iova, length);
  }
  return { length: (BigInt(unmappedPages) * PAGE_SIZE_BIG).toString() };
}

/** iopt_unmap_iova: length 0 → -EINVAL, past 2^64 → -EOVERFLOW, then the range walk. */
export function unmapIova(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  iova: bigint,
  length: bigint,
): number {
  if (length === 0n) refuse('EINVAL');
  if (iova + length - 1n > U64_MAX) refuse('EOVERFLOW');
  const firstPage = pageArg(iova);
  const npages = pageArg(length);
  return unmapRange(state, config, ioas, firstPage, firstPage + npages - 1);
}

export interface IoasCopyArgs {
  readonly dstIoasId: number;
  readonly srcIoasId: number;
  readonly flags: number;
  readonly dstIova: string;
  readonly srcIova: string;
  readonly length: string;
}

export function ioasCopy(state: IommufdState, config: IommufdConfig, args: IoasCopyArgs): ResultDetail {
  if (!isU32(args.flags) || (args.flags & ~MAP_FLAGS) !== 0) refuse('EOPNOTSUPP');
  const length = u64Arg(args.length);
  const srcIova = u64Arg(args.srcIova);
  const dstIova = u64Arg(args.dstIova);
  if (length >= U64_MAX || srcIova >= U64_MAX || dstIova >= U64_MAX) refuse('EOVERFLOW');
  const read = (args.flags & IOMMU_IOAS_MAP_READABLE) !== 0;
  const write = (args.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
  if (!read && !write) refuse('EINVAL');
  const src = getObject(state, args.srcIoasId, 'ioas');
  // iopt_get_pages
  if (length === 0n) refuse('EINVAL');
  if (srcIova + length - 1n > U64_MAX) refuse('EOVERFLOW');
  const slices = getPagesSlices(src, pageArg(srcIova), pageArg(length));
  const dst = getObject(state, args.dstIoasId, 'ioas');
  const fixed = (args.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const iovaPage = mapPages(state, config, dst, slices, fixed ? pageArg(dstIova) : null, read, write);
  return { dstIova: (BigInt(iovaPage) * PAGE_SIZE_BIG).toString() };
}

export function rangeToBytes(range: PageInterval): IovaRange {
  return {
    start: (BigInt(range.firstPage) * PAGE_SIZE_BIG).toString(),
    last: (BigInt(range.lastPage) * PAGE_SIZE_BIG + PAGE_SIZE_BIG - 1n).toString(),
  };
}

export interface IoasIovaRangesArgs {
  readonly ioasId: number;
  /** `num_iovas` in: how many ranges the buffer holds. */
  readonly numIovas: number;
}

/**
 * IOMMU_IOAS_IOVA_RANGES: the holes of reserved_itree. Returns the ranges that fit, the total
 * count and the alignment; -EMSGSIZE (with the count written back) when the buffer is short.
 */
export function ioasIovaRanges(state: IommufdState, args: IoasIovaRangesArgs): ResultDetail {
  if (!isU32(args.numIovas)) refuse('EINVAL');
  const ioas = getObject(state, args.ioasId, 'ioas');
  const ranges = usableIovaRanges(ioas);
  const detail = {
    numIovas: ranges.length,
    outIovaAlignment: iovaAlignmentBytes(state, ioas),
    ranges: ranges
      .slice(0, args.numIovas)
      .map((range) => {
        const bytes = rangeToBytes(range);
        return `${bytes.start}-${bytes.last}`;
      })
      .join(','),
  };
  if (ranges.length > args.numIovas) refuse('EMSGSIZE', false, detail);
  return detail;
}

export interface IoasAllowIovasArgs {
  readonly ioasId: number;
  readonly ranges: readonly IovaRange[];
}

/**
 * IOMMU_IOAS_ALLOW_IOVAS: replaces allowed_itree as a whole, or changes nothing. Byte-exact: a
 * range conflicts with the reserved pages it touches, and the allocator uses the whole pages
 * inside it.
 */
export function ioasAllowIovas(state: IommufdState, args: IoasAllowIovasArgs): void {
  const ioas = getObject(state, args.ioasId, 'ioas');
  const allowed: IovaRange[] = [];
  for (const range of args.ranges) {
    const start = u64Arg(range.start);
    const last = u64Arg(range.last);
    if (start >= last) refuse('EINVAL');
    if (allowed.some((other) => start <= BigInt(other.last) && BigInt(other.start) <= last)) refuse('EINVAL');
    allowed.push({ start: start.toString(), last: last.toString() });
  }
  const reservedHit = allowed.some((range) => {
    const pages = touchedPages(range);
    return ioas.reserved.some((reserved) => overlaps(reserved, pages.firstPage, pages.lastPage));
  });
  if (reservedHit) refuse('EADDRINUSE');
  ioas.allowed = allowed;
}

/**
 * iopt_disable_large_pages: refused -EINVAL once a domain has pages mapped; then PAGE_SIZE
 * alignment (iopt_calculate_iova_alignment cannot fail for whole-page areas).
 */
export function disableLargePages(ioas: IoasObject): void {
  if (ioas.disableLargePages) return;
  if (ioas.domainHwptIds.length > 0 && ioas.areas.length > 0) refuse('EINVAL');
  ioas.disableLargePages = true;
}

export interface OptionArgs {
  readonly optionId: 'rlimit_mode' | 'huge_pages';
  readonly op: 'get' | 'set';
  readonly objectId: number;
  readonly val64: number;
}

/** IOMMU_OPTION: RLIMIT_MODE (context-wide) and HUGE_PAGES (per IOAS). */
export function option(state: IommufdState, config: IommufdConfig, args: OptionArgs): ResultDetail {
  if (args.optionId === 'rlimit_mode') {
    if (args.objectId !== 0) refuse('EOPNOTSUPP');
    if (args.op === 'get') return { val64: state.accountMode === 'mm' ? 1 : 0 };
    if (!config.capSysResource) refuse('EPERM');
    if (Object.keys(state.objects).length > 0) refuse('EBUSY');
    if (args.val64 === 0) state.accountMode = 'user';
    else if (args.val64 === 1) state.accountMode = 'mm';
    else refuse('EINVAL');
    return { val64: args.val64 };
  }
  const ioas = getObject(state, args.objectId, 'ioas');
  if (args.op === 'get') return { val64: ioas.disableLargePages ? 0 : 1 };
  if (args.val64 === 0) disableLargePages(ioas);
  else if (args.val64 === 1) ioas.disableLargePages = false;
  else refuse('EINVAL');
  return { val64: args.val64 };
}
