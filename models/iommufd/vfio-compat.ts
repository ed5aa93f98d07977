/**
 * The VFIO container compatibility layer (CONFIG_IOMMUFD_VFIO_CONTAINER): /dev/vfio/vfio served by
 * iommufd, its ioctls acting on the compat IOAS (`ictx->vfio_ioas`).
 * Reference: docs/reference/iommufd.md §6 (the layer and every difference from type1).
 *
 * Sources (v6.12 vfio_compat.c): iommufd_vfio_compat_ioas_create (VFIO_GROUP_SET_CONTAINER with
 * an iommufd: the compat IOAS made once), iommufd_vfio_ioas (IOMMU_VFIO_IOAS GET: none → -ENODEV;
 * SET: not an IOAS → -ENOENT; CLEAR), iommufd_vfio_check_extension (TYPE1, TYPE1v2, UNMAP_ALL →
 * 1; DMA_CC_IOMMU → whether every domain enforces coherency; NESTING, UPDATE_VADDR and the rest
 * → 0), iommufd_vfio_set_iommu (not TYPE1/TYPE1v2 → -EINVAL; no compat IOAS → -ENODEV; TYPE1
 * disables large pages), iommufd_vfio_map_dma (argsz short or flags beyond READ|WRITE → -EINVAL;
 * no compat IOAS → -ENODEV; then iopt_map_user_pages at the fixed iova), iommufd_vfio_unmap_dma
 * (flags beyond UNMAP_ALL → -EINVAL; UNMAP_ALL with iova or size → -EINVAL; TYPE1 cuts areas at
 * the range's ends first; iopt_unmap_iova), iommufd_vfio_iommu_get_info (argsz below minsz →
 * -EINVAL; flags PGSIZES | CAPS; iova_pgsizes; the DMA_AVAIL cap (U32_MAX) then the IOVA_RANGE
 * cap; argsz written back as the size every cap needs), iommufd_vfio_ioctl (VFIO_IOMMU_DIRTY_PAGES
 * and unknown ioctls → -ENOIOCTLCMD, ENOTTY to the caller).
 */
import type { IommufdConfig } from './config.js';
import { cutAt, unmapAll } from './io-pagetable.js';
import { iovaAlignmentBytes, usableIovaRanges } from './iova.js';
import { createIoas, disableLargePages, mapUserPages, rangeToBytes, u64Arg, unmapIova } from './ioas.js';
import { findObject, getObject } from './objects.js';
import { domainsOf } from './pages.js';
import { refuse } from './refusal.js';
import type { IoasObject, IommufdState } from './types.js';
import { PAGE_SIZE_BIG, U64_MAX, isU32 } from '../vfio/u64.js';
import type { ResultDetail } from '../result.js';

export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
/** offsetofend(struct vfio_iommu_type1_dma_map, size). */
export const VFIO_DMA_MAP_MINSZ = 32;
/** offsetofend(struct vfio_iommu_type1_dma_unmap, size). */
export const VFIO_DMA_UNMAP_MINSZ = 24;
/** offsetofend(struct vfio_iommu_type1_info, iova_pgsizes); sizeof is 24. */
export const VFIO_IOMMU_INFO_MINSZ = 16;
const INFO_SIZE = 24;
/** sizeof(struct vfio_iommu_type1_info_dma_avail). */
const CAP_DMA_AVAIL_SIZE = 12;
/** struct_size(vfio_iommu_type1_info_cap_iova_range, iova_ranges, n) = 16 + 16 n. */
const capIovaSize = (n: number): number => 16 + 16 * n;

/** get_compat_ioas: the compat IOAS, or -ENODEV. */
export function compatIoas(state: IommufdState): IoasObject {
  const ioas = findObject(state, state.vfioIoasId, 'ioas');
  if (ioas === undefined) refuse('ENODEV');
  return ioas;
}

/** iommufd_vfio_compat_ioas_create: the compat IOAS id (made when there is none). */
export function compatIoasCreate(state: IommufdState): number {
  const existing = findObject(state, state.vfioIoasId, 'ioas');
  if (existing !== undefined) return existing.id;
  const ioas = createIoas(state);
  state.vfioIoasId = ioas.id;
  return ioas.id;
}

export function vfioIoas(state: IommufdState, op: unknown, ioasId: unknown): ResultDetail {
  if (op === 'get') return { ioasId: compatIoas(state).id };
  if (op === 'set') {
    state.vfioIoasId = getObject(state, ioasId, 'ioas').id;
    return {};
  }
  if (op === 'clear') {
    state.vfioIoasId = null;
    return {};
  }
  return refuse('EOPNOTSUPP');
}

/** VFIO_CHECK_EXTENSION: the ioctl's return value. */
export function checkExtension(state: IommufdState, extension: unknown): number {
  switch (extension) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return 1;
    case VFIO_DMA_CC_IOMMU: {
      const ioas = compatIoas(state);
      return ioas.hwptIds.every((id) => findObject(state, id, 'hwpt_paging')?.enforceCacheCoherency !== false) ? 1 : 0;
    }
    default:
      // VFIO_TYPE1_NESTING_IOMMU and VFIO_UPDATE_VADDR are refused on purpose; the rest are unknown.
      return 0;
  }
}

