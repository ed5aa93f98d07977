/**
 * The built-in designs of the passthrough stack over iommufd (Linux v6.12,
 * docs/reference/iommufd.md §5): the sound stack, and variants a real implementation could ship,
 * each built through a hook of the iommufd model or the stack's invalidation mode and caught by
 * the stack's generic invariants.
 */
import type { AccessObject, AccessPin } from '../../models/iommufd/types.js';
import { iommufdPassthroughDesign } from './design.js';

export const iommufdPassthrough = iommufdPassthroughDesign({
  id: 'iommufd/passthrough',
  expected: 'holds',
  description:
    'an assigned device and an emulated device (access object) on one IOAS over strict VT-d domains: iommufd pins what a domain or an access needs, the unmap notifies the access, whose driver unpins',
});

export const iommufdLazyHeld = iommufdPassthroughDesign({
  id: 'iommufd/lazy-held',
  mode: 'lazy-held',
  expected: 'holds',
  description:
    'iommufd over VT-d domains that defer invalidation to a flush queue, each unmapped frame held until the flush that covers its unmap',
});

export const iommufdLazy = iommufdPassthroughDesign({
  id: 'iommufd/lazy',
  mode: 'lazy',
  expected: 'violates',
  description:
    'iommufd over dma-fq VT-d domains: iopt_pages unpins as soon as iommu_unmap returns, while the invalidation still waits in the flush queue — a stale IOTLB entry reaches the freed frame',
  breaks: ['reachable-frame-pinned', 'reachable-frame-owned-by-guest'],
});

/** The driver's unmap callback gives back only the pins that lie wholly inside the range. */
function unpinsContainedOnly(access: Readonly<AccessObject>, iovaPage: number, npages: number): readonly AccessPin[] {
  return access.pins.filter((pin) => pin.iovaPage >= iovaPage && pin.iovaPage + pin.npages <= iovaPage + npages);
}

export const iommufdAccessIgnoresUnmap = iommufdPassthroughDesign({
  id: 'iommufd/access-ignores-unmap',
  hooks: { accessUnmap: () => [] },
  expected: 'violates',
  description:
    "an emulated device's driver whose unmap callback unpins nothing: IOAS_UNMAP retries until iopt_unmap_iova_range's WARN_ON (EDEADLOCK), and destroying the access leaves its pins on the pages",
  breaks: ['no-kernel-warning', 'pages-match-areas-and-accesses'],
});

export const iommufdAccessUnpinsContained = iommufdPassthroughDesign({
  id: 'iommufd/access-unpins-contained-only',
  hooks: { accessUnmap: unpinsContainedOnly },
  expected: 'violates',
  description:
    "an emulated device's driver whose unmap callback unpins only the pins wholly inside the range (a pin straddling two areas survives the unmap of one): EDEADLOCK",
  breaks: ['no-kernel-warning'],
});

export const iommufdUnmapUnderAccess = iommufdPassthroughDesign({
  id: 'iommufd/unmap-under-access',
  hooks: { unmapWaitsForAccesses: () => false },
  expected: 'violates',
  description:
    'IOAS_UNMAP removes an area an access still pins without notifying it: the pages are unpinned under the driver, which keeps writing the frames it was given',
  breaks: ['access-pins-within-areas', 'pages-match-areas-and-accesses', 'reachable-frame-pinned'],
});

export const iommufdPinsUncharged = iommufdPassthroughDesign({
  id: 'iommufd/pins-uncharged',
  hooks: { pagesAccountMode: () => 'none' },
  expected: 'violates',
  description:
    'iopt_alloc_pages takes IOPT_PAGES_ACCOUNT_NONE whatever the capability: pages are pinned without charging RLIMIT_MEMLOCK',
  breaks: ['locked-vm-matches-pins'],
});

export const iommufdDomainNotFilled = iommufdPassthroughDesign({
  id: 'iommufd/domain-not-filled',
  hooks: { fillDomainOnAdd: () => false },
  expected: 'violates',
  description:
    "iopt_table_add_domain adds a new domain to the IOAS without filling it with the existing areas: a device attached later faults on the IOAS's mappings",
  breaks: ['iommu-matches-ioas'],
});

export const iommufdDesigns = [
  iommufdPassthrough,
  iommufdLazyHeld,
  iommufdLazy,
  iommufdAccessIgnoresUnmap,
  iommufdAccessUnpinsContained,
  iommufdUnmapUnderAccess,
  iommufdPinsUncharged,
  iommufdDomainNotFilled,
] as const;
