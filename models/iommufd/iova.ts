/**
 * The IOVA side of an io_pagetable: which IOVA is taken (areas), reserved (reserved_itree) or
 * allowed (allowed_itree), the allocator's choice, the usable ranges reported to userspace, and
 * iova_alignment. Every interval is inclusive `[firstPage, lastPage]`.
 * Reference: docs/reference/iommufd.md §3.2 (allocation), §3.5 (ranges), §3.6 (reserved).
 *
 * Sources (v6.12 io_pagetable.c): iopt_alloc_iova (alignment: roundup_pow_of_two(length), capped
 * by the user VA's lowest set bit when it is not 0; allowed spans clipped to
 * [PAGE_SIZE, ULONG_MAX - PAGE_SIZE], the whole of it when none is set; the first hole of
 * reserved ∪ areas in each allowed span where the aligned start fits; -ENOSPC otherwise),
 * iopt_check_iova (reserved → -EINVAL, an area → -EEXIST), iopt_reserve_iova (an area or an
 * allowed range in the way → -EADDRINUSE), iopt_calculate_iova_alignment; ioas.c
 * iommufd_ioas_iova_ranges (the holes of reserved_itree over [0, ULONG_MAX]).
 */
import { PAGE_LIMIT } from '../vfio/u64.js';
import { refuse } from './refusal.js';
import type { IoasObject, IommufdState, IovaRange, PageInterval, ReservedRange } from './types.js';

/** The last page of the u64 IOVA space. */
export const LAST_IOVA_PAGE = PAGE_LIMIT - 1;

export function overlaps(a: PageInterval, firstPage: number, lastPage: number): boolean {
  return a.firstPage <= lastPage && firstPage <= a.lastPage;
}

export function areaLastPage(area: { readonly iovaPage: number; readonly npages: number }): number {
  return area.iovaPage + area.npages - 1;
}

/** `iopt_area_iter_first`: the lowest area that intersects `[firstPage, lastPage]`. */
export function firstAreaIn(ioas: IoasObject, firstPage: number, lastPage: number) {
  return ioas.areas.find((area) => area.iovaPage <= lastPage && firstPage <= areaLastPage(area));
}

export function reservedIn(ioas: IoasObject, firstPage: number, lastPage: number): boolean {
  return ioas.reserved.some((range) => overlaps(range, firstPage, lastPage));
}

/** The pages a byte range touches (what conflicts with reserved IOVA or an area). */
export function touchedPages(range: IovaRange): PageInterval {
  return { firstPage: Number(BigInt(range.start) / 4096n), lastPage: Number(BigInt(range.last) / 4096n) };
}

/** The whole pages inside a byte range (what the allocator can hand out), or null. */
export function innerPages(range: IovaRange): PageInterval | null {
  const firstPage = Number((BigInt(range.start) + 4095n) / 4096n);
  const lastPage = Number((BigInt(range.last) + 1n) / 4096n) - 1;
  return firstPage <= lastPage ? { firstPage, lastPage } : null;
}

/** The union of intervals as sorted, merged, disjoint intervals. */
export function mergeIntervals(intervals: readonly PageInterval[]): PageInterval[] {
  const sorted = [...intervals].sort((a, b) => a.firstPage - b.firstPage);
  const merged: PageInterval[] = [];
  for (const next of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && next.firstPage <= last.lastPage + 1) {
      merged[merged.length - 1] = { firstPage: last.firstPage, lastPage: Math.max(last.lastPage, next.lastPage) };
    } else merged.push({ firstPage: next.firstPage, lastPage: next.lastPage });
  }
  return merged;
}

/** The holes of `used` inside `[firstPage, lastPage]`, in order (interval_tree_for_each_span). */
export function holesIn(used: readonly PageInterval[], firstPage: number, lastPage: number): PageInterval[] {
  const holes: PageInterval[] = [];
  let cursor = firstPage;
  for (const range of mergeIntervals(used)) {
    if (range.lastPage < cursor) continue;
    if (range.firstPage > lastPage) break;
    if (range.firstPage > cursor) holes.push({ firstPage: cursor, lastPage: range.firstPage - 1 });
    cursor = range.lastPage + 1;
    if (cursor > lastPage) return holes;
  }
  holes.push({ firstPage: cursor, lastPage });
  return holes;
}

function alignUp(page: number, alignmentPages: number): number {
  return Math.ceil(page / alignmentPages) * alignmentPages;
}

function roundUpPowerOfTwo(value: number): number {
  let power = 1;
  while (power < value) power *= 2;
  return power;
}

