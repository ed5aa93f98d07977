/**
 * The KVMGT world, set up the way the VMM does before the guest runs: the guest's RAM populated in
 * the VMM process, an emulated-IOMMU group with the vGPU in the container, the RAM mapped into the
 * container at IOVA == GPA in sections, the vGPU opened and created, and the guest's driver has
 * pointed each of the vGPU's GGTT entries at a page of the upper half of its RAM (surfaces and
 * batch buffers), so the GPU has work to reach from the first step. The host's GPU driver holds a
 * frame per host GGTT entry, another VM holds its frames, and the rest are free. In today's world
 * (the default): eight pages of RAM in sections of two, the vGPU's four entries at pages 4..7, two
 * host frames, one of another VM's, five free of sixteen.
 */
import { ownGgttIndices } from '../gvt/config.js';
import { emulateGgttWrite } from '../gvt/ggtt.js';
import { newVgpu } from '../gvt/vgpu.js';
import { VFIO_TYPE1v2_IOMMU } from '../vfio/container.js';
import { mapDmaArgs } from '../vfio/map-dma.js';
import { createVfioState } from '../vfio/state.js';
import { applyVfioCommand } from '../vfio/step.js';
import type { VfioCommand } from '../vfio/commands.js';
import { pages2M } from '../gvt/huge2m.js';
import type { ProcessRegionSpec } from '../vfio/state.js';
import type { KvmgtConfig, KvmgtWorld } from './config.js';
import { kvmgtHost } from './host.js';
import { DMA_POOL_BASE, HOST_OWNER, OTHER_OWNER, RAM_VADDR_PAGE, VM_OWNER } from './config.js';
import type { KvmgtState } from './types.js';

/**
 * The VMM's guest RAM as process regions, in gfn order: each huge-page range one region of
 * physically contiguous frames (`contiguous`, ascending from the lowest free), the pages between
 * them regions of frames from the allocator (in today's `lifo` world, descending: never
 * contiguous).
 */
function ramRegions(world: KvmgtWorld): ProcessRegionSpec[] {
  const span = pages2M(world.layout);
  const regions: ProcessRegionSpec[] = [];
  let gfn = 0;
  for (const start of [...world.hugePages, world.ramPages]) {
    if (start > gfn)
      regions.push({ vaddrPage: RAM_VADDR_PAGE + gfn, npages: start - gfn, writable: true, populate: true });
    if (start >= world.ramPages) break;
    regions.push({ vaddrPage: RAM_VADDR_PAGE + start, npages: span, writable: true, populate: true, contiguous: true });
    gfn = start + span;
  }
  return regions;
}

export function initKvmgt(config: KvmgtConfig): KvmgtState {
  const world = config.world;
  const vfio = createVfioState({
    memory: { frameCount: world.frames, policy: world.policy, randomSeed: 'dmaprop' },
    process: {
      owner: VM_OWNER,
      memlockLimitPages: world.memlockLimitPages,
      capIpcLock: false,
      addressSpaceLimitPages: Math.max(64, RAM_VADDR_PAGE + world.ramPages),
      regions: ramRegions(world),
    },
    otherAllocations: [
      { owner: HOST_OWNER, count: world.hostGgttDmaAddrs.length },
      { owner: OTHER_OWNER, count: world.otherVmFrames },
    ],
    groups: [{ kind: 'emulated' }],
    devices: [{ groupId: 0, kind: 'mdev' }],
    params: { dmaEntryLimit: world.dmaEntryLimit, allowUnsafeInterrupts: false },
  });
  const setup: VfioCommand[] = [
    { kind: 'groupSetContainer', groupId: 0 },
    { kind: 'setIommu', type: VFIO_TYPE1v2_IOMMU },
    ...Array.from({ length: world.ramPages / world.ramSectionPages }, (_, section): VfioCommand => {
      const gfn = section * world.ramSectionPages;
      return {
        kind: 'mapDma',
        ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + gfn, iovaPage: gfn, npages: world.ramSectionPages }),
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
  world.hostGgttDmaAddrs.forEach((dmaAddr, index) => {
    const frame = hostFrames[index];
    if (frame === undefined) throw new Error('kvmgt world setup: no host frame for the host GGTT');
    map[dmaAddr] = frame.mfn;
  });
  // The pool is handed out from its end: the lowest address first.
  const free = Array.from({ length: world.dmaPoolPages }, (_, i) => DMA_POOL_BASE + world.dmaPoolPages - 1 - i);
  const state: KvmgtState = {
    vfio,
    vgpu: newVgpu(world.layout),
    guestPages: {},
    hostDma: { map, free },
    writeProtected: [],
    vmDestroyed: false,
    inflight: [],
    fault: null,
    releasedGgtt: null,
  };
  const half = Math.floor(world.ramPages / 2);
  ownGgttIndices(world.layout).forEach((index, i) => {
    const args = { index, gfn: half + (i % (world.ramPages - half)), present: true, sizeBytes: 8, offsetBytes: 0 };
    const result = emulateGgttWrite(state, kvmgtHost(config), config.gvt, args);
    if (!result.ok) throw new Error(`kvmgt world setup: GGTT write ${index} refused with ${String(result.error)}`);
  });
  return state;
}
