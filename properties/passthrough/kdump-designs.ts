/**
 * A kdump kernel over VT-d (issue 21; docs/reference/vtd.md §3.14): the vfio-pci device's context
 * entry was copied from the crashed kernel and names its domain, which maps the other VM's frames;
 * the boot's probe attaches the device's default domain and tears the copied entry down through the
 * design's `kdump.tearDown` hook (`models/iommu/kdump.ts`), with the device's DMA in the window
 * between the teardown's invalidation and the rest of it. The flawed order is caught by the generic
 * invariants: the device's DMA lands in the other VM's frame, and what it cached outlives the attach.
 */
import { copiedContextTearDown, invalidateBeforeClear } from '../../models/iommu/kdump.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

/** Context-cache entries of the kdump designs: more than the world's devices. */
const CONTEXT_CACHE_ENTRIES = 4;

export const iommuKdumpCopiedContext = passthroughDesign({
  id: 'iommu/kdump-copied-context',
  mode: 'strict',
  contextCacheEntries: CONTEXT_CACHE_ENTRIES,
  kdump: { tearDown: copiedContextTearDown },
  expected: 'holds',
  description:
    "VFIO over strict VT-d in a kdump kernel: the device's context entry was copied from the crashed kernel, and the probe's attach (domain_context_mapping_one) tears it down as copied_context_tear_down does since c1e4f1dccbe9d: Present cleared and written back, the context cache and the IOTLB invalidated for the old DID, then the entry zeroed, so a DMA in between faults and nothing of the old domain is cached again",
});

export const iommuKdumpInvalidateBeforeClear = passthroughDesign({
  id: 'iommu/kdump-invalidate-before-clear',
  mode: 'strict',
  contextCacheEntries: CONTEXT_CACHE_ENTRIES,
  kdump: { tearDown: invalidateBeforeClear },
  expected: 'violates',
  description:
    "the same kdump kernel, but the attach invalidates the copied entry's old DID (context cache, then IOTLB) before it clears the entry, as domain_context_mapping_one did before c1e4f1dccbe9d: a DMA in between walks the still-present entry, lands in the crashed kernel's domain and caches it again, and the cached entry keeps the device there after the attach",
  breaks: [
    'no-dma-to-foreign-frame',
    'reachable-frame-owned-by-guest',
    'reachable-frame-pinned',
    'unowned-device-reaches-nothing',
  ],
});

/** The kdump designs (`properties/registry.ts`). */
export const passthroughKdumpDesigns: readonly PassthroughDesign[] = [
  iommuKdumpCopiedContext,
  iommuKdumpInvalidateBeforeClear,
];
