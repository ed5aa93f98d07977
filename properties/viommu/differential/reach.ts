/** Reach statistics of the differential pair: the states where shadow and nested could part ways. */
import type { DriverOp } from '../../../models/viommu/driver.js';
import type { ViommuPairState } from '../../../models/viommu/pair.js';
import type { Transition } from '../../../src/design.js';

export const UNMAP_OF_CACHED_PAGE = 'unmap of a GIOVA page both host IOTLBs have cached';
export const DMA_INTO_GUEST_MEMORY = 'DMA landed in guest memory in both designs';
export const FRAME_REUSED = 'a freed frame of guest RAM taken by another owner';

export const differentialReach: readonly string[] = [UNMAP_OF_CACHED_PAGE, DMA_INTO_GUEST_MEMORY, FRAME_REUSED];

/**
 * Floors at the default budget: about a third of the fewest runs in 1,000 a default run reached
 * each in (`dmaprop check --design viommu/differential --seed 1 … 3 --stats`: 143, 295, 188 runs).
 */
export const differentialReachFloors: Readonly<Record<string, number>> = {
  [UNMAP_OF_CACHED_PAGE]: 47,
  [DMA_INTO_GUEST_MEMORY]: 98,
  [FRAME_REUSED]: 62,
};

function cached(state: ViommuPairState['shadow'], firstPage: number, pages: number): boolean {
  return state.host.iommu.iotlb.some(
    (entry) => entry.kind !== 'not-present' && entry.iovaPage >= firstPage && entry.iovaPage < firstPage + pages,
  );
}

export function classifyDifferentialStep(transition: Transition<ViommuPairState, DriverOp>): string[] {
  const { before, command, result, after } = transition;
  if (before === null || command === null || result === null || !result.ok) return [];
  if (command.kind === 'unmap') {
    const both =
      cached(before.shadow, command.giovaPage, command.pages) &&
      cached(before.nested, command.giovaPage, command.pages);
    return both ? [UNMAP_OF_CACHED_PAGE] : [];
  }
  if (command.kind === 'dma') return String(result.detail?.['shadow']).startsWith('mfn') ? [DMA_INTO_GUEST_MEMORY] : [];
  if (command.kind === 'allocateToOther') {
    // The guest's RAM was populated from the lowest frames: one of them now has another owner.
    const taken = after.shadow.host.vfio.otherAllocations.at(-1)?.mfn;
    return taken !== undefined && taken < after.shadow.guestRam.pages ? [FRAME_REUSED] : [];
  }
  return [];
}
