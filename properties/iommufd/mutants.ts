/**
 * Mutants of the passthrough stack over iommufd (issue 20): its sound design (`iommufd/passthrough`)
 * with one deliberate flaw at a decision point of the iommufd model (a hook of
 * models/iommufd/config.ts) or of the VT-d model under it (`iommuBugs`), and the type1 ↔ iommufd
 * differential with one flaw of the compat layer. Together with the flawed designs (designs.ts)
 * they break every invariant of both stacks (test/meta/mutants.test.ts).
 */
import type { Type1IommufdDifferentialDesign } from './differential/design.js';
import { type1IommufdDifferentialDesign } from './differential/design.js';
import type { IommufdPassthroughDesign } from './design.js';
import { iommufdPassthroughDesign } from './design.js';

export const iommufdMutants: readonly IommufdPassthroughDesign[] = [
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/unmap-skips-iotlb-invalidate',
    iommuBugs: ['unmap-skips-iotlb-invalidate'],
    expected: 'violates',
    description:
      "IOAS_UNMAP's iommu_unmap clears the VT-d PTEs but never invalidates the IOTLB before iopt_pages unpins: a DMA cached before the unmap keeps reaching the unpinned frame",
    // Also, on 11 of 20 seeds within 1000 runs, the DMA into the freed frame and the other VM's
    // (a DMA cached before the unmap, a munmap, a reuse, a DMA again): unmap-skips-storage-domain's.
    breaks: ['reachable-frame-owned-by-guest', 'reachable-frame-pinned', 'no-stale-iotlb-outside-flush-queue'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/unmap-skips-storage-domain',
    hooks: { unmapUnfillsDomain: (ioas, hwpt) => ioas.domainHwptIds[0] !== hwpt.id },
    expected: 'violates',
    description:
      "iopt_area_unfill_domains unmaps the area from the IOAS's other domains but forgets the storage domain's iopt_area_unfill_domain, then unpins the pages: the first device's VT-d domain keeps translating the freed frames",
    breaks: [
      'no-dma-to-foreign-frame',
      'no-dma-to-free-frame',
      'reachable-frame-owned-by-guest',
      'reachable-frame-pinned',
      'iommu-matches-ioas',
    ],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/ioas-destroy-skips-unmap',
    hooks: { ioasDestroyUnmaps: () => false },
    expected: 'violates',
    description:
      "iommufd_ioas_destroy frees the IOAS without iopt_unmap_all: once the VMM exits, its areas' pages stay pinned and charged with no IOAS left",
    breaks: ['no-ioas-nothing-held'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/unmap-stops-at-table-boundary',
    iommuBugs: ['unmap-stops-at-table-boundary'],
    expected: 'violates',
    description:
      "VT-d's unmap of a range that crosses from one 512-entry leaf table into the next clears only the first table's entries: the second keeps translating",
    breaks: ['page-table-matches-flat'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/unpin-keeps-page-ref',
    hooks: { unpinPutsPage: () => false },
    expected: 'violates',
    description:
      "iopt_pages unpins a page (uncharged, out of its pinned set) but never calls unpin_user_page: the frame's FOLL_PIN reference leaks",
    breaks: ['frame-refcount-matches-holders'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/charge-skips-rlimit',
    hooks: { chargeEnforcesLimit: () => false },
    expected: 'violates',
    description:
      'incr_user_locked_vm adds the pinned pages to user->locked_vm without comparing against RLIMIT_MEMLOCK',
    breaks: ['locked-vm-within-limit'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/access-detach-keeps-ioas-user',
    hooks: { changeIoasPutsOld: () => false },
    expected: 'violates',
    description: "iommufd_access_change_ioas moves the access off its IOAS without dropping the IOAS's users reference",
    breaks: ['object-users-match-references'],
  }),
  iommufdPassthroughDesign({
    id: 'mutant/iommufd/map-error-skips-unwind',
    hooks: { mapUnwindsOnError: () => false },
    expected: 'violates',
    description:
      "IOMMU_IOAS_MAP whose pinning fails part-way (-ENOMEM past RLIMIT_MEMLOCK, -EFAULT) returns the error without iopt_map_pages's unwind: the area, its pins and charges stay",
    breaks: ['pages-match-areas-and-accesses', 'iommu-matches-ioas', 'failed-op-leaves-state-unchanged'],
  }),
];

export const iommufdDifferentialMutants: readonly Type1IommufdDifferentialDesign[] = [
  type1IommufdDifferentialDesign({
    id: 'mutant/iommufd-differential/compat-map-allocates-iova',
    hooks: { compatMapFixesIova: () => false },
    expected: 'violates',
    description:
      "the compat layer's VFIO_IOMMU_MAP_DMA maps without IOPT fixed IOVA: iommufd picks the IOVA, not the VMM's",
    breaks: ['type1-and-iommufd-agree'],
  }),
];
