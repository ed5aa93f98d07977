/**
 * The world of the vIOMMU stack, described as data and set up the way the VMM does before the
 * guest runs: the VFIO passthrough world (one IOMMU group with the assigned vfio-pci device; the
 * guest's RAM in the VMM process, backed by contiguous frames from the lowest; another VM holding
 * frames; LIFO reuse by default) with its host IOMMU domain in the VT-d model.
 *
 * shadow: a VFIO_TYPE1v2_IOMMU container with nothing mapped; the VMM maps on trapped
 * invalidations. nested: a VFIO_TYPE1_NESTING_IOMMU container (its domain is a nesting parent)
 * with every RAM page mapped at IOVA = GPA, one MAP_DMA per page (so that a balloon request can
 * unmap one page), and the device moved onto a nested domain on it that walks the guest's table.
 *
 * Defaults (today's small world): 16 frames, 8 pages of guest RAM, another VM holding 1 frame,
 * GIOVA pages 0..3, an 8-entry host IOTLB (eviction in short runs), RLIMIT_MEMLOCK and
 * dma_entry_limit of 16 pages and mappings: above anything either design needs (nested pins the 8
 * RAM pages; shadow one page per mapped GIOVA page), so the designs are compared on their
 * mechanisms, not on running out of either. A world given smaller limits is checked against them.
 */
