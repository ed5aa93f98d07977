/**
 * The worlds of the VFIO stacks, each set up the way a VMM does before the guest runs: groups in
 * the container, SET_IOMMU, device fds open. The guest's RAM is the VMM process's memory.
 *
 * passthrough: one IOMMU group with a vfio-pci device. noiommu: the same device in a
 * VFIO_NO_IOMMU group. mediated: an emulated-IOMMU group with an mdev (GVT-g style) and a
 * vfio-ccw style channel-program device. Sixteen frames; another owner (another VM) holds one.
 */
import type { AllocPolicy } from '../../models/memory/frames.js';
import { applyVfioCommand } from '../../models/vfio/step.js';
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioConfig } from '../../models/vfio/config.js';
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../models/vfio/container.js';
import { cloneVfioState, createVfioState } from '../../models/vfio/state.js';
import type { GroupSpec, VfioState } from '../../models/vfio/types.js';
import type { VfioWorldSpec } from '../../models/vfio/state.js';

export type VfioStackKind = 'passthrough' | 'noiommu' | 'mediated';

/** Frame owner of the VMM process (the guest), and of the other VM. */
export const VM_OWNER = 1;
export const OTHER_OWNER = 2;
/** First vaddr page of the guest's RAM (8 pages, populated), and of a region faulted in lazily. */
export const RAM_VADDR_PAGE = 16;
export const RAM_PAGES = 8;
export const LAZY_VADDR_PAGE = 40;
export const FRAME_COUNT = 16;

const iommuGroup: GroupSpec = {
  kind: 'iommu',
  domainClass: 0,
  msiIsolated: true,
  apertureEndPage: 2 ** 36,
  reservedRanges: [{ startPage: 0xfee00, endPage: 0xfef00 }],
};

function groupsFor(kind: VfioStackKind): { groups: GroupSpec[]; devices: VfioWorldSpec['devices'] } {
  switch (kind) {
    case 'passthrough':
      return { groups: [iommuGroup], devices: [{ groupId: 0, kind: 'pci' }] };
    case 'noiommu':
      return { groups: [{ kind: 'noiommu' }], devices: [{ groupId: 0, kind: 'pci' }] };
    case 'mediated':
      return {
        groups: [{ kind: 'emulated' }],
        devices: [
          { groupId: 0, kind: 'mdev' },
          { groupId: 0, kind: 'ccw' },
        ],
      };
  }
}

/** `contiguousRam`: the guest's RAM is backed by physically contiguous frames (a huge page). */
export function vfioWorldSpec(
  kind: VfioStackKind,
  policy: AllocPolicy = 'lifo',
  options: { readonly contiguousRam?: boolean } = {},
): VfioWorldSpec {
  const { groups, devices } = groupsFor(kind);
  return {
    memory: { frameCount: FRAME_COUNT, policy, randomSeed: 'dmaprop' },
    process: {
      owner: VM_OWNER,
      memlockLimitPages: 6,
      capIpcLock: false,
      addressSpaceLimitPages: 64,
      regions: [
        {
          vaddrPage: RAM_VADDR_PAGE,
          npages: RAM_PAGES,
          writable: true,
          populate: true,
          ...(options.contiguousRam === true ? { contiguous: true } : {}),
        },
        { vaddrPage: LAZY_VADDR_PAGE, npages: 2, writable: true, populate: false },
      ],
    },
    otherAllocations: [{ owner: OTHER_OWNER, count: 1 }],
    groups,
    devices,
    params: { dmaEntryLimit: 4, allowUnsafeInterrupts: false },
  };
}

/** What the VMM does at start: group into the container, SET_IOMMU, open every device. */
export function setupCommands(kind: VfioStackKind, devices: number): VfioCommand[] {
  return [
    { kind: 'groupSetContainer', groupId: 0 },
    { kind: 'setIommu', type: kind === 'noiommu' ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU },
    ...Array.from({ length: devices }, (_, deviceId): VfioCommand => ({ kind: 'openDevice', deviceId })),
  ];
}

export function initVfioWorld(kind: VfioStackKind, config: VfioConfig, policy?: AllocPolicy): VfioState {
  const spec = vfioWorldSpec(kind, policy);
  const state = createVfioState(spec);
  for (const command of setupCommands(kind, spec.devices.length)) {
    const result = applyVfioCommand(state, config, command);
    if (!result.ok) throw new Error(`vfio world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  return cloneVfioState(state);
}
