/**
 * VT-d second-level address arithmetic (docs/reference/vtd.md §3.1): a 4-level radix tree of 512-entry
 * tables over 48-bit IOVAs (AGAW 2: `levels = agaw + 2`, `width = 30 + 9·agaw`). Level 4 indexes
 * IOVA bits 39–47, level 3 bits 30–38, level 2 bits 21–29, level 1 bits 12–20. A leaf at level 1
 * maps 4 KiB, at level 2 2 MiB, at level 3 1 GiB.
 *
 * All arithmetic is done on JS numbers with division and remainder, never with bitwise operators
 * (which truncate to 32 bits): 48-bit IOVAs and 36-bit page numbers are exact. Inputs at or above
 * 2^53 lose precision, but every such value is far beyond the address width and is refused or
 * ignored as such, so the lost low bits never decide an outcome.
 *
 * Left out: 3- and 5-level tables (AGAW 1 and 3) — one width is enough to exercise real index
 * arithmetic; first-level (IA-32e) tables, which only nested translation (a later model) uses.
 */

export const PAGE_SIZE_BYTES = 4096;
export const SIZE_2M_BYTES = 2 ** 21;
export const SIZE_1G_BYTES = 2 ** 30;
export const ENTRIES_PER_TABLE = 512;
export const LEVEL_COUNT = 4;
export const ADDRESS_WIDTH_BITS = 48;
/** First IOVA beyond the domain's address width (`__DOMAIN_MAX_ADDR(gaw) + 1`). */
export const IOVA_LIMIT_BYTES = 2 ** ADDRESS_WIDTH_BITS;
/** First IOVA page beyond the address width. */
export const IOVA_PAGE_LIMIT = IOVA_LIMIT_BYTES / PAGE_SIZE_BYTES;

/** Table levels: 4 = root (pgd), 1 = last-level table holding 4 KiB leaves. */
export type TableLevel = 1 | 2 | 3 | 4;
/** Levels at which a leaf may sit: 1 (4 KiB), 2 (2 MiB superpage), 3 (1 GiB superpage). */
export type LeafLevel = 1 | 2 | 3;

/** Pages covered by one entry of a table at `level` (`lvl_to_nr_pages`). */
export function levelPages(level: number): number {
  return ENTRIES_PER_TABLE ** (level - 1);
}

/** Bytes covered by one entry of a table at `level`. */
export function levelBytes(level: number): number {
  return levelPages(level) * PAGE_SIZE_BYTES;
}

/** Index of `iovaPage` in a table at `level` (`pfn_level_offset`). */
export function levelIndex(iovaPage: number, level: number): number {
  return Math.floor(iovaPage / levelPages(level)) % ENTRIES_PER_TABLE;
}

/** Largest multiple of `alignment` not above `value`. */
export function alignDown(value: number, alignment: number): number {
  return value - (value % alignment);
}

/** A non-negative integer (the model's domain for addresses, sizes and frame numbers). */
export function isNatural(value: number): boolean {
  return Number.isInteger(value) && value >= 0;
}

/** Whether the half-open page ranges [aStart, aEnd) and [bStart, bEnd) intersect. */
export function rangesIntersect(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  return aStart < bEnd && bStart < aEnd;
}
