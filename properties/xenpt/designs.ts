/**
 * The built-in designs of the Xen passthrough stack: Xen at the pinned commit with the HVM guest's
 * IOMMU tables shared with its EPT or kept in sync, in each quarantine mode; and the flawed
 * variants a real implementation could ship (and Xen did, before the advisories each names), each
 * made with the same hooks at Xen's decision points.
 */
import type { IommuPte } from '../../models/xen/types.js';
import { soundDeferredFlush } from '../../models/xenpt/config.js';
import { xenPtDesign } from './design.js';
import { xenPtGrantV2Designs } from './grant-v2-designs.js';

export const xenPtHvmSharedPt = xenPtDesign({
  id: 'xenpt/hvm-shared-pt',
  expected: 'holds',
  hvmPt: 'shared',
  description:
    "Xen passthrough: the HVM guest's device walks its EPT (iommu_use_hap_pt), the PV guest's and dom0's a table by mfn kept by page type; deassigned devices go to quarantine with a scratch page each; XENMEM_add_to_physmap holds each moved page until its deferred IOTLB flush",
});

export const xenPtHvmSyncPt = xenPtDesign({
  id: 'xenpt/hvm-sync-pt',
  expected: 'holds',
  hvmPt: 'sync',
  description:
    "Xen passthrough: the HVM guest's IOMMU table is its own, kept in sync with every p2m change (ept_set_entry → iommu_legacy_map/unmap); quarantine with a scratch page each",
});

export const xenPtQuarantineBasic = xenPtDesign({
  id: 'xenpt/quarantine-basic',
  expected: 'holds',
  hvmPt: 'sync',
  quarantine: 'basic',
  description:
    "Xen passthrough with iommu=quarantine (basic): a deassigned device's context entry is cleared in dom_io and its DMA faults",
});

/** XSA-302: without quarantine a deassigned device goes straight back to the hardware domain. */
export const xenPtNoQuarantine = xenPtDesign({
  id: 'xenpt/no-quarantine',
  expected: 'violates',
  hvmPt: 'sync',
  quarantine: 'none',
  description:
    "iommu=quarantine=0 (Xen before XSA-302): deassign_device hands the device straight back to the hardware domain, and a DMA the guest's driver issued before lands in dom0's memory through dom0's IOMMU table",
  breaks: ['no-dma-to-foreign-frame'],
});

/** XSA-346 (second patch): the moved page put before the deferred flush of its old dfn. */
export const xenPtPutBeforeFlush = xenPtDesign({
  id: 'xenpt/put-before-flush',
  expected: 'violates',
  deferredFlush: { ...soundDeferredFlush, name: 'put-before-flush', putsPage: 'before-flush' },
  description:
    "XENMEM_add_to_physmap (gmfn_range) with its IOTLB flush deferred but no page reference held until it (Xen before XSA-346, 'IOMMU: hold page ref until after deferred TLB flush'): another vCPU balloons the page out at its new gfn, and the stale IOTLB entry of the old dfn reaches a free frame",
  breaks: ['no-dma-to-free-frame', 'device-reach-owned-or-held'],
});

/** XSA-346 (first patch): guest_remove_page inside a batch frees a page with its flush still deferred. */
export const xenPtRemoveDefersFlush = xenPtDesign({
  id: 'xenpt/remove-page-defers-flush',
  expected: 'violates',
  deferredFlush: { ...soundDeferredFlush, name: 'remove-defers-flush', removeFlushesNow: false },
  // The window changed is the batch's (XENMEM_add_to_physmap until its flush): its generation
  // preempts the gfn move alone, not the DMA, the teardown or the grant copy, which would share a
  // sequence's few preemptions with it. Preempting every window, it missed one seed in 20.
  preempt: ['moveGfn'],
  description:
    "XENMEM_add_to_physmap onto an occupied gfn frees the page there (guest_remove_page) while iommu_dont_flush_iotlb is still set (Xen before XSA-346, 'IOMMU: suppress iommu_dont_flush_iotlb when about to free a page'): the IOTLB keeps translating that dfn to the freed frame until the batch's flush",
  breaks: ['no-dma-to-free-frame', 'device-reach-owned-or-held'],
});

/** A p2m removal that never reaches the IOMMU table of a non-shared HVM domain. */
export const xenPtUnmapNotSynced = xenPtDesign({
  id: 'xenpt/unmap-not-synced',
  expected: 'violates',
  hvmPt: 'sync',
  iommuSync: {
    name: 'map-only',
    propagates: (_old: IommuPte | null, next: IommuPte | null) => next !== null,
  },
  description:
    "the p2m → IOMMU sync of an HVM domain with its own IOMMU table propagates new entries but not removals (the class of XSA-378's missed IOMMU updates): a ballooned-out gfn stays mapped for DMA to the freed frame",
  breaks: ['iommu-table-matches-p2m', 'device-reach-owned-or-held', 'no-dma-to-free-frame'],
});

/** Devices released after the memory at destruction. */
export const xenPtReleaseDevicesLate = xenPtDesign({
  id: 'xenpt/release-devices-after-memory',
  expected: 'violates',
  hvmPt: 'sync',
  teardown: { name: 'devices-after-memory', devicesBeforeMemory: false },
  description:
    "domain_relinquish_resources frees the domain's memory (relinquish_memory) before pci_release_devices and iommu_free_pgtables: between the two continuations the still-assigned device reaches freed frames through the domain's IOMMU table, and the domain is gone with its device and tables",
  breaks: [
    'device-reach-owned-or-held',
    'no-dma-to-free-frame',
    'dead-domain-has-no-device',
    'dead-domain-context-reaches-nothing',
  ],
});

/** One scratch page for every quarantined device (before XSA-400's per-device quarantine tables). */
export const xenPtSharedScratch = xenPtDesign({
  id: 'xenpt/shared-scratch',
  expected: 'violates',
  scratch: { name: 'shared', scratchFor: () => 0 },
  description:
    "quarantine with one scratch page (and page table) shared by every quarantined device (Xen before XSA-400's per-device quarantine page tables): what one domain's former device writes into it, another's reads",
  breaks: ['quarantine-scratch-private'],
});

export const xenPtDesigns = [
  xenPtHvmSharedPt,
  xenPtHvmSyncPt,
  xenPtQuarantineBasic,
  xenPtNoQuarantine,
  xenPtPutBeforeFlush,
  xenPtRemoveDefersFlush,
  xenPtUnmapNotSynced,
  xenPtReleaseDevicesLate,
  xenPtSharedScratch,
  ...xenPtGrantV2Designs,
] as const;
