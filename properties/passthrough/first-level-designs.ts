/**
 * First-level PASID entries (issue 21; docs/reference/vtd.md §3.12): VFIO over an IOMMU whose
 * scalable mode has first-level translation only (`ecap.FLTS`, no `ecap.SLTS`), so that
 * `first_level_by_default` makes VFIO's domains first-level: their RID2PASID and PASID entries are
 * PGTT 1, every attach assigns a cache tag of (DID, PASID), and the IOTLB entries the device fills
 * are flushed only by PASID-based invalidations — one per tag on unmap, the PASID's on teardown.
 * The flawed variants are the design's `pasid` hooks (`models/passthrough/pasid.ts`), caught by the
 * generic invariants.
 */
import { attachPasidWithoutCacheTag, tearDownPasid, tearDownWithDsiOnly } from '../../models/passthrough/pasid.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

export const iommuFirstLevelPasid = passthroughDesign({
  id: 'iommu/first-level-pasid',
  mode: 'strict',
  firstLevelOnly: true,
  expected: 'holds',
  description:
    "VFIO over strict VT-d with first-level translation only: the VFIO domain's entries are PGTT 1, each attach (the device's, each PASID's) assigns a cache tag, an unmap flushes each tag's PASID page-selectively (qi_flush_piotlb) and a PASID's teardown all of that PASID (intel_pasid_tear_down_entry)",
});

export const iommuFirstLevelTeardownDsi = passthroughDesign({
  id: 'iommu/first-level-teardown-dsi',
  mode: 'strict',
  firstLevelOnly: true,
  pasid: { tearDown: tearDownWithDsiOnly },
  expected: 'violates',
  description:
    "the same IOMMU, but a PASID's teardown flushes the IOTLB with a DSI whatever the entry's PGTT: the DSI does not reach first-level entries, the PASID's cached translations outlive its tag, and the domain's next unmap no longer flushes them (the wrong choice 8798d36 made by PGTT, the other way)",
  breaks: ['no-stale-iotlb-outside-flush-queue', 'reused-did-carries-no-earlier-translations'],
});

export const iommuFirstLevelNoCacheTag = passthroughDesign({
  id: 'iommu/first-level-no-cache-tag',
  mode: 'strict',
  firstLevelOnly: true,
  pasid: { attach: attachPasidWithoutCacheTag, tearDown: tearDownPasid },
  expected: 'violates',
  description:
    "the same IOMMU, but a PASID's attach writes the PGTT 1 entry without assigning its cache tag: an unmap flushes the PASIDs of the domain's tags only, and the device's DMA with the PASID still reaches the unmapped, unpinned frame",
  breaks: ['no-stale-iotlb-outside-flush-queue', 'reachable-frame-pinned', 'reachable-frame-owned-by-guest'],
});

/** The first-level designs (`properties/registry.ts`). */
export const passthroughFirstLevelDesigns: readonly PassthroughDesign[] = [
  iommuFirstLevelPasid,
  iommuFirstLevelTeardownDsi,
  iommuFirstLevelNoCacheTag,
];
