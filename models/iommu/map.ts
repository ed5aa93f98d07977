/**
 * `iommu_map` (core, `__iommu_map`) and the Intel driver's `map_pages` (docs/reference/vtd.md §3.2, §3.4).
 *
 * Order of checks: non-paging domain → EINVAL; iova or size not aligned to 4 KiB → EINVAL; the
 * range is split into the largest page sizes the alignment and the domain's page-size bitmap allow
 * (`iommu_pgsize`), and each chunk goes to the driver: page size not 4K/2M/1G or iova/paddr not
 * aligned to it → EINVAL; chunk end beyond the 48-bit width → EFAULT; neither read nor write →
 * EINVAL; read-only on a nesting parent → EINVAL; table page allocation failure → ENOMEM. Within a
 * chunk the driver writes the largest leaves that iova and frame alignment, the remaining length
 * and `cap.SLLPS` allow (`hardware_largepage_caps`). A leaf slot that is already set is a caller
 * bug: "DMA PTE already set", counted in `alreadySet`, the old PTE kept, no error.
 *
 * After a successful map, with caching mode the core's `iotlb_sync_map` invalidates the mapped
 * range (PSI, or DSI), purging cached not-present entries; without caching mode nothing is flushed.
 * Freeing an empty table from a superpage slot is followed by a range flush, as in the driver.
 *
 * Simplified: the physical address is given as a frame number, so it is always 4 KiB aligned; a
 * failing map is undone completely (Linux unmaps what it mapped and may keep empty table pages and
 * its `max_addr`); an unknown domain id is ENOENT. Left out: IOMMU_CACHE/NOEXEC/MMIO/PRIV
 * protection bits, snoop (SNP), `iommu_map_sg`, GFP flags, write-buffer flushing.
 */
import { IOVA_LIMIT_BYTES, PAGE_SIZE_BYTES, SIZE_1G_BYTES, SIZE_2M_BYTES, isNatural, levelPages } from './address.js';
import type { LeafLevel } from './address.js';
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { flatAddLeaf, flatLeaves } from './flat.js';
import { flushDetail, flushRange } from './invalidate.js';
import type { Flush } from './invalidate.js';
import { writeBack } from './coherency.js';
import type { CacheLine } from './coherency.js';
import { insertLeaf } from './page-table.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { cloneIommuState, freeTables, getDomain, isPagingType, mayRunOutOfTables, restoreIommuState } from './state.js';
import type { IommuDomain, IommuState, Translation } from './types.js';

