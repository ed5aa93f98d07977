/**
 * The container's query ioctls: VFIO_CHECK_EXTENSION and VFIO_IOMMU_GET_INFO, with the values the
 * kernel answers. Reference: docs/reference/vfio-type1.md §1.17; Linux v6.12 (Debian
 * linux-source-6.12) drivers/vfio/container.c `vfio_container_ioctl_check_extension`,
 * `vfio_noiommu_ioctl`; drivers/vfio/vfio_iommu_type1.c `vfio_iommu_type1_check_extension`,
 * `vfio_iommu_type1_get_info`, `vfio_iommu_migration_build_caps`,
 * `vfio_iommu_dma_avail_build_caps`, `vfio_iommu_iova_build_caps`, `vfio_update_pgsize_bitmap`;
 * drivers/vfio/vfio_main.c `vfio_info_cap_add`; include/uapi/linux/vfio.h.
 *
 * CHECK_EXTENSION with no backend polls every registered IOMMU driver the container may use (a
 * container of VFIO_NO_IOMMU groups only vfio-noiommu, one of other groups only type1, an empty
 * one both) and answers the first positive value; with a backend, that driver alone answers. type1
 * says 1 to VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_NESTING_IOMMU and VFIO_UNMAP_ALL;
 * VFIO_UPDATE_VADDR only with a backend and no emulated-IOMMU group (hook `updateVaddrOffered`);
 * VFIO_DMA_CC_IOMMU only with a backend whose domains all enforce cache coherency; anything else 0.
 * vfio-noiommu says 1 to VFIO_NOIOMMU_IOMMU when `enable_unsafe_noiommu_mode` is set.
 *
 * GET_INFO: no backend → EINVAL (the container's default); the noiommu backend → ENOTTY;
 * argsz < 16 (offsetofend iova_pgsizes) → EINVAL. Then flags = PGSIZES, iova_pgsizes =
 * pgsize_bitmap, and the capability chain in the kernel's order: MIGRATION (32 bytes: the minimum
 * page size, max_dirty_bitmap_size 256 MiB), DMA_AVAIL (12 bytes, padded to 16: dma_avail),
 * IOVA_RANGE (16 + 16 per range: iova_list, inclusive ends; absent while the list is empty). Each
 * capability's krealloc and the IOVA ranges' kzalloc may fail: ENOMEM. flags gains CAPS. The chain
 * is copied after the 24-byte struct, cap_offset 24, only when argsz holds struct and chain (hook
 * `infoCapsFit`); otherwise the kernel writes back in argsz the size it needs, cap_offset 0. Finally
 * min(argsz, 24) bytes of the struct are copied out. The answer's `writtenBytes` is how many bytes
 * the kernel wrote at the caller's pointer.
 *
 * Modelled values: every domain is a VT-d domain with second-level superpages (pgsize_bitmap
 * 4K | 2M | 1G, `intel_iommu_domain_alloc_paging` → `domain_super_pgsize_bitmap`) that enforces
 * cache coherency (snoop control); with no domain pgsize_bitmap is PAGE_MASK. `enable_unsafe_noiommu_mode`
 * is set exactly when the world has a VFIO_NO_IOMMU group (such a group exists only with it).
 * Left out: copy-in and copy-out faults (EFAULT), VFIO_GET_API_VERSION, the sPAPR and EEH
 * extensions (no such driver is registered: 0), dirty tracking (the migration capability's flags
 * are always 0), and a 32-bit kernel's PAGE_MASK.
 */
import type { VfioConfig } from './config.js';
import { vfioHooks } from './config.js';
import {
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from './container.js';
import { attemptAlloc, err, ok, runOp, usableIovaRanges } from './state.js';
import type { PageRange, Type1Backend, VfioResult, VfioState } from './types.js';
import { PAGE_SIZE_BIG, isU32 } from './u64.js';

export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_UPDATE_VADDR = 10;
/** Extensions worth asking about: every one the uAPI defines (1–10), and one past them. */
export const VFIO_EXTENSIONS: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
/** offsetofend(struct vfio_iommu_type1_info, iova_pgsizes). */
export const VFIO_IOMMU_INFO_MINSZ = 16;
/** sizeof(struct vfio_iommu_type1_info): argsz, flags, iova_pgsizes, cap_offset, pad. */
export const VFIO_IOMMU_INFO_SIZE = 24;
/** offsetofend(struct vfio_iommu_type1_info, cap_offset). */
const CAP_OFFSET_END = 20;
/** sizeof(struct vfio_iommu_type1_info_cap_migration). */
export const MIGRATION_CAP_BYTES = 32;
/** sizeof(struct vfio_iommu_type1_info_dma_avail) = 12, ALIGN(…, 8) by vfio_info_cap_add. */
export const DMA_AVAIL_CAP_BYTES = 16;
/** struct_size(cap_iovas, iova_ranges, n): header, nr_iovas, reserved, then {start, end} per range. */
export function iovaRangeCapBytes(ranges: number): number {
  return 16 + 16 * ranges;
}
/** DIRTY_BITMAP_SIZE_MAX: DIRTY_BITMAP_BYTES(INT_MAX) = ALIGN(2^31 - 1, 64) / 8. */
export const DIRTY_BITMAP_SIZE_MAX = 268435456;

/** PAGE_MASK on a 64-bit kernel: every power of two from 4 KiB up. */
const PAGE_MASK = ((1n << 64n) - 1n) & ~(PAGE_SIZE_BIG - 1n);
/** A VT-d paging domain with 2 MiB and 1 GiB second-level pages: SZ_4K | SZ_2M | SZ_1G. */
export const VTD_PGSIZE_BITMAP = 0x40201000n;

export interface CheckExtensionArgs {
  readonly extension: number;
}

export interface GetInfoArgs {
  readonly argsz: number;
}

/** `iommu->pgsize_bitmap`: the AND over the domains (`vfio_update_pgsize_bitmap`), PAGE_MASK with none. */
export function pgsizeBitmap(backend: Readonly<Type1Backend>): bigint {
  return backend.domains.length === 0 ? PAGE_MASK : VTD_PGSIZE_BITMAP;
}

/** The IOVA ranges as the capability lists them: `start-end` (inclusive, hex), space-separated. */
export function iovaRangesText(ranges: readonly PageRange[]): string {
  const hex = (value: bigint): string => `0x${value.toString(16)}`;
  return ranges
    .map(
      (range) => `${hex(BigInt(range.startPage) * PAGE_SIZE_BIG)}-${hex(BigInt(range.endPage) * PAGE_SIZE_BIG - 1n)}`,
    )
    .join(' ');
}

/** `vfio_noiommu_ioctl(VFIO_CHECK_EXTENSION)`: only VFIO_NOIOMMU_IOMMU, and only in noiommu mode. */
function noiommuExtension(state: VfioState, extension: number): number {
  const noiommuMode = state.groups.some((group) => group.spec.kind === 'noiommu');
  return noiommuMode && extension === VFIO_NOIOMMU_IOMMU ? 1 : 0;
}

/** `vfio_iommu_type1_check_extension(iommu, arg)`; `backend` null: asked with no backend (iommu NULL). */
function type1Extension(config: VfioConfig, backend: Readonly<Type1Backend> | null, extension: number): number {
  switch (extension) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_TYPE1_NESTING_IOMMU:
    case VFIO_UNMAP_ALL:
      return 1;
    case VFIO_UPDATE_VADDR:
      return backend !== null && vfioHooks(config).updateVaddrOffered(backend) ? 1 : 0;
    case VFIO_DMA_CC_IOMMU:
      // vfio_domains_have_enforce_cache_coherency: every VT-d domain here enforces it.
      return backend === null ? 0 : 1;
    default:
      return 0;
  }
}

