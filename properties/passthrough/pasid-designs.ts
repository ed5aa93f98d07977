/**
 * PASIDs over VT-d (issue 21; docs/reference/vtd.md §3.11): every passthrough design attaches a
 * vfio-pci device's PASIDs to its VFIO domain, issues DMA with them (filling the PASID cache and
 * PASID-tagged IOTLB entries) and tears them down. These designs run the two-domain world of the
 * group lifecycle, where a group leaves (its PASIDs torn down, its domain freed, its DID reused) and
 * comes back mid-run. The flawed variant is the design's `tearDown` hook
 * (`models/passthrough/pasid.ts`), caught by the generic invariants.
 */
import { tearDownSkippingPasidCache } from '../../models/passthrough/pasid.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';
import { twoDomainWorld } from './lifecycle-designs.js';

export const iommuPasidTeardown = passthroughDesign({
  id: 'iommu/pasid-teardown',
  mode: 'strict',
  world: twoDomainWorld,
  expected: 'holds',
  description:
    "two IOMMU groups in two VFIO domains over strict VT-d, the devices' PASIDs attached to their domains and used for DMA; a PASID's teardown clears its entry, invalidates the PASID cache for (DID, PASID) and issues a DSI (intel_pasid_tear_down_entry)",
});

export const iommuPasidTeardownSkipsPasidCache = passthroughDesign({
  id: 'iommu/pasid-teardown-skips-pasid-cache',
  mode: 'strict',
  world: twoDomainWorld,
  pasid: { tearDown: tearDownSkippingPasidCache },
  expected: 'violates',
  description:
    'the PASID teardown clears the entry and flushes the IOTLB but never invalidates the PASID cache: the cached entry keeps the device translating through the old domain after the detach, the close or its group leaving, and names the DID after the domain is freed',
  breaks: ['reused-did-carries-no-earlier-translations'],
});

/** The PASID designs (`properties/registry.ts`). */
export const passthroughPasidDesigns: readonly PassthroughDesign[] = [
  iommuPasidTeardown,
  iommuPasidTeardownSkipsPasidCache,
];