export interface MapArgs {
  readonly domainId: number;
  readonly iova: number;
  /** First host frame of the physically contiguous range. */
  readonly frame: number;
  readonly sizeBytes: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** Driver-level request: `pgcount` pages of `pgsizeBytes` each. */
export interface MapPagesArgs {
  readonly domainId: number;
  readonly iova: number;
  readonly frame: number;
  readonly pgsizeBytes: number;
  readonly pgcount: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** The domain's page-size bitmap as sizes in bytes, ascending (`domain_super_pgsize_bitmap`). */
export function domainPageSizes(state: IommuState): number[] {
  const sizes = [PAGE_SIZE_BYTES];
  if (state.caps.superpageLevels >= 1) sizes.push(SIZE_2M_BYTES);
  if (state.caps.superpageLevels >= 2) sizes.push(SIZE_1G_BYTES);
  return sizes;
}

/**
 * `iommu_pgsize`: the biggest supported page size that fits `sizeBytes` and the alignment of both
 * addresses, and how many of them to map before the next bigger size becomes usable.
 */
export function iommuPgsize(
  pageSizes: readonly number[],
  iova: number,
  paddr: number,
  sizeBytes: number,
): { pgsizeBytes: number; count: number } {
  const fitting = pageSizes.filter((size) => size <= sizeBytes && iova % size === 0 && paddr % size === 0);
  const pgsizeBytes = fitting[fitting.length - 1] ?? PAGE_SIZE_BYTES;
  const next = pageSizes.find((size) => size > pgsizeBytes);
  let size = sizeBytes;
  // A bigger page is only worth waiting for if both addresses sit at the same offset within it.
  if (next !== undefined && iova % next === paddr % next) {
    const offset = next - (iova % next);
    if (offset + next <= size) size = offset;
  }
  return { pgsizeBytes, count: Math.floor(size / pgsizeBytes) };
}

/** `hardware_largepage_caps`: the leaf level for the next leaf at (iovaPage, frame) with `pages` left. */
export function largepageLevel(superpageLevels: number, iovaPage: number, frame: number, pages: number): LeafLevel {
  let level = 1;
  let support = superpageLevels;
  let iovaPart = iovaPage;
  let framePart = frame;
  let remaining = pages;
  while (support > 0 && iovaPart % 512 === 0 && framePart % 512 === 0) {
    remaining = Math.floor(remaining / 512);
    if (remaining === 0) break;
    iovaPart /= 512;
    framePart /= 512;
    level += 1;
    support -= 1;
  }
  return level as LeafLevel;
}

interface MapTally {
  alreadySet: number;
  invalidations: number;
}

/** The checks of `intel_iommu_map_pages` / `intel_iommu_map` / `__domain_mapping`, in order. */
function driverCheck(domain: IommuDomain, args: MapPagesArgs): string | null {
  const { iova, pgsizeBytes, pgcount } = args;
  const paddr = args.frame * PAGE_SIZE_BYTES;
  if (pgsizeBytes !== PAGE_SIZE_BYTES && pgsizeBytes !== SIZE_2M_BYTES && pgsizeBytes !== SIZE_1G_BYTES) {
    return 'EINVAL';
  }
  if (iova % pgsizeBytes !== 0 || paddr % pgsizeBytes !== 0) return 'EINVAL';
  if (iova + pgsizeBytes * pgcount > IOVA_LIMIT_BYTES) return 'EFAULT';
  if (!args.read && !args.write) return 'EINVAL';
  if (!args.write && domain.nestingParent) return 'EINVAL';
  return null;
}

/** `__domain_mapping`: writes the leaves of one driver request. Returns an error name or null. */
function domainMapping(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  args: MapPagesArgs,
  existing: readonly Translation[],
  tally: MapTally,
): string | null {
  let iovaPage = args.iova / PAGE_SIZE_BYTES;
  let frame = args.frame;
  let remaining = (args.pgsizeBytes / PAGE_SIZE_BYTES) * args.pgcount;
  while (remaining > 0) {
    const level = largepageLevel(state.caps.superpageLevels, iovaPage, frame, remaining);
    const pages = levelPages(level);
    const leaf = { iovaPage, frame, pages, read: args.read, write: args.write, level };
    const written: CacheLine[] = [];
    const outcome = insertLeaf(state, config, domain, leaf, written);
    // domain_flush_cache over the PTEs written (`coherency.ts`), before any IOTLB flush below.
    writeBack(state, config.writeBack, 'map', written);
    if (outcome.kind === 'enomem') return 'ENOMEM';
    if (outcome.kind === 'already-set') tally.alreadySet += 1;
    else if (outcome.freedTableIds.length > 0) {
      // switch_to_super_page: the emptied tables go, and the range is flushed.
      freeTables(state, outcome.freedTableIds);
      flushRange(state, config, domain.domainId, iovaPage, iovaPage + pages - 1);
      tally.invalidations += 1;
    }
    // The reference map decides on its own whether this leaf is recorded.
    flatAddLeaf(state, domain.domainId, leaf, existing);
    remaining -= pages;
    iovaPage += pages;
    frame += pages;
  }
  return null;
}

function validPagingDomain(state: IommuState, domainId: number): IommuDomain | string {
  const domain = getDomain(state, domainId);
  if (domain === undefined) return 'ENOENT';
  if (!isPagingType(domain.type)) return 'EINVAL';
  return domain;
}

/**
 * Runs the driver over `chunks` in order, as the core does, and undoes everything if one fails.
 * `failAt`/`failure`: the first chunk whose driver checks fail (they depend on the arguments only,
 * so they are known in advance); the chunks before it are still mapped first, since one of them may
 * fail with ENOMEM before it is reached. A snapshot is taken only when a failure is possible after
 * something was written.
 */
function mapChunks(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  chunks: readonly MapPagesArgs[],
  tally: MapTally,
): string | null {
  const failAt = chunks.findIndex((chunk) => driverCheck(domain, chunk) !== null);
  const failing = chunks[failAt];
  const failure = failing === undefined ? null : driverCheck(domain, failing);
  const first = chunks[0];
  const last = chunks[failAt < 0 ? chunks.length - 1 : failAt - 1];
  if (first === undefined || last === undefined) return failure;
  const startPage = first.iova / PAGE_SIZE_BYTES;
  const endPage = last.iova / PAGE_SIZE_BYTES + (last.pgsizeBytes / PAGE_SIZE_BYTES) * last.pgcount;
  const snapshot = failure !== null || mayRunOutOfTables(state, startPage, endPage) ? cloneIommuState(state) : null;
  const existing = [...(flatLeaves(state, domain.domainId) ?? [])];
  for (const [index, chunk] of chunks.entries()) {
    const error = index === failAt ? failure : domainMapping(state, config, domain, chunk, existing, tally);
    if (error !== null) {
      if (snapshot !== null) restoreIommuState(state, snapshot);
      return error;
    }
  }
  return null;
}

/** The Intel driver's `map_pages` on its own (no core splitting, no `iotlb_sync_map`). */
export function mapPages(state: IommuState, config: IommuConfig, args: MapPagesArgs): OpResult {
  const domain = validPagingDomain(state, args.domainId);
  if (typeof domain === 'string') return fail(domain);
  if (!isNatural(args.iova) || !isNatural(args.frame) || !isNatural(args.pgsizeBytes) || !isNatural(args.pgcount)) {
    return fail('EINVAL');
  }
  const tally: MapTally = { alreadySet: 0, invalidations: 0 };
  const error = mapChunks(state, config, domain, [args], tally);
  if (error !== null) return fail(error);
  return succeed({ mappedBytes: args.pgsizeBytes * args.pgcount, ...tally });
}

/** `iommu_map`: core checks and splitting, the driver per chunk, then `iotlb_sync_map`. */
export function map(state: IommuState, config: IommuConfig, args: MapArgs): OpResult {
  const domain = validPagingDomain(state, args.domainId);
  if (typeof domain === 'string') return fail(domain);
  if (!isNatural(args.iova) || !isNatural(args.frame) || !isNatural(args.sizeBytes)) return fail('EINVAL');
  if (args.iova % PAGE_SIZE_BYTES !== 0 || args.sizeBytes % PAGE_SIZE_BYTES !== 0) return fail('EINVAL');
  const pageSizes = domainPageSizes(state);
  const chunks: MapPagesArgs[] = [];
  let iova = args.iova;
  let frame = args.frame;
  let remaining = args.sizeBytes;
  while (remaining > 0) {
    const { pgsizeBytes, count } = iommuPgsize(pageSizes, iova, frame * PAGE_SIZE_BYTES, remaining);
    chunks.push({ ...args, iova, frame, pgsizeBytes, pgcount: count });
    const chunkBytes = pgsizeBytes * count;
    remaining -= chunkBytes;
    iova += chunkBytes;
    frame += chunkBytes / PAGE_SIZE_BYTES;
  }
  const tally: MapTally = { alreadySet: 0, invalidations: 0 };
  const error = mapChunks(state, config, domain, chunks, tally);
  if (error !== null) return fail(error);
  // iotlb_sync_map → cache_tag_flush_range_np: only caching mode needs not-present→present flushed.
  let sync: Flush | null = null;
  if (args.sizeBytes > 0 && state.caps.cachingMode && !hasIommuBug(config, 'caching-mode-map-skips-flush')) {
    const firstPage = args.iova / PAGE_SIZE_BYTES;
    sync = flushRange(state, config, domain.domainId, firstPage, firstPage + args.sizeBytes / PAGE_SIZE_BYTES - 1);
    tally.invalidations += 1;
  }
  return succeed({ mappedBytes: args.sizeBytes, ...tally, ...flushDetail(sync) });
}
