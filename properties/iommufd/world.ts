/**
 * The world of the passthrough stack over iommufd, set up the way a VMM using /dev/iommu does
 * before the guest runs (QEMU's iommufd backend): the guest's RAM mapped in the VMM process, one
 * IOAS, the assigned device's VFIO cdev bound and attached to it (an auto domain), and an emulated
 * device's access object attached to the same IOAS. A second device (its own IOMMU group) starts
 * unbound; another VM holds a frame.
 *
 * Object ids at start: IOAS 1, device 0 is object 2, its auto hwpt 3, the access 4; later objects
 * take the lowest free id (xa_alloc), so the generators' small ids (1..6) hit live objects.
 */
import { cloneIommuState, createIommuState } from '../../models/iommu/state.js';
import type { IommuConfig } from '../../models/iommu/config.js';
import { createIommufdState, soundIommufdHooks, vtdDevice } from '../../models/iommufd/index.js';
import type { IommufdConfig, IommufdHooks } from '../../models/iommufd/index.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { allocFrame } from '../../models/memory/frames.js';
import { stepIommufdPt } from '../../models/iommufd-pt/step.js';
import { OTHER_OWNER } from '../../models/iommufd-pt/types.js';
import type { IommufdPtCommand, IommufdPtConfig, IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { InvalidationMode } from '../../models/passthrough/types.js';

/** Frame owner of the VMM process (the guest). */
export const VM_OWNER = 1;
export const FRAME_COUNT = 16;
/** The guest's RAM: vaddr pages 16..23, writable. */
export const RAM_VADDR_PAGE = 16;
export const RAM_PAGES = 8;
/** A read-only region (a ROM BAR image): vaddr pages 40..41. */
export const ROM_VADDR_PAGE = 40;
export const ROM_PAGES = 2;
export const MEMLOCK_LIMIT_PAGES = 6;
/** IOVA pages the generators use (and a device's DMA targets). */
export const IOVA_PAGES = 8;
/** Object ids the generators use. */
export const MAX_OBJECT_ID = 6;

export const IOAS_ID = 1;
export const ACCESS_ID = 4;

/** The world's devices: two VT-d devices, each its own IOMMU group. */
export const iommufdPtDevices = [vtdDevice(0), vtdDevice(1)];

export function iommufdPtConfig(mode: InvalidationMode, hooks: IommufdHooks, iommu: IommuConfig): IommufdPtConfig {
  const iommufd: IommufdConfig = {
    devices: iommufdPtDevices,
    allowUnsafeInterrupts: false,
    capSysResource: false,
    hooks,
  };
  return { mode, iommufd, iommu };
}

/** The setup every run starts from: IOAS 1, device 0 bound and attached, access 4 attached. */
const setup: readonly IommufdPtCommand[] = [
  { kind: 'ioasAlloc', flags: 0 },
  { kind: 'deviceBind', deviceIndex: 0, flags: 0 },
  { kind: 'deviceAttach', deviceIndex: 0, ptId: IOAS_ID, flags: 0 },
  { kind: 'accessCreate', needsPinPages: true },
  { kind: 'accessAttach', accessId: ACCESS_ID, ioasId: IOAS_ID },
];

export function initIommufdPtWorld(config: IommufdPtConfig, policy: AllocPolicy = 'lifo'): IommufdPtState {
  const iommufd = createIommufdState({
    memory: { frameCount: FRAME_COUNT, policy, randomSeed: 'iommufd-pt' },
    owner: VM_OWNER,
    memlockLimitPages: MEMLOCK_LIMIT_PAGES,
    capIpcLock: false,
    openedAsVfio: false,
    // A VMM's RLIMIT_AS, as the type1 stacks' worlds give theirs (properties/vfio/world.ts).
    addressSpaceLimitPages: 64,
    regions: [
      { vaddrPage: RAM_VADDR_PAGE, npages: RAM_PAGES, writable: true },
      { vaddrPage: ROM_VADDR_PAGE, npages: ROM_PAGES, writable: false },
    ],
  });
  const other = allocFrame(iommufd.memory, OTHER_OWNER);
  let state: IommufdPtState = {
    iommufd,
    iommu: cloneIommuState(createIommuState()),
    dids: {},
    held: [],
    otherFrames: other === null ? [] : [other],
  };
  // Setup runs with the sound hooks: a flawed design differs from the sound one in what follows.
  const setupConfig = { ...config, iommufd: { ...config.iommufd, hooks: soundIommufdHooks } };
  for (const command of setup) {
    const step = stepIommufdPt(state, setupConfig, command);
    if (!step.result.ok) throw new Error(`iommufd world setup: ${command.kind} refused ${String(step.result.error)}`);
    state = step.state;
  }
  return state;
}
