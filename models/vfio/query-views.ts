/**
 * What the container's query ioctls must answer, recomputed from the state alone (the mappings,
 * the groups, the container) rather than from the counters and hooks the model answers with: the
 * oracle of the query invariants. Reference: docs/reference/vfio-type1.md §1.17; Linux v6.12
 * drivers/vfio/vfio_iommu_type1.c `vfio_iommu_type1_check_extension`, `vfio_iommu_type1_get_info`.
 */
import {
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from './container.js';
import { VFIO_DMA_CC_IOMMU, VFIO_UPDATE_VADDR, iovaRangesText, pgsizeBitmap } from './query.js';
import { type1Backend, usableIovaRanges } from './state.js';
import type { VfioState } from './types.js';

/** GET_INFO's values as the state has them; null without a type1 backend. */
export interface InfoTruth {
  /** dma_entry_limit minus the mappings that exist. */
  readonly dmaAvail: number;
  /** The usable IOVA ranges (apertures minus reserved regions), or null while `iova_list` is empty. */
  readonly iovaRanges: string | null;
  readonly iovaPgsizes: string;
}

export function infoTruth(state: VfioState): InfoTruth | null {
  const backend = type1Backend(state);
  if (backend === null) return null;
  const ranges = usableIovaRanges(state) ?? [];
  return {
    dmaAvail: backend.dmaEntryLimit - backend.dmas.length,
    iovaRanges: ranges.length === 0 ? null : iovaRangesText(ranges),
    iovaPgsizes: pgsizeBitmap(backend).toString(),
  };
}

/** VFIO_CHECK_EXTENSION's value as v6.12 answers it in this state. */
export function extensionTruth(state: VfioState, extension: number): number {
  if (!Number.isInteger(extension)) return 0;
  const container = state.container;
  const noiommuMode = state.groups.some((group) => group.spec.kind === 'noiommu');
  const noiommu = noiommuMode && extension === VFIO_NOIOMMU_IOMMU ? 1 : 0;
  const types = [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_NESTING_IOMMU, VFIO_UNMAP_ALL];
  const backend = container.backend;
  if (backend === null) {
    const empty = container.groupIds.length === 0;
    if ((empty || container.noiommu) && noiommu > 0) return noiommu;
    return (empty || !container.noiommu) && types.includes(extension) ? 1 : 0;
  }
  if (backend.kind === 'noiommu') return noiommu;
  if (types.includes(extension) || extension === VFIO_DMA_CC_IOMMU) return 1;
  // The vaddr update protocol is withheld while an emulated-IOMMU group could pin through it.
  return extension === VFIO_UPDATE_VADDR && backend.emulatedGroupIds.length === 0 ? 1 : 0;
}
