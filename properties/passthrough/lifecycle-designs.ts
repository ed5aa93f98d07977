/**
 * The group lifecycle over VT-d (issue 18; docs/reference/vtd.md §3.10): IOMMU groups leave the
 * container and come back mid-run, VFIO's domains are freed and allocated again and their DIDs
 * reused, and the devices keep issuing DMA throughout. The world has two IOMMU groups of different
 * domain classes, so that one group leaves (its domain and DID freed, the mappings kept for the
 * other) and comes back (a new domain given the lowest free DID, every mapping replayed into it,
 * `vfio_iommu_replay`) while the guest's memory is mapped. The flawed variants are the design's
 * `blockTranslation` hook (`models/passthrough/lifecycle.ts`), caught by the generic invariants.
 */
import { blockFlushingClearedDid, blockKeepingContext } from '../../models/passthrough/lifecycle.js';
import type { VfioWorldDescription } from '../vfio/world.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

/** Two IOMMU groups, one vfio-pci device each, in two domain classes: two VFIO domains, two DIDs. */
export const twoDomainWorld: VfioWorldDescription = {
  groups: [
    { kind: 'iommu', pci: 1, domainClass: 0 },
    { kind: 'iommu', pci: 1, domainClass: 1 },
  ],
};

export const iommuStrictRegroup = passthroughDesign({
  id: 'iommu/strict-regroup',
  mode: 'strict',
  world: twoDomainWorld,
  expected: 'holds',
  description:
    "two IOMMU groups in two VFIO domains over strict VT-d; a group leaves (blocked, its domain and DID freed, then its default domain) and comes back (the lowest free DID, the mappings replayed): the context clear's DSI leaves nothing under the DID",
});

/**
 * What a detach that leaves the freed DID's translations behind breaks, either way it does so.
 * Also no-dma-to-foreign-frame (the DMA after another VM took the freed frame): 19/20 fresh seeds
 * at the default budget, as late as run 873, so not declared.
 */
const detachBreaks: readonly string[] = [
  'no-dma-to-free-frame',
  'reachable-frame-owned-by-guest',
  'reachable-frame-pinned',
  'unowned-device-reaches-nothing',
  'reused-did-carries-no-earlier-translations',
  'no-stale-iotlb-outside-flush-queue',
];

export const iommuContextClearFlushesClearedDid = passthroughDesign({
  id: 'iommu/context-clear-flushes-cleared-did',
  mode: 'strict',
  world: twoDomainWorld,
  lifecycle: { blockTranslation: blockFlushingClearedDid },
  expected: 'violates',
  description:
    'the detach clears the context entry, then invalidates the DID read from the cleared entry (0): the freed domain\'s IOTLB entries survive under its DID, which the group\'s default domain or its next VFIO domain reuses. Shipped in f90584f4beb8 ("iommu/vt-d: Add helper to flush caches for context change", v6.11-rc), fixed by 7af6c720417f ("iommu/vt-d: Fix incorrect domain ID in context flush helper", v6.11-rc6, reported from VFIO)',
  breaks: detachBreaks,
});

export const iommuDetachKeepsContext = passthroughDesign({
  id: 'iommu/detach-keeps-context',
  mode: 'strict',
  world: twoDomainWorld,
  lifecycle: { blockTranslation: blockKeepingContext },
  expected: 'violates',
  description:
    "the detach never clears the device's context entry (no domain_context_clear_one) while the DID is freed and the domain's pages go: the device keeps translating under the old DID, through its cached entries, into whichever domain gets the DID next",
  breaks: detachBreaks,
});

/** The lifecycle designs (`properties/registry.ts` lists those caught on 20/20 fresh seeds). */
export const passthroughLifecycleDesigns: readonly PassthroughDesign[] = [
  iommuStrictRegroup,
  iommuContextClearFlushesClearedDid,
  iommuDetachKeepsContext,
];
