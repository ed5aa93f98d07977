/**
 * The world both sides of the type1 ↔ iommufd differential start from, the same for both: one IOMMU
 * group with one vfio-pci device (VT-d, 48-bit aperture, the x86 MSI window reserved), 16 host
 * frames, the guest's RAM at vaddr pages 16..23 and a lazily faulted region at 40..41, RLIMIT_MEMLOCK
 * 8 pages, dma_entry_limit 65535 (the default), another VM holding a frame. Nothing is set up: the
 * VMM program starts with an empty container (type1) or a fresh /dev/vfio/vfio (iommufd).
 */
import { createIommuState } from '../../../models/iommu/state.js';
import { createIommufdState, soundIommufdHooks, vtdDevice } from '../../../models/iommufd/index.js';
import type { AllocPolicy } from '../../../models/memory/frames.js';
import { allocFrame } from '../../../models/memory/frames.js';
import type { Type1IommufdPairState } from '../../../models/iommufd-pt/pair.js';
import type { IommufdPtConfig, IommufdPtState } from '../../../models/iommufd-pt/types.js';
import { OTHER_OWNER } from '../../../models/iommufd-pt/types.js';
import { createPassthroughState } from '../../../models/passthrough/step.js';
import type { PassthroughConfig } from '../../../models/passthrough/types.js';
import { createVfioState } from '../../../models/vfio/state.js';
import { LAZY_PAGES, RAM_VADDR_PAGE, VM_OWNER, vfioWorldLayout, vfioWorldSpec } from '../../vfio/world.js';

export const DIFF_FRAMES = 16;
export const DIFF_RAM_PAGES = 8;
export const DIFF_MEMLOCK_PAGES = 8;
export const DIFF_DMA_ENTRY_LIMIT = 65535;

export const diffVfioLayout = vfioWorldLayout({
  groups: [{ kind: 'iommu', pci: 1 }],
  frames: DIFF_FRAMES,
  ramPages: DIFF_RAM_PAGES,
  memlockLimitPages: DIFF_MEMLOCK_PAGES,
  dmaEntryLimit: DIFF_DMA_ENTRY_LIMIT,
  otherVmFrames: 1,
});

export const diffType1Config: PassthroughConfig = { mode: 'strict', vfio: { bugs: [] }, iommu: { bugs: [] } };

export const diffIommufdConfig: IommufdPtConfig = {
  mode: 'strict',
  iommufd: { devices: [vtdDevice(0)], allowUnsafeInterrupts: false, capSysResource: false, hooks: soundIommufdHooks },
  iommu: { bugs: [] },
};

function iommufdSide(policy: AllocPolicy): IommufdPtState {
  const iommufd = createIommufdState({
    memory: { frameCount: DIFF_FRAMES, policy, randomSeed: 'dmaprop' },
    owner: VM_OWNER,
    memlockLimitPages: DIFF_MEMLOCK_PAGES,
    capIpcLock: false,
    openedAsVfio: true,
    // The same RLIMIT_AS as the type1 side's VMM: both refuse the same mmap.
    addressSpaceLimitPages: diffVfioLayout.addressSpaceLimitPages,
    regions: [
      { vaddrPage: RAM_VADDR_PAGE, npages: DIFF_RAM_PAGES, writable: true },
      { vaddrPage: diffVfioLayout.lazyVaddrPage, npages: LAZY_PAGES, writable: true },
    ],
  });
  const other = allocFrame(iommufd.memory, OTHER_OWNER);
  return { iommufd, iommu: createIommuState(), dids: {}, held: [], otherFrames: other === null ? [] : [other] };
}

export function initDifferentialPair(policy: AllocPolicy = 'lifo'): Type1IommufdPairState {
  return {
    type1: createPassthroughState(createVfioState(vfioWorldSpec(diffVfioLayout, policy))),
    iommufd: iommufdSide(policy),
    vmm: { groupSet: false, iommuSet: false, deviceOpen: false },
    diverged: null,
  };
}
