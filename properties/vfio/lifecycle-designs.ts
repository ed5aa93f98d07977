/**
 * Flawed variants of the VFIO lifecycle and error-unwinding mechanisms (issue 18): each is one of
 * the VFIO model's bug hooks at the decision point of a reconfiguration or an unwind
 * (`models/vfio/config.ts`), in the world where that path runs, and is caught by the generic
 * invariants alone (atomicity, accounting, domains agreeing with the mappings).
 * Reference: docs/reference/vfio-type1.md §1.9 (attach, replay, detach), §1.16 (the unwinds).
 */
import { vfioDesign } from './design.js';
import type { VfioDesign } from './design.js';

export const vfioMapUnwindSkipsUncharge = vfioDesign({
  id: 'vfio/map-unwind-skips-uncharge',
  world: 'passthrough',
  expected: 'violates',
  vfioBugs: ['map-unwind-skips-uncharge'],
  description:
    'a MAP_DMA that fails part-way (RLIMIT_MEMLOCK, a failed pin or iommu_map) removes the mapping, unmapping and unpinning its pages, but vfio_remove_dma runs without its accounting: the pages\' locked_vm charge outlives them. No kernel fix matches exactly; 0cfef2b7410b ("vfio/type1: Remove locked page accounting workqueue", v4.12) is where the map path\'s accounting got an unwind of its own',
  breaks: ['locked-vm-matches-pins', 'released-container-uncharged', 'failed-op-leaves-state-unchanged'],
});

export const vfioMapUnwindReturnsSlotTwice = vfioDesign({
  id: 'vfio/map-unwind-returns-slot-twice',
  world: 'passthrough',
  expected: 'violates',
  vfioBugs: ['map-unwind-returns-slot-twice'],
  description:
    'a MAP_DMA that fails part-way removes the mapping with vfio_remove_dma, which gives its dma_entry_limit slot back, and then the error path gives it back again: dma_avail climbs above dma_entry_limit and the container admits more mappings than the limit. No kernel fix matches',
  breaks: ['counters-in-range', 'dma-slots-accounted', 'failed-op-leaves-state-unchanged'],
});

export const vfioMixedAttachSkipsReplay = vfioDesign({
  id: 'vfio/mixed-attach-skips-replay',
  world: 'mixed',
  expected: 'violates',
  vfioBugs: ['attach-skips-replay'],
  description:
    "an IOMMU group hot-added to a container whose emulated group kept the mappings gets a new domain that vfio_iommu_replay never fills: the assigned device's domain translates none of the mappings, which stay unpinned and uncharged by the IOMMU path. No kernel fix matches (type1 replays since it learned several domains); QEMU's memory listener had the same flaw one layer up, fixed by replaying existing guest IOMMU mappings into a hotplugged device's IOMMU notifier",
  breaks: ['domains-match-mappings', 'locked-vm-matches-pins'],
});

export const vfioMixedReplaySkipsUnwind = vfioDesign({
  id: 'vfio/mixed-replay-skips-unwind',
  world: 'mixed',
  expected: 'violates',
  vfioBugs: ['replay-skips-unwind'],
  description:
    'vfio_iommu_replay as before aae7a75a821a ("vfio/type1: Add proper error unwind for vfio_iommu_replay()", v5.9): a replay into the first IOMMU domain that fails part-way (a page it cannot pin) returns at once; the domain is freed, but the pages it pinned stay pinned and charged and the mappings it finished stay marked iommu_mapped without a domain',
  // Also domains-match-mappings (a mapping left iommu_mapped without a domain), found later: on
  // 20/20 fresh seeds once, as late as run 986, so not declared.
  breaks: ['frame-refcount-matches-holders', 'locked-vm-matches-pins', 'failed-op-leaves-state-unchanged'],
});

export const vfioMixedDetachKeepsPins = vfioDesign({
  id: 'vfio/mixed-detach-keeps-pins',
  world: 'mixed',
  expected: 'violates',
  vfioBugs: ['detach-keeps-pins'],
  description:
    'the last IOMMU group leaves a container that keeps an emulated group: vfio_iommu_unmap_unpin_reaccount unmaps every mapping from the domain and reaccounts locked_vm to the external pins, but never unpins the IOMMU-path pins. No kernel fix matches',
  breaks: ['frame-refcount-matches-holders'],
});

