/**
 * ioctl arguments as unsigned 64-bit integers.
 *
 * `vaddr`, `iova` and `size` of VFIO_IOMMU_MAP_DMA / UNMAP_DMA are u64 in the uAPI and the
 * interesting inputs sit near 2^64, which a JS number cannot hold and `bigint` cannot put in JSON.
 * Commands therefore carry them as decimal strings (`'18446744073709547520'`); the operations parse
 * them into `bigint` for the checks (alignment, wrap-around, overlap) and store accepted mappings
 * by page number, which is exact (an aligned u64 divided by 4096 is below 2^52).
 *
 * A string that is not the decimal form of a u64 (negative, fractional, hexadecimal, above
 * 2^64 - 1) cannot be put in the real struct at all; the operations treat it like a field that
 * does not fit the kernel type (§1.3 step 2): `EINVAL`. `argsz` and `flags` are u32 numbers, with
 * the same rule.
 */
export const PAGE_SIZE = 4096;
export const PAGE_SIZE_BIG = 4096n;
export const U64_MAX = (1n << 64n) - 1n;
/** 2^64 / 4096: one past the last page number a u64 address can name. */
export const PAGE_LIMIT = 2 ** 52;

/** The value of a decimal u64 string, or `null` when the string is not one. */
export function parseU64(text: unknown): bigint | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 20 || !/^[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  return value <= U64_MAX ? value : null;
}

export function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/** The decimal u64 string of a page number's first byte. */
export function pageToU64(page: number): string {
  return (BigInt(page) * PAGE_SIZE_BIG).toString();
}

/** The decimal u64 string of a page count in bytes. */
export function pagesToBytes(npages: number): string {
  return (BigInt(npages) * PAGE_SIZE_BIG).toString();
}

/** Page number of an address already known to be page aligned (exact: below 2^52). */
export function toPage(address: bigint): number {
  return Number(address / PAGE_SIZE_BIG);
}

/** A page number usable as an index: a non-negative integer below 2^52. */
export function isPageNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < PAGE_LIMIT;
}
