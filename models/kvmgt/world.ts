/**
 * The standard small KVMGT world, set up the way the VMM does before the guest runs: the guest's
 * eight pages of RAM populated in the VMM process, an emulated-IOMMU group with the vGPU in the
 * container, the RAM mapped into the container at IOVA == GPA in sections of two pages, the vGPU
 * opened and created, and the guest's driver has pointed the vGPU's four GGTT entries at its
 * pages 4..7 (surfaces and batch buffers), so the GPU has work to reach from the first step. Two frames belong to the host's GPU driver (the host's GGTT pages), one to
 * another VM; five are free.
 */
import { ownGgttIndices } from '../gvt/config.js';
import { emulateGgttWrite } from '../gvt/ggtt.js';
import { newVgpu } from '../gvt/vgpu.js';
import { VFIO_TYPE1v2_IOMMU } from '../vfio/container.js';
import { mapDmaArgs } from '../vfio/map-dma.js';
import { createVfioState } from '../vfio/state.js';
import { applyVfioCommand } from '../vfio/step.js';
import type { VfioCommand } from '../vfio/commands.js';
import type { KvmgtConfig } from './config.js';
import { kvmgtHost } from './host.js';
import {
  DMA_POOL_BASE,
  DMA_POOL_PAGES,
  FRAME_COUNT,
  HOST_GGTT_DMA_ADDRS,
  HOST_OWNER,
  OTHER_OWNER,
  RAM_PAGES,
  RAM_SECTION_PAGES,
  RAM_VADDR_PAGE,
  VM_OWNER,
  kvmgtLayout,
} from './config.js';
import type { KvmgtState } from './types.js';

export function initKvmgt(config: KvmgtConfig): KvmgtState {
  const vfio = createVfioState({
    memory: { frameCount: FRAME_COUNT, policy: 'lifo', randomSeed: 'dmaprop' },
    process: {
      owner: VM_OWNER,
      memlockLimitPages: 16,
      capIpcLock: false,
      addressSpaceLimitPages: 64,
      regions: [{ vaddrPage: RAM_VADDR_PAGE, npages: RAM_PAGES, writable: true, populate: true }],
    },
    otherAllocations: [
      { owner: HOST_OWNER, count: HOST_GGTT_DMA_ADDRS.length },
      { owner: OTHER_OWNER, count: 1 },
    ],
    groups: [{ kind: 'emulated' }],
    devices: [{ groupId: 0, kind: 'mdev' }],
    params: { dmaEntryLimit: 8, allowUnsafeInterrupts: false },
  });
  const setup: VfioCommand[] = [
    { kind: 'groupSetContainer', groupId: 0 },
    { kind: 'setIommu', type: VFIO_TYPE1v2_IOMMU },
    ...Array.from({ length: RAM_PAGES / RAM_SECTION_PAGES }, (_, section): VfioCommand => {
      const gfn = section * RAM_SECTION_PAGES;
      return {
        kind: 'mapDma',
        ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + gfn, iovaPage: gfn, npages: RAM_SECTION_PAGES }),
      };
    }),
    { kind: 'openDevice', deviceId: 0 },
  ];
  for (const command of setup) {
    const result = applyVfioCommand(vfio, config.vfio, command);
    if (!result.ok) throw new Error(`kvmgt world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  const hostFrames = vfio.otherAllocations.filter((allocation) => allocation.owner === HOST_OWNER);
  const map: Record<string, number> = {};
  HOST_GGTT_DMA_ADDRS.forEach((dmaAddr, index) => {
    const frame = hostFrames[index];
    if (frame === undefined) throw new Error('kvmgt world setup: no host frame for the host GGTT');
    map[dmaAddr] = frame.mfn;
  });
  // The pool is handed out from its end: the lowest address first.
  const free = Array.from({ length: DMA_POOL_PAGES }, (_, i) => DMA_POOL_BASE + DMA_POOL_PAGES - 1 - i);
  const state: KvmgtState = {
    vfio,
    vgpu: newVgpu(kvmgtLayout),
    guestPages: {},
    hostDma: { map, free },
    writeProtected: [],
    vmDestroyed: false,
  };
  ownGgttIndices(kvmgtLayout).forEach((index, i) => {
    const args = { index, gfn: RAM_PAGES / 2 + i, present: true, sizeBytes: 8, offsetBytes: 0 };
    const result = emulateGgttWrite(state, kvmgtHost(config), config.gvt, args);
    if (!result.ok) throw new Error(`kvmgt world setup: GGTT write ${index} refused with ${String(result.error)}`);
  });
  return state;
}