export const mdevPinUnwindSkipsEarlier = vfioDesign({
  id: 'mdev/pin-unwind-skips-earlier',
  world: 'mediated',
  expected: 'violates',
  vfioBugs: ['pin-pages-unwind-skips-earlier'],
  description:
    'a vfio_pin_pages call that fails on its second page (not mapped, no permission, a failed pin) releases the page that failed but not the first: the vfio_pfn pin stays, a pin no driver records. No kernel fix matches; vfio_iommu_type1_pin_pages has had its pin_unwind walk since a54eb55045ae (v4.10)',
  // Also, once the container is released with the orphan pin, frame-refcount-matches-holders,
  // locked-vm-matches-pins and released-container-uncharged: 20/20 fresh seeds, but as late as run
  // 872 of 1000, so not declared.
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});

export const vfioSetIommuUnwindSkipsAttached = vfioDesign({
  id: 'vfio/set-iommu-unwind-skips-attached',
  world: { groups: [{ kind: 'iommu' }, { kind: 'iommu', domainClass: 1 }] },
  expected: 'violates',
  vfioBugs: ['attach-groups-skips-unwind', 'release-skips-group-detach'],
  description:
    "two IOMMU groups of different domain classes: VFIO_SET_IOMMU re-opens the container once both came back, and the attach of the second fails (an allocation) after the first was attached to its new domain: __vfio_container_attach_groups returns without its unwind: loop, and the backend's release frees the domain without detaching the group still in it (vfio_release_domain without iommu_detach_group) — the first group's device keeps translating through a domain no container holds. Linux v6.12 has both steps (container.c __vfio_container_attach_groups, vfio_iommu_type1.c vfio_release_domain); an implementation keeping only one is sound for type1, each covers the other",
  breaks: ['attached-group-in-container-domain', 'failed-op-leaves-state-unchanged'],
});

export const vfioMixedAttachErrorSkipsDetach = vfioDesign({
  id: 'vfio/mixed-attach-error-skips-detach',
  world: 'mixed',
  expected: 'violates',
  vfioBugs: ['attach-error-skips-detach'],
  description:
    "an IOMMU group joins a container whose emulated group kept the mappings, and the replay into its new domain fails (a pin, an allocation, an iommu_map): the replay is unwound and the domain freed, but the error path skips out_detach's iommu_detach_group — the assigned device keeps translating through a domain no container holds. Linux v6.12 vfio_iommu_type1_attach_group detaches at out_detach before out_domain frees",
  breaks: ['attached-group-in-container-domain', 'failed-op-leaves-state-unchanged'],
});

export const mdevUnmapCallbackUnderLock = vfioDesign({
  id: 'mdev/unmap-callback-under-lock',
  world: 'mediated',
  expected: 'violates',
  vfioBugs: ['dma-unmap-under-iommu-lock'],
  description:
    'UNMAP_DMA calls the mediated drivers\' dma_unmap with iommu->lock still held; the driver unpins what it pinned with vfio_unpin_pages, which takes iommu->lock — held by the UNMAP_DMA that called it, in the same thread: it waits forever. Linux drops the lock around the callbacks since they exist (c086de818dd8, v4.10: "Notifier callback would call vfio_unpin_pages() which would acquire iommu->lock. Release lock here and reacquire it again"; v6.12 vfio_notify_dma_unmap: "Since vfio_unpin_pages() will eventually call back down to this code and try to obtain the iommu->lock we must drop it")',
  breaks: ['no-operation-waits-forever'],
});

/** The lifecycle and unwind designs (`properties/registry.ts` lists those caught on 20/20 fresh seeds). */
export const vfioLifecycleDesigns: readonly VfioDesign[] = [
  vfioMapUnwindSkipsUncharge,
  vfioMapUnwindReturnsSlotTwice,
  vfioMixedAttachSkipsReplay,
  vfioMixedReplaySkipsUnwind,
  vfioMixedDetachKeepsPins,
  mdevPinUnwindSkipsEarlier,
  mdevUnmapCallbackUnderLock,
  vfioMixedAttachErrorSkipsDetach,
  vfioSetIommuUnwindSkipsAttached,
];
