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

/** Issue 21's designs of the VFIO stacks, in the registry's order. */
export const vfioMemoryDesigns: readonly VfioDesign[] = [vfioUpdateVaddrWithMdev, vfioGetInfoOverflowsArgsz];
