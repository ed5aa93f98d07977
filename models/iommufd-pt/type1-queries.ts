/**
 * The two container ioctls the type1 model does not answer, VFIO_CHECK_EXTENSION and
 * VFIO_IOMMU_GET_INFO, over its state — for the type1 ↔ iommufd differential, which asks both
 * sides the same questions.
 * Reference: docs/reference/vfio-type1.md; Linux v6.12 drivers/vfio/container.c
 * (vfio_container_ioctl_check_extension: with no driver set, each registered driver is asked with
 * no iommu_data; vfio_fops_unl_ioctl: an ioctl with no driver is -EINVAL) and
 * drivers/vfio/vfio_iommu_type1.c (vfio_iommu_type1_check_extension, vfio_iommu_type1_get_info:
 * argsz < minsz -EINVAL; flags PGSIZES | CAPS; the IOVA_RANGE cap lists `iova_list`).
 *
 * Left out: the MIGRATION and DMA_AVAIL caps' contents and the buffer layout (the differential
 * compares the usable IOVA ranges, which both sides report); `iova_list` is computed from the
 * container's IOMMU groups (the apertures' intersection minus their reserved regions) rather than
 * kept as the source keeps it.
 */
import type { OpResult } from '../result.js';
import { type1Backend } from '../vfio/state.js';
import type { IommuGroupSpec, VfioState } from '../vfio/types.js';
// The extension and type numbers are uAPI (include/uapi/linux/vfio.h), the same on both sides.
import {
  VFIO_DMA_CC_IOMMU,
  VFIO_IOMMU_INFO_MINSZ,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
} from '../iommufd/vfio-compat.js';

/** VFIO_CHECK_EXTENSION on a type1 container (the driver's answer with or without its data). */
export function type1CheckExtension(state: VfioState, extension: number): OpResult {
  const backend = type1Backend(state);
  switch (extension) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_TYPE1_NESTING_IOMMU:
    case VFIO_UNMAP_ALL:
      return { ok: true, detail: { value: 1 } };
    case VFIO_UPDATE_VADDR:
      // Disabled while mdevs (emulated groups) are present.
      return { ok: true, detail: { value: backend !== null && backend.emulatedGroupIds.length === 0 ? 1 : 0 } };
    case VFIO_DMA_CC_IOMMU:
      // vfio_domains_have_enforce_cache_coherency: VT-d domains with snoop control enforce it.
      return { ok: true, detail: { value: backend === null ? 0 : 1 } };
    default:
      return { ok: true, detail: { value: 0 } };
  }
}

interface ByteRange {
  readonly firstPage: number;
  readonly endPage: number;
}

function byteRange(range: ByteRange): string {
  const start = BigInt(range.firstPage) * 4096n;
  const last = BigInt(range.endPage) * 4096n - 1n;
  return `${start}-${last}`;
}

/** The container's usable IOVA ranges: the groups' apertures' intersection minus their reserved regions. */
export function type1IovaRanges(state: VfioState): string {
  const groups = state.container.groupIds
    .map((id) => state.groups[id]?.spec)
    .filter((spec): spec is IommuGroupSpec => spec?.kind === 'iommu');
  if (groups.length === 0) return '';
  const end = Math.min(...groups.map((spec) => spec.apertureEndPage));
  const reserved = groups.flatMap((spec) => spec.reservedRanges).sort((a, b) => a.startPage - b.startPage);
  const ranges: ByteRange[] = [];
  let cursor = 0;
  for (const hole of reserved) {
    if (hole.startPage > cursor) ranges.push({ firstPage: cursor, endPage: Math.min(hole.startPage, end) });
    cursor = Math.max(cursor, hole.endPage);
  }
  if (cursor < end) ranges.push({ firstPage: cursor, endPage: end });
  return ranges.map(byteRange).join(',');
}

/** VFIO_IOMMU_GET_INFO: -EINVAL with no driver or a short argsz; the usable ranges. */
export function type1GetInfo(state: VfioState, argsz: number): OpResult {
  if (type1Backend(state) === null) return { ok: false, error: 'EINVAL' };
  if (argsz < VFIO_IOMMU_INFO_MINSZ) return { ok: false, error: 'EINVAL' };
  return { ok: true, detail: { iovaRanges: type1IovaRanges(state) } };
}
