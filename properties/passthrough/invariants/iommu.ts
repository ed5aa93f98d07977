/**
 * The IOMMU side of the passthrough stack: the page tables agree with their flat reference map
 * (the differential check of the VT-d model, on every step of every run), the IOMMU translates
 * exactly what VFIO believes it programmed, and no stale IOTLB entry exists that a queued lazy
 * unmap does not account for (docs/reference/vtd.md §3.7 inv. 3, 4).
 */
import { pageTableMatchesFlat } from '../../../models/iommu/check.js';
import { staleIotlbOutsideFlushQueue } from '../../../models/iommu/views.js';
import { iommuDisagreements } from '../../../models/passthrough/views.js';
import type { PassthroughInvariant } from './lift.js';

export const pageTableMatchesFlatMap: PassthroughInvariant = {
  name: 'page-table-matches-flat',
  // The page tables and the flat map, not the IOTLB: a DMA, which only fills the IOTLB, skips it.
  reads: (state) => [state.iommu.domains, state.iommu.tables, state.iommu.flat],
  class: 'differential',
  description: "the IOMMU's multi-level page tables translate exactly what its flat IOVA→frame reference map holds",
  check({ after }) {
    const problem = pageTableMatchesFlat(after.iommu);
    if (problem === null) return null;
    return { message: `page table and flat map differ: ${problem}`, actual: problem, expected: 'no difference' };
  },
};

export const iommuMatchesVfio: PassthroughInvariant = {
  name: 'iommu-matches-vfio',
  reads: (state) => [state.iommu.domains, state.iommu.tables, state.vfio, state.dids],
  class: 'accounting',
  description: "each IOMMU domain's page table holds exactly the translations VFIO programmed into it",
  check({ after }) {
    const [problem] = iommuDisagreements(after);
    if (problem === undefined) return null;
    return {
      message: `domain ${problem.domainId} iova page ${problem.iovaPage}: VFIO programmed ${problem.vfio}, the page table has ${problem.iommu}`,
      actual: problem.iommu,
      expected: problem.vfio,
    };
  },
};

export const noStaleIotlbOutsideFlushQueue: PassthroughInvariant = {
  name: 'no-stale-iotlb-outside-flush-queue',
  reads: (state) => [state.iommu],
  class: 'latent',
  description: 'every IOTLB entry agrees with the page table, unless a queued lazy unmap still covers it',
  check({ after }) {
    const [stale] = staleIotlbOutsideFlushQueue(after.iommu);
    if (stale === undefined) return null;
    const entry = stale.entry;
    const page =
      entry.kind === 'not-present'
        ? `iova page ${entry.iovaPage} not present`
        : `iova page ${entry.iovaPage} → mfn ${entry.frame}${entry.kind === 'nested' ? ` (combined, through GPA page ${entry.gpaPage})` : ''}`;
    return {
      message: `IOTLB entry (DID ${entry.domainId}) ${page} is stale (${stale.reason}) and no queued unmap covers it`,
      actual: `stale entry: ${stale.reason}`,
      expected: 'invalidated when the page table changed',
    };
  },
};