/** The lowest set bit of a positive page number (`1UL << __ffs64(uptr)`, in pages). */
function lowestSetBit(page: number): number {
  let bit = 1;
  while (Math.floor(page / bit) % 2 === 0) bit *= 2;
  return bit;
}

/**
 * iopt_alloc_iova for a page-aligned user VA: the first IOVA page the allocator picks, or
 * -EOVERFLOW (length 0 or ≥ ULONG_MAX / 2) / -ENOSPC.
 */
export function allocIova(ioas: IoasObject, npages: number, vaddrPage: number): number {
  if (npages === 0 || npages >= PAGE_LIMIT / 2) refuse('EOVERFLOW');
  const lengthAlignment = roundUpPowerOfTwo(npages);
  const alignment = vaddrPage === 0 ? lengthAlignment : Math.min(lengthAlignment, lowestSetBit(vaddrPage));
  // Allowed spans, clipped to [PAGE_SIZE, ULONG_MAX - PAGE_SIZE].
  const window: PageInterval = { firstPage: 1, lastPage: LAST_IOVA_PAGE - 1 };
  const allowed =
    ioas.allowed.length === 0
      ? [window]
      : mergeIntervals(ioas.allowed.map(innerPages).filter((range): range is PageInterval => range !== null))
          .filter((range) => overlaps(range, window.firstPage, window.lastPage))
          .map((range) => ({
            firstPage: Math.max(range.firstPage, window.firstPage),
            lastPage: Math.min(range.lastPage, window.lastPage),
          }));
  const used: PageInterval[] = [
    ...ioas.reserved,
    ...ioas.areas.map((area) => ({ firstPage: area.iovaPage, lastPage: areaLastPage(area) })),
  ];
  for (const span of allowed) {
    const spanStart = alignUp(span.firstPage, alignment);
    if (spanStart > span.lastPage || span.lastPage - spanStart < npages - 1) continue;
    for (const hole of holesIn(used, spanStart, span.lastPage)) {
      const start = alignUp(hole.firstPage, alignment);
      if (start <= hole.lastPage && hole.lastPage - start >= npages - 1) return start;
    }
  }
  return refuse('ENOSPC');
}

/** iopt_check_iova for a fixed IOVA: -EOVERFLOW past 2^64, -EINVAL on reserved, -EEXIST on an area. */
export function checkFixedIova(ioas: IoasObject, iovaPage: number, npages: number): void {
  const lastPage = iovaPage + npages - 1;
  if (lastPage > LAST_IOVA_PAGE) refuse('EOVERFLOW');
  if (reservedIn(ioas, iovaPage, lastPage)) refuse('EINVAL');
  if (firstAreaIn(ioas, iovaPage, lastPage) !== undefined) refuse('EEXIST');
}

/** iopt_reserve_iova: -EADDRINUSE when an area or an allowed range intersects. */
export function reserveIova(ioas: IoasObject, range: PageInterval, owner: string): void {
  if (firstAreaIn(ioas, range.firstPage, range.lastPage) !== undefined) refuse('EADDRINUSE');
  if (ioas.allowed.some((allowed) => overlaps(touchedPages(allowed), range.firstPage, range.lastPage)))
    refuse('EADDRINUSE');
  const reserved: ReservedRange = { firstPage: range.firstPage, lastPage: range.lastPage, owner };
  ioas.reserved.push(reserved);
}

/** iopt_remove_reserved_iova(iopt, owner). */
export function removeReserved(ioas: IoasObject, owner: string): void {
  ioas.reserved = ioas.reserved.filter((range) => range.owner !== owner);
}

/** The usable IOVA ranges IOMMU_IOAS_IOVA_RANGES and VFIO_IOMMU_GET_INFO report. */
export function usableIovaRanges(ioas: IoasObject): PageInterval[] {
  return holesIn(ioas.reserved, 0, LAST_IOVA_PAGE);
}

/**
 * `iopt->iova_alignment` in bytes (iopt_calculate_iova_alignment): PAGE_SIZE with large pages
 * disabled, else 1; raised to each domain's smallest page size and to PAGE_SIZE by an access that
 * needs pin_pages.
 */
export function iovaAlignmentBytes(state: IommufdState, ioas: IoasObject): number {
  let alignment = ioas.disableLargePages ? 4096 : 1;
  for (const hwptId of ioas.domainHwptIds) {
    const hwpt = state.objects[hwptId];
    if (hwpt?.type === 'hwpt_paging') alignment = Math.max(alignment, lowestSetBit(hwpt.pgsizeBitmap));
  }
  for (const accessId of ioas.accessIds) {
    const access = state.objects[accessId];
    if (access?.type === 'access' && access.needsPinPages) alignment = Math.max(alignment, 4096);
  }
  return alignment;
}
