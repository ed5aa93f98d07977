/**
 * The built-in KVMGT designs (docs/debates.md#kvmgt-services): write protection of guest page
 * tables, command-buffer shadow copies, and the vGPU's dma_unmap op — each sound choice beside the
 * flawed one, and the op as shipped.
 */
import { kvmgtDesign } from './design.js';

export const gvtWriteProtect = kvmgtDesign({
  id: 'gvt/write-protect',
  expected: 'holds',
  description:
    'KVMGT write-protects every guest page it shadows as a page table: a guest store traps and the shadow follows the guest entry',
});

export const gvtNoWriteProtect = kvmgtDesign({
  id: 'gvt/no-write-protect',
  expected: 'violates',
  writeProtect: false,
  description:
    "the guest's page tables are shadowed when the PPGTT is announced and never write-protected: a guest store goes unseen and the shadow keeps reaching the page the guest entry named before",
  breaks: ['shadow-matches-guest-entry', 'shadowed-table-write-protected'],
});

export const cmdbufShadowCopy = kvmgtDesign({
  id: 'cmdbuf/shadow-copy',
  expected: 'holds',
  description: 'the scanner copies a batch buffer into a host object, audits the copy, and the GPU executes the copy',
});

export const cmdbufScanThenCopy = kvmgtDesign({
  id: 'cmdbuf/scan-then-copy',
  expected: 'violates',
  cmdbuf: 'scan-then-copy',
  description:
    "the scanner audits the guest's batch buffer in place, then copies it for the GPU: the guest's other vCPU rewrites a store to the host's GGTT range between the audit and the copy, and the GPU runs the unaudited copy (a double fetch, 4 steps; atomic, it holds). cmd_parser.c copies first (find_bb_size, perform_bb_shadow → copy_gma_to_hva) and scans the copy, re-checking the terminator the sizing found",
  breaks: ['no-dma-to-foreign-frame'],
});

export const cmdbufScanInPlace = kvmgtDesign({
  id: 'cmdbuf/scan-in-place',
  expected: 'violates',
  cmdbuf: 'scan-in-place',
  description:
    "the scanner audits the guest's batch buffer and the GPU executes it in place: scan, guest rewrites a store to the host's GGTT range, execute",
  breaks: ['no-dma-to-foreign-frame'],
});

export const kvmgtUnmapCallback = kvmgtDesign({
  id: 'kvmgt/unmap-callback',
  expected: 'holds',
  description:
    "the vGPU's dma_unmap op points the shadow entries that use the unmapped pages at scratch, then unmaps and unpins them",
});

export const kvmgtIgnoresUnmap = kvmgtDesign({
  id: 'kvmgt/ignores-unmap',
  expected: 'violates',
  vfioBugs: ['mdev-ignores-unmap'],
  description:
    "the vGPU's dma_unmap op returns with its pins held: the VMM's UNMAP_DMA of shadowed guest RAM retries and the kernel BUG_ONs",
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});

export const kvmgtShippedUnmap = kvmgtDesign({
  id: 'kvmgt/shipped-unmap',
  expected: 'violates',
  unmapCallback: 'drop-cache',
  unmapLock: 'cache',
  description:
    "the vGPU's dma_unmap op as shipped (docs/reference/gvt-kvmgt.md §4.7): cache entries of the range are unmapped, unpinned and removed whatever their references, and the shadow entries holding their DMA addresses are left in place. Isolation holds — a dangling address faults in the host IOMMU, or reaches another page of the same VM once reused — but the shadow no longer matches the guest and the cache's references are wrong",
  breaks: ['shadow-matches-guest-entry', 'cache-kref-matches-shadow-users', 'shadow-dma-addr-cached'],
});

export const kvmgtUnmapUnderCacheLock = kvmgtDesign({
  id: 'kvmgt/unmap-under-cache-lock',
  expected: 'violates',
  unmapLock: 'cache',
  description:
    "the sound dma_unmap op (shadow users to scratch, then unmap and unpin) under cache_lock only, as the shipped intel_vgpu_dma_unmap locks: it runs between the mediator's translation (intel_gvt_dma_map_guest_page) and its shadow write under the vGPU lock — a GGTT write or a trapped store's handler — and the mediator writes the address the op has just released (3 steps; atomic, it holds). Once the address is reused the dangling entry also miscounts the new entry's references",
  breaks: ['shadow-matches-guest-entry', 'shadow-dma-addr-cached'],
});

export const kvmgtUnmapUnlocked = kvmgtDesign({
  id: 'kvmgt/unmap-unlocked',
  expected: 'violates',
  unmapLock: 'none',
  description:
    'the sound dma_unmap op taking no lock: it also runs inside intel_gvt_dma_map_guest_page, between the pin and map and the cache insert, finds no entry for the page just pinned, and UNMAP_DMA retries until BUG_ON (2 steps); between the insert and the shadow write it leaves a dangling address, as under cache_lock (atomic, it holds)',
  breaks: [
    'no-kernel-crash',
    'failed-op-leaves-state-unchanged',
    'shadow-matches-guest-entry',
    'shadow-dma-addr-cached',
  ],
});
