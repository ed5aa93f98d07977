/**
 * Flawed variants of the VMM's other memory and of the container's query ioctls (issue 21): each
 * replaces one of the VFIO model's hooks (`models/vfio/config.ts` `VfioHooks`) at the decision
 * point of the source it names, in the world where that path runs, and is caught by the generic
 * invariants and generators alone. Reference: docs/reference/vfio-type1.md §1.17.
 */
import { vfioDesign } from './design.js';
import type { VfioDesign } from './design.js';

export const vfioUpdateVaddrWithMdev = vfioDesign({
  id: 'vfio/update-vaddr-with-mdev',
  world: 'mediated',
  expected: 'violates',
  hooks: { updateVaddrOffered: () => true },
  description:
    "CHECK_EXTENSION(VFIO_UPDATE_VADDR) says yes with an emulated-IOMMU group attached, as type1 did from the protocol's introduction (v5.12) until the 2023 rework that added the check v6.12 has (vfio_iommu_type1_check_extension: 'Disable this feature if mdevs are present. They cannot safely pin/unpin/rw while vaddrs are being updated.'): a VMM told it may live-update invalidates vaddrs that an mdev driver still pins and reads through",
  breaks: ['query-answers-match-state'],
});

export const vfioGetInfoOverflowsArgsz = vfioDesign({
  id: 'vfio/get-info-overflows-argsz',
  world: 'passthrough',
  expected: 'violates',
  hooks: { infoCapsFit: (argszBytes: number) => argszBytes >= 24 },
  description:
    "VFIO_IOMMU_GET_INFO copies the capability chain whenever the caller's buffer holds the info struct, not struct and chain (v6.12 vfio_iommu_type1_get_info tests argsz < sizeof(info) + caps.size): QEMU's first call, argsz = sizeof(info), gets the migration, DMA-available and IOVA-range capabilities written past its buffer",
  breaks: ['query-reply-within-argsz'],
});

/** A guest with its assigned device's BAR and a host driver's buffer mmapped by the VMM (VM_PFNMAP VMAs). */
const pfnmapWorld = { groups: [{ kind: 'iommu' as const }], barPages: 2, driverBufferPages: 1 };

export const vfioP2pBar = vfioDesign({
  id: 'vfio/p2p-bar',
  world: pfnmapWorld,
  expected: 'holds',
  description:
    "the VMM maps its device's mmapped BAR for peer-to-peer DMA: vaddr_get_pfns follows the VM_PFNMAP PTEs (follow_fault_pfn) and maps the pfns, which have no struct page, without pinning or charging them, and put_pfn puts nothing for them at unmap; a driver's buffer of host RAM behind a VM_PFNMAP VMA is refused EFAULT",
});

export const vfioPfnmapRamUnpinned = vfioDesign({
  id: 'vfio/pfnmap-ram-unpinned',
  world: pfnmapWorld,
  expected: 'violates',
  hooks: { pfnmapPfnAccepted: () => true },
  description:
    "vaddr_get_pfns uses whatever pfn a VM_PFNMAP PTE names, RAM included (v6.12 accepts only is_invalid_reserved_pfn, else -EFAULT): a host driver's buffer mmapped by the VMM is mapped for the device with no pin — its frames belong to the driver, which frees them when it likes — and the IOMMU-path unpin at unmap puts references the map never took",
  breaks: [
    'no-dma-to-foreign-frame',
    'reachable-frame-owned-by-guest',
    'frame-refcount-matches-holders',
    'round-trip-returns-everything',
    'failed-op-leaves-state-unchanged',
  ],
});

export const vfioPfnmapCharged = vfioDesign({
  id: 'vfio/pfnmap-charged',
  world: pfnmapWorld,
  expected: 'violates',
  hooks: { chargesPfn: () => true },
  description:
    "vfio_pin_pages_remote charges locked_vm for every page, a BAR's pfns included (v6.12: `if (!rsvd && !vfio_find_vpfn(dma, iova))`), while put_pfn unpins and vfio_unpin_pages_remote uncharges only pages with a struct page: each MAP_DMA of the BAR leaks RLIMIT_MEMLOCK until the VMM can map no RAM",
  breaks: [
    'locked-vm-matches-pins',
    'released-container-uncharged',
    'round-trip-returns-everything',
    'failed-op-leaves-state-unchanged',
  ],
});

/** A guest whose VMM's never-written pages map the shared zero page until written. */
const zeroPageWorld = { groups: [{ kind: 'iommu' as const }], zeroPage: true };

export const vfioZeroPage = vfioDesign({
  id: 'vfio/zero-page',
  world: zeroPageWorld,
  expected: 'holds',
  description:
    "a guest page read but never written maps the shared zero page; MAP_DMA's long-term pin never pins it: with WRITE, FOLL_WRITE breaks COW (a fresh page); read-only, gup_must_unshare makes GUP unshare it first (FAULT_FLAG_UNSHARE in a COW mapping), so the device and the guest share the page the guest will write",
});

export const vfioPinsZeroPage = vfioDesign({
  id: 'vfio/pins-zero-page',
  world: zeroPageWorld,
  expected: 'violates',
  hooks: { longtermPinUnsharesZeroPage: () => false },
  description:
    "a read-only MAP_DMA of a page that maps the shared zero page maps the zero page itself, as GUP did before it unshared for R/O long-term pins (the FAULT_FLAG_UNSHARE work of 2022-2023; vfio's 873aefb376bb, \"vfio/type1: Unpin zero pages\", v5.19, fixed the reference it leaked meanwhile): the device reads the kernel's page, and the guest's next write gives its vaddr a new page the device never sees",
  breaks: ['no-dma-to-foreign-frame', 'reachable-frame-owned-by-guest', 'reachable-frame-pinned'],
});

/** Issue 21's designs of the VFIO stacks, in the registry's order. */
export const vfioMemoryDesigns: readonly VfioDesign[] = [
  vfioUpdateVaddrWithMdev,
  vfioGetInfoOverflowsArgsz,
  vfioP2pBar,
  vfioPfnmapRamUnpinned,
  vfioPfnmapCharged,
  vfioZeroPage,
  vfioPinsZeroPage,
];