export function setIommu(state: IommufdState, type: unknown): void {
  if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) refuse('EINVAL');
  const ioas = compatIoas(state);
  if (type === VFIO_TYPE1_IOMMU) disableLargePages(ioas);
}

export interface CompatMapDmaArgs {
  readonly argsz: number;
  readonly flags: number;
  readonly vaddr: string;
  readonly iova: string;
  readonly sizeBytes: string;
}

export function compatMapDma(state: IommufdState, config: IommufdConfig, args: CompatMapDmaArgs): ResultDetail {
  const supported = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  if (!isU32(args.argsz) || args.argsz < VFIO_DMA_MAP_MINSZ || !isU32(args.flags) || (args.flags & ~supported) !== 0) {
    refuse('EINVAL');
  }
  const vaddr = u64Arg(args.vaddr);
  const iova = u64Arg(args.iova);
  const size = u64Arg(args.sizeBytes);
  const ioas = compatIoas(state);
  const read = (args.flags & VFIO_DMA_MAP_FLAG_READ) !== 0;
  const write = (args.flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0;
  const fixed = config.hooks.compatMapFixesIova();
  const iovaPage = mapUserPages(state, config, ioas, vaddr, iova, size, fixed, read, write);
  return { iova: (BigInt(iovaPage) * PAGE_SIZE_BIG).toString() };
}

export interface CompatUnmapDmaArgs {
  readonly argsz: number;
  readonly flags: number;
  readonly iova: string;
  readonly sizeBytes: string;
}

/** VFIO_IOMMU_UNMAP_DMA: `size` written back as the bytes unmapped. */
export function compatUnmapDma(state: IommufdState, config: IommufdConfig, args: CompatUnmapDmaArgs): ResultDetail {
  if (
    !isU32(args.argsz) ||
    args.argsz < VFIO_DMA_UNMAP_MINSZ ||
    !isU32(args.flags) ||
    (args.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) !== 0
  ) {
    refuse('EINVAL');
  }
  const iova = u64Arg(args.iova);
  const size = u64Arg(args.sizeBytes);
  const ioas = compatIoas(state);
  let unmappedPages: number;
  if ((args.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) {
    if (iova !== 0n || size !== 0n) refuse('EINVAL');
    unmappedPages = unmapAll(state, config, ioas);
  } else {
    if (ioas.disableLargePages && size > 0n && iova % PAGE_SIZE_BIG === 0n && size % PAGE_SIZE_BIG === 0n) {
      // iopt_cut_iova at iova + size - 1 and (unless iova is 0) at iova - 1: boundaries at both ends.
      const endPage = (iova + size) / PAGE_SIZE_BIG;
      if (iova + size - 1n <= U64_MAX) cutAt(state, ioas, Number(endPage));
      if (iova !== 0n) cutAt(state, ioas, Number(iova / PAGE_SIZE_BIG));
    }
    unmappedPages = unmapIova(state, config, ioas, iova, size);
  }
  return { sizeBytes: (BigInt(unmappedPages) * PAGE_SIZE_BIG).toString() };
}

/** iommufd_get_pagesizes: the domains' common page sizes, at least PAGE_SIZE and iova_alignment. */
function pageSizes(state: IommufdState, ioas: IoasObject): bigint {
  let bitmap = U64_MAX;
  for (const hwpt of domainsOf(state, ioas)) bitmap &= BigInt(hwpt.pgsizeBitmap);
  const pageMask = U64_MAX ^ (PAGE_SIZE_BIG - 1n);
  if ((bitmap & ~pageMask & U64_MAX) !== 0n) bitmap = (bitmap & pageMask) | PAGE_SIZE_BIG;
  const alignment = BigInt(iovaAlignmentBytes(state, ioas));
  return bitmap > alignment ? bitmap : alignment;
}

/** VFIO_IOMMU_GET_INFO: what the kernel writes back. */
export function compatGetInfo(state: IommufdState, argsz: unknown): ResultDetail {
  if (!isU32(argsz) || argsz < VFIO_IOMMU_INFO_MINSZ) refuse('EINVAL');
  const ioas = compatIoas(state);
  const ranges = usableIovaRanges(ioas);
  const totalCapSize = INFO_SIZE + CAP_DMA_AVAIL_SIZE + capIovaSize(ranges.length);
  // The ranges that fit the caller's buffer (each copied only when the cap up to it fits).
  const rangesOffset = INFO_SIZE + CAP_DMA_AVAIL_SIZE;
  const copied = ranges.filter((_, i) => argsz - rangesOffset >= capIovaSize(i + 1));
  return {
    argsz: totalCapSize,
    flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
    iovaPgsizes: pageSizes(state, ioas).toString(),
    capOffset: argsz >= totalCapSize ? INFO_SIZE : 0,
    dmaAvail: 0xffff_ffff,
    nrIovas: ranges.length,
    iovaRanges: copied
      .map((range) => {
        const bytes = rangeToBytes(range);
        return `${bytes.start}-${bytes.last}`;
      })
      .join(','),
  };
}