/** VFIO_CHECK_EXTENSION on the container (`vfio_container_ioctl_check_extension`). */
export function checkExtension(state: VfioState, config: VfioConfig, args: CheckExtensionArgs): VfioResult {
  return runOp(state, () => {
    const extension = args.extension;
    if (!Number.isInteger(extension) || extension < 0) return ok({ extension, value: 0 });
    const container = state.container;
    const backend = container.backend;
    let value: number;
    if (backend === null) {
      // Every registered driver the container may use (vfio_iommu_driver_allowed), first positive.
      const empty = container.groupIds.length === 0;
      const viaNoiommu = empty || container.noiommu ? noiommuExtension(state, extension) : 0;
      const viaType1 = empty || !container.noiommu ? type1Extension(config, null, extension) : 0;
      value = viaNoiommu > 0 ? viaNoiommu : viaType1;
    } else if (backend.kind === 'noiommu') value = noiommuExtension(state, extension);
    else value = type1Extension(config, backend, extension);
    return ok({ extension, value });
  });
}

/** VFIO_IOMMU_GET_INFO (`vfio_iommu_type1_get_info`). */
export function getInfo(state: VfioState, config: VfioConfig, args: GetInfoArgs): VfioResult {
  return runOp(state, (ctx) => {
    const backend = state.container.backend;
    if (backend === null) return err('EINVAL');
    if (backend.kind === 'noiommu') return err('ENOTTY');
    if (!isU32(args.argsz) || args.argsz < VFIO_IOMMU_INFO_MINSZ) return err('EINVAL');
    const minsz = Math.min(args.argsz, VFIO_IOMMU_INFO_SIZE);
    const bitmap = pgsizeBitmap(backend);
    // The chain, in the kernel's order; vfio_info_cap_add reallocates the buffer for each capability.
    if (!attemptAlloc(state, ctx)) return err('ENOMEM');
    const lowestPgsize = bitmap & -bitmap;
    if (!attemptAlloc(state, ctx)) return err('ENOMEM');
    const dmaAvail = backend.dmaAvail;
    const ranges = usableIovaRanges(state) ?? [];
    // vfio_iommu_iova_build_caps: nothing while iova_list is empty (a container of emulated groups).
    if (ranges.length > 0 && (!attemptAlloc(state, ctx) || !attemptAlloc(state, ctx))) return err('ENOMEM');
    const capsBytes =
      MIGRATION_CAP_BYTES + DMA_AVAIL_CAP_BYTES + (ranges.length > 0 ? iovaRangeCapBytes(ranges.length) : 0);
    const needed = VFIO_IOMMU_INFO_SIZE + capsBytes;
    const copied = vfioHooks(config).infoCapsFit(args.argsz, needed);
    return ok({
      argsz: copied ? args.argsz : needed,
      flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
      iovaPgsizes: bitmap.toString(),
      capOffset: minsz >= CAP_OFFSET_END ? (copied ? VFIO_IOMMU_INFO_SIZE : 0) : null,
      capsBytes,
      writtenBytes: minsz + (copied ? capsBytes : 0),
      migrationPgsize: copied ? lowestPgsize.toString() : null,
      maxDirtyBitmapSize: copied ? DIRTY_BITMAP_SIZE_MAX : null,
      dmaAvail: copied ? dmaAvail : null,
      nrIovas: copied && ranges.length > 0 ? ranges.length : null,
      iovaRanges: copied && ranges.length > 0 ? iovaRangesText(ranges) : null,
    });
  });
}