import { worldSize } from '../../models/world-size.js';
import type { IommuCaps } from '../../models/iommu/types.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import {
  applyPassthroughCommand,
  clonePassthroughState,
  createPassthroughState,
} from '../../models/passthrough/step.js';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import { VFIO_TYPE1_NESTING_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../models/vfio/container.js';
import { createVfioState } from '../../models/vfio/state.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { ViommuConfig, ViommuMode, ViommuState } from '../../models/viommu/types.js';
import { ASSIGNED_DEVICE, bindGuestFirstLevel, mapGuestPage } from '../../models/viommu/vmm.js';
import { FRAME_COUNT, OTHER_VM_FRAMES, RAM_PAGES, RAM_VADDR_PAGE, vfioWorldSpec } from '../vfio/world.js';

/** The world a vIOMMU design runs in; every field has today's value as its default. */
export interface ViommuWorldDescription {
  /** Host frames (default 16): guest RAM, the other VM's frames and the free ones come out of them. */
  readonly frames?: number;
  /** Pages of guest RAM, populated at start from contiguous frames (default 8; 1 to 512). */
  readonly ramPages?: number;
  /** Frames another VM holds at start (default 1); frames the guest lets go of are reused by it. */
  readonly otherVmFrames?: number;
  /**
   * `RLIMIT_MEMLOCK` of the VMM process, in pages (default 16; no CAP_IPC_LOCK). A nested VMM pins
   * all of guest RAM at start, so it needs at least `ramPages`.
   */
  readonly memlockLimitPages?: number;
  /** The type1 `dma_entry_limit` (default 16). A nested VMM maps RAM one page per mapping: at least `ramPages`. */
  readonly dmaEntryLimit?: number;
  /** GIOVA pages the guest's driver maps and its device addresses: [0, giovaPages) (default 4; 1 to 4096). */
  readonly giovaPages?: number;
  /** Entries of the host IOMMU's IOTLB (default 8; 1 to 4096). */
  readonly iotlbEntries?: number;
}

/** A vIOMMU world with every default filled in. */
export interface ViommuWorldLayout {
  readonly frames: number;
  readonly ramPages: number;
  readonly otherVmFrames: number;
  readonly memlockLimitPages: number;
  readonly dmaEntryLimit: number;
  readonly giovaPages: number;
  readonly iotlbEntries: number;
}

export const VIOMMU_LIMIT = 16;
export const GIOVA_PAGES = 4;
export const IOTLB_ENTRIES = 8;

/** The world with its defaults filled in; throws an Error saying why when `mode`'s VMM cannot set it up. */
export function viommuWorldLayout(mode: ViommuMode, world: ViommuWorldDescription = {}): ViommuWorldLayout {
  if (typeof world !== 'object' || world === null) throw new Error('vIOMMU world: a world is an object of sizes');
  const ramPages = worldSize('vIOMMU world', 'ramPages', world.ramPages, 1, 512, RAM_PAGES);
  const otherVmFrames = worldSize('vIOMMU world', 'otherVmFrames', world.otherVmFrames, 0, 4096, OTHER_VM_FRAMES);
  const frames = worldSize('vIOMMU world', 'frames', world.frames, 2, 4096, FRAME_COUNT);
  if (frames <= ramPages + otherVmFrames) {
    throw new Error(
      `vIOMMU world: ${frames} frames hold the ${ramPages} RAM pages and the other VM's ${otherVmFrames} with none left free: no frame could be reused`,
    );
  }
  const layout: ViommuWorldLayout = {
    frames,
    ramPages,
    otherVmFrames,
    memlockLimitPages: worldSize(
      'vIOMMU world',
      'memlockLimitPages',
      world.memlockLimitPages,
      1,
      2 ** 31,
      VIOMMU_LIMIT,
    ),
    dmaEntryLimit: worldSize('vIOMMU world', 'dmaEntryLimit', world.dmaEntryLimit, 1, 65535, VIOMMU_LIMIT),
    giovaPages: worldSize('vIOMMU world', 'giovaPages', world.giovaPages, 1, 4096, GIOVA_PAGES),
    iotlbEntries: worldSize('vIOMMU world', 'iotlbEntries', world.iotlbEntries, 1, 4096, IOTLB_ENTRIES),
  };
  if (mode === 'nested' && (layout.memlockLimitPages < ramPages || layout.dmaEntryLimit < ramPages)) {
    throw new Error(
      `vIOMMU world: a nested VMM maps and pins all ${ramPages} RAM pages at start, one mapping each, but RLIMIT_MEMLOCK is ${layout.memlockLimitPages} pages and dma_entry_limit ${layout.dmaEntryLimit}`,
    );
  }
  return layout;
}

export function initViommuWorld(
  config: ViommuConfig,
  policy?: AllocPolicy,
  world: ViommuWorldLayout = viommuWorldLayout(config.mode),
): ViommuState {
  const spec = vfioWorldSpec(
    {
      groups: [{ kind: 'iommu', pci: 1 }],
      frames: world.frames,
      ramPages: world.ramPages,
      otherVmFrames: world.otherVmFrames,
      memlockLimitPages: world.memlockLimitPages,
      dmaEntryLimit: world.dmaEntryLimit,
    },
    policy,
    { contiguousRam: true },
  );
  const caps: Partial<IommuCaps> = { iotlbEntries: world.iotlbEntries };
  const host = createPassthroughState(createVfioState(spec), caps);
  const nested = config.mode === 'nested';
  const setup: PassthroughCommand[] = [
    { kind: 'groupSetContainer', groupId: 0 },
    { kind: 'setIommu', type: nested ? VFIO_TYPE1_NESTING_IOMMU : VFIO_TYPE1v2_IOMMU },
    { kind: 'openDevice', deviceId: ASSIGNED_DEVICE },
  ];
  if (nested) {
    for (let gpaPage = 0; gpaPage < world.ramPages; gpaPage++)
      setup.push(mapGuestPage(RAM_VADDR_PAGE + gpaPage, gpaPage, true));
  }
  for (const command of setup) {
    const result = applyPassthroughCommand(host, config.host, command);
    if (!result.ok) throw new Error(`vIOMMU world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  const nestedDid = nested ? bindGuestFirstLevel(host) : null;
  return {
    host: clonePassthroughState(host),
    guest: {
      table: {},
      ballooned: [],
      invalidated: [],
      did: GUEST_DID,
      contextPending: false,
      retired: [],
      translation: true,
      pasidFlush: null,
    },
    guestRam: { vaddrPage: RAM_VADDR_PAGE, pages: world.ramPages },
    nestedDid,
    contextCache: GUEST_DID,
    scalable: config.scalable,
    // Scalable mode: the guest set the RID_PASID entry up and invalidated the PASID cache at probe.
    pasidCache: config.scalable ? { did: GUEST_DID, current: true } : null,
    inflight: [],
  };
}
