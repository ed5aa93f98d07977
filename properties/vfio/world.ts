/**
 * The worlds of the VFIO stacks, described as data and set up the way a VMM does before the guest
 * runs: every group into the container (in the order given), SET_IOMMU, every device fd open. The
 * guest's RAM is the VMM process's memory.
 *
 * A world is a list of groups, each with its devices, and a few sizes. A container may hold
 * IOMMU-backed groups (vfio-pci devices, one IOMMU domain per domain class), emulated-IOMMU groups
 * (mdev and vfio-ccw style devices) and, alone, VFIO_NO_IOMMU groups: type1 puts the first two in
 * one container (`vfio_iommu_type1_attach_group` records an emulated group in
 * `emulated_iommu_groups` next to `domain_list`, docs/reference/vfio-type1.md §1.9), while
 * VFIO_GROUP_SET_CONTAINER refuses a noiommu group next to any other kind (EPERM, §1.2).
 *
 * Presets: `passthrough`, one IOMMU group with a vfio-pci device; `noiommu`, the same device in a
 * VFIO_NO_IOMMU group; `mediated`, an emulated group with an mdev (GVT-g style) and a vfio-ccw
 * style channel-program device; `mixed`, the IOMMU group of `passthrough` and the emulated group
 * of `mediated` in one container. Sizes default to today's small world: 16 frames, 8 pages of
 * guest RAM (populated) and 2 faulted in lazily, RLIMIT_MEMLOCK 6 pages, dma_entry_limit 4,
 * another VM holding one frame. Group `i` has id `i`; devices are numbered in group order (pci,
 * then mdev, then ccw within a group).
 */
import type { AllocPolicy } from '../../models/memory/frames.js';
import type { VfioWorldFeature } from '../../models/vfio/config.js';
import { applyVfioCommand } from '../../models/vfio/step.js';
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioConfig } from '../../models/vfio/config.js';
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../models/vfio/container.js';
import { cloneVfioState, createVfioState } from '../../models/vfio/state.js';
import type { DeviceSpec, VfioWorldSpec } from '../../models/vfio/state.js';
import type { DeviceKind, GroupSpec, VfioState } from '../../models/vfio/types.js';
import type { WorldFeatures } from '../generic/bug-flags.js';

/** One group of a world's container and its devices. */
export type VfioGroupDescription =
  | {
      /** An IOMMU-backed group (VFIO_IOMMU): its devices DMA through the group's IOMMU domain. */
      readonly kind: 'iommu';
      /** vfio-pci devices in the group (default 1). */
      readonly pci?: number;
      /**
       * Groups of one class share an IOMMU domain in the container (same IOMMU ops and coherency);
       * a group of another class gets a domain of its own into which type1 replays every mapping.
       * Default 0: every IOMMU group shares one domain.
       */
      readonly domainClass?: number;
    }
  | {
      /** A VFIO_NO_IOMMU group (enable_unsafe_noiommu_mode): bus addresses, no translation. */
      readonly kind: 'noiommu';
      /** vfio-pci devices in the group (default 1). */
      readonly pci?: number;
    }
  | {
      /** An emulated-IOMMU group (VFIO_EMULATED_IOMMU): devices pin through vfio_pin_pages. */
      readonly kind: 'emulated';
      /** Generic mediated devices (GVT-g style drivers pinning pages for their own use; default 1). */
      readonly mdev?: number;
      /** vfio-ccw style channel-program devices (pin a program's pages for one I/O; default 1). */
      readonly ccw?: number;
    };

/** A world of the VFIO stacks: the container's groups and the sizes of everything else. */
export interface VfioWorldDescription {
  /** The groups, joined to the container in this order at start; at least one. */
  readonly groups: readonly VfioGroupDescription[];
  /** Host frames (default 16); the guest's RAM and the other VM's frames come out of them. */
  readonly frames?: number;
  /** Pages of guest RAM, populated at start (default 8); IOVAs of generated requests span as many pages. */
  readonly ramPages?: number;
  /** `RLIMIT_MEMLOCK` of the VMM process, in pages (default 6; it has no CAP_IPC_LOCK). */
  readonly memlockLimitPages?: number;
  /** The type1 module parameter `dma_entry_limit`: mappings per container (default 4). */
  readonly dmaEntryLimit?: number;
  /** Frames another VM holds at start (default 1); frames VFIO lets go of are reused by it. */
  readonly otherVmFrames?: number;
  /**
   * Pages of its vfio-pci device's BAR the VMM has mmapped (a VM_PFNMAP VMA of pfns with no struct
   * page, as QEMU maps a BAR for peer-to-peer DMA; default 0). Needs an IOMMU-backed group and no
   * emulated one (`models/vfio/pfnmap.ts`).
   */
  readonly barPages?: number;
  /**
   * Pages of a host driver's buffer the VMM has mmapped (a VM_PFNMAP VMA over host RAM the driver
   * holds; default 0): MAP_DMA of it is EFAULT. Needs `barPages` rules too.
   */
  readonly driverBufferPages?: number;
  /**
   * Model the shared zero page (default false): a read of a guest page never written maps the
   * kernel's zero page (one frame of its own), which MAP_DMA must not pin (`models/vfio/process-memory.ts`).
   */
  readonly zeroPage?: boolean;
}

/** A named world: `passthrough`, `noiommu`, `mediated` or `mixed` (see `vfioWorldPresets`). */
export type VfioWorldPreset = 'passthrough' | 'noiommu' | 'mediated' | 'mixed';

/** A preset's name, or a world described in full. */
export type VfioWorld = VfioWorldPreset | VfioWorldDescription;

export const vfioWorldPresets: Readonly<Record<VfioWorldPreset, VfioWorldDescription>> = {
  passthrough: { groups: [{ kind: 'iommu', pci: 1 }] },
  noiommu: { groups: [{ kind: 'noiommu', pci: 1 }] },
  mediated: { groups: [{ kind: 'emulated', mdev: 1, ccw: 1 }] },
  mixed: {
    groups: [
      { kind: 'iommu', pci: 1 },
      { kind: 'emulated', mdev: 1, ccw: 1 },
    ],
  },
};

/** Frame owner of the VMM process (the guest), and of the other VM. */
export const VM_OWNER = 1;
export const OTHER_OWNER = 2;
/** Frame owner of a host driver's buffer the VMM mmapped (`driverBufferPages`). */
export const HOST_DRIVER_OWNER = 3;
/** The first pfn of the device's BAR (physical address 0xf0000000: beyond host memory). */
export const BAR_PFN_BASE = 0xf0000;
/** First vaddr page of the guest's RAM. */
export const RAM_VADDR_PAGE = 16;
/** Defaults of the sizes (today's small world). */
export const RAM_PAGES = 8;
export const FRAME_COUNT = 16;
export const MEMLOCK_LIMIT_PAGES = 6;
export const DMA_ENTRY_LIMIT = 4;
export const OTHER_VM_FRAMES = 1;
/** A writable region faulted in on first use, after the RAM (at page 40 in the default world). */
export const LAZY_VADDR_PAGE = 40;
export const LAZY_PAGES = 2;
/** Largest sizes a world may ask for: small worlds are the point, and IOVAs sit below page 1024. */
const MAX_FRAMES = 4096;
const MAX_RAM_PAGES = 512;
/**
 * Groups per container and devices per group: a default run must take a group out of the
 * container and back (every command kind executes), which needs every device of the group closed
 * first; with more, it stops happening within a thousand runs.
 */
const MAX_GROUPS = 4;
const MAX_GROUP_DEVICES = 4;

/** A world with every default filled in, its groups and devices as the model builds them. */
export interface VfioWorldLayout {
  /** In messages: "the mixed world", "the described world". */
  readonly name: string;
  /** Group `i`'s kind and IOMMU properties (domain class, aperture, reserved MSI window). */
  readonly groups: readonly GroupSpec[];
  /** Device `i`'s group and kind. */
  readonly devices: readonly DeviceSpec[];
  /** Host frames. */
  readonly frames: number;
  /** Pages of guest RAM, populated at start from vaddr page `RAM_VADDR_PAGE`. */
  readonly ramPages: number;
  /** `RLIMIT_MEMLOCK` of the VMM process, in pages. */
  readonly memlockLimitPages: number;
  /** Mappings per container (`dma_entry_limit`). */
  readonly dmaEntryLimit: number;
  /** Frames the other VM holds at start. */
  readonly otherVmFrames: number;
  /** The first vaddr page of the region faulted in lazily (`LAZY_PAGES` pages). */
  readonly lazyVaddrPage: number;
  /** A vaddr page no region maps. */
  readonly unmappedVaddrPage: number;
  /** `RLIMIT_AS` of the VMM process, in pages. */
  readonly addressSpaceLimitPages: number;
  /** Pages of the device BAR mmapped at `barVaddrPage` (VM_PFNMAP, pfns from `BAR_PFN_BASE`). */
  readonly barPages: number;
  readonly barVaddrPage: number;
  /** Pages of a host driver's buffer mmapped at `bufferVaddrPage` (VM_PFNMAP over host RAM). */
  readonly driverBufferPages: number;
  readonly bufferVaddrPage: number;
  /** The shared zero page is modelled. */
  readonly zeroPage: boolean;
  /** The container is a VFIO_NO_IOMMU one (no MAP_DMA / UNMAP_DMA). */
  readonly noiommu: boolean;
  /** Every group id, ascending. */
  readonly groupIds: readonly number[];
  /** Every device id, ascending. */
  readonly deviceIds: readonly number[];
  /** The vfio-pci devices, ascending. */
  readonly pciDevices: readonly number[];
  /** The generic mediated devices, ascending. */
  readonly mdevDevices: readonly number[];
  /** The vfio-ccw style devices, ascending. */
  readonly ccwDevices: readonly number[];
}

function count(value: unknown, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`vfio world: ${what} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function iommuGroup(domainClass: number): GroupSpec {
  return {
    kind: 'iommu',
    domainClass,
    msiIsolated: true,
    apertureEndPage: 2 ** 36,
    reservedRanges: [{ startPage: 0xfee00, endPage: 0xfef00 }],
  };
}

function groupOf(description: VfioGroupDescription, index: number): { spec: GroupSpec; kinds: DeviceKind[] } {
  const where = `group ${index}`;
  switch (description.kind) {
    case 'iommu': {
      const pci = count(description.pci, `${where}: pci`, 1, MAX_GROUP_DEVICES, 1);
      return {
        spec: iommuGroup(count(description.domainClass, `${where}: domainClass`, 0, MAX_GROUPS - 1, 0)),
        kinds: Array<DeviceKind>(pci).fill('pci'),
      };
    }
    case 'noiommu':
      return {
        spec: { kind: 'noiommu' },
        kinds: Array<DeviceKind>(count(description.pci, `${where}: pci`, 1, MAX_GROUP_DEVICES, 1)).fill('pci'),
      };
    case 'emulated': {
      const mdev = count(description.mdev, `${where}: mdev`, 0, MAX_GROUP_DEVICES, 1);
      const ccw = count(description.ccw, `${where}: ccw`, 0, MAX_GROUP_DEVICES, 1);
      if (mdev + ccw === 0) throw new Error(`vfio world: ${where}: an emulated group needs an mdev or a ccw device`);
      if (mdev + ccw > MAX_GROUP_DEVICES) {
        throw new Error(`vfio world: ${where}: at most ${MAX_GROUP_DEVICES} devices in a group, got ${mdev + ccw}`);
      }
      return {
        spec: { kind: 'emulated' },
        kinds: [...Array<DeviceKind>(mdev).fill('mdev'), ...Array<DeviceKind>(ccw).fill('ccw')],
      };
    }
    default:
      throw new Error(
        `vfio world: ${where}: kind must be 'iommu', 'noiommu' or 'emulated', got ${JSON.stringify((description as { kind?: unknown }).kind)}`,
      );
  }
}

/** A world's layout; throws an Error saying why when the world cannot be built or exercised. */
export function vfioWorldLayout(world: VfioWorld): VfioWorldLayout {
  const preset = typeof world === 'string' ? world : null;
  if (preset !== null && !(preset in vfioWorldPresets)) {
    throw new Error(`vfio world: unknown preset '${preset}' (known: ${Object.keys(vfioWorldPresets).join(', ')})`);
  }
  const description = preset === null ? (world as VfioWorldDescription) : vfioWorldPresets[preset];
  if (typeof description !== 'object' || description === null || !Array.isArray(description.groups)) {
    throw new Error('vfio world: a world is a preset name or an object with a list of groups');
  }
  if (description.groups.length === 0) throw new Error('vfio world: a container needs at least one group');
  if (description.groups.length > MAX_GROUPS) {
    throw new Error(`vfio world: at most ${MAX_GROUPS} groups in a container, got ${description.groups.length}`);
  }
  const built = description.groups.map(groupOf);
  const noiommu = built.filter((group) => group.spec.kind === 'noiommu').length;
  if (noiommu > 0 && noiommu < built.length) {
    throw new Error(
      'vfio world: a VFIO_NO_IOMMU group cannot share a container with IOMMU-backed or emulated groups (VFIO_GROUP_SET_CONTAINER refuses it, EPERM)',
    );
  }
  const ramPages = count(description.ramPages, 'ramPages', 1, MAX_RAM_PAGES, RAM_PAGES);
  const otherVmFrames = count(description.otherVmFrames, 'otherVmFrames', 0, MAX_FRAMES, OTHER_VM_FRAMES);
  const frames = count(description.frames, 'frames', 1, MAX_FRAMES, FRAME_COUNT);
  if (frames <= ramPages + otherVmFrames) {
    throw new Error(
      `vfio world: ${frames} frames hold the ${ramPages} RAM pages and ${otherVmFrames} frames of the other VM with none left free: nothing could fault in or be handed to another owner`,
    );
  }
  const devices: DeviceSpec[] = built.flatMap((group, groupId) => group.kinds.map((kind) => ({ groupId, kind })));
  const lazyVaddrPage = RAM_VADDR_PAGE + Math.max(ramPages, RAM_PAGES) + 16;
  const barPages = count(description.barPages, 'barPages', 0, 4, 0);
  const driverBufferPages = count(description.driverBufferPages, 'driverBufferPages', 0, 4, 0);
  if (barPages + driverBufferPages > 0) {
    const kinds = built.map((group) => group.spec.kind);
    if (!kinds.includes('iommu') || kinds.includes('emulated')) {
      throw new Error(
        'vfio world: barPages and driverBufferPages need an IOMMU-backed group and no emulated one (vfio_pin_pages of a VM_PFNMAP page is not modelled)',
      );
    }
  }
  if (description.zeroPage !== undefined && typeof description.zeroPage !== 'boolean') {
    throw new Error(`vfio world: zeroPage must be true or false, got ${String(description.zeroPage)}`);
  }
  const zeroPage = description.zeroPage === true;
  if (frames <= ramPages + otherVmFrames + driverBufferPages + (zeroPage ? 1 : 0)) {
    throw new Error(
      `vfio world: ${frames} frames leave none free beside the RAM, the other VM's and the driver's buffer`,
    );
  }
  const ids = (kind: DeviceKind): number[] => devices.flatMap((device, id) => (device.kind === kind ? [id] : []));
  return {
    name: preset === null ? 'the described world' : `the ${preset} world`,
    groups: built.map((group) => group.spec),
    devices,
    frames,
    ramPages,
    memlockLimitPages: count(description.memlockLimitPages, 'memlockLimitPages', 1, 2 ** 31, MEMLOCK_LIMIT_PAGES),
    dmaEntryLimit: count(description.dmaEntryLimit, 'dmaEntryLimit', 1, 65535, DMA_ENTRY_LIMIT),
    otherVmFrames,
    lazyVaddrPage,
    unmappedVaddrPage: lazyVaddrPage + 60,
    barPages,
    barVaddrPage: lazyVaddrPage + LAZY_PAGES + 6,
    driverBufferPages,
    bufferVaddrPage: lazyVaddrPage + LAZY_PAGES + 14,
    zeroPage,
    addressSpaceLimitPages: 64 + Math.max(0, ramPages - RAM_PAGES),
    noiommu: noiommu > 0,
    groupIds: built.map((_, id) => id),
    deviceIds: devices.map((_, id) => id),
    pciDevices: ids('pci'),
    mdevDevices: ids('mdev'),
    ccwDevices: ids('ccw'),
  };
}

/** What the world has that a bug may need (`vfioBugNeeds`), for the factories' refusals. */
export function vfioWorldFeatures(layout: VfioWorldLayout): WorldFeatures<VfioWorldFeature> {
  const has = new Set<VfioWorldFeature>();
  const emulated = layout.mdevDevices.length + layout.ccwDevices.length;
  if (!layout.noiommu) has.add('type1-container');
  if (layout.groups.some((group) => group.kind === 'iommu')) has.add('iommu-group');
  if (layout.groups.some((group) => group.kind === 'emulated')) has.add('emulated-group');
  if (emulated > 0) has.add('emulated-device');
  if (layout.mdevDevices.length > 0) has.add('generic-mdev');
  if (layout.ccwDevices.length > 0) has.add('ccw-device');
  if (emulated > 1) has.add('second-pinning-device');
  if (layout.groupIds.length > 1) has.add('several-groups');
  // Each (mapping, IOVA page) is charged once; mappings may share vaddrs, so a type1 container can
  // charge up to dma_entry_limit mappings of the whole address space.
  if (!layout.noiommu && layout.memlockLimitPages < layout.dmaEntryLimit * layout.addressSpaceLimitPages)
    has.add('memlock-limit-reachable');
  return { name: layout.name, has };
}

/** `contiguousRam`: the guest's RAM is backed by physically contiguous frames (a huge page). */
export function vfioWorldSpec(
  world: VfioWorld | VfioWorldLayout,
  policy: AllocPolicy = 'lifo',
  options: { readonly contiguousRam?: boolean } = {},
): VfioWorldSpec {
  const layout = isLayout(world) ? world : vfioWorldLayout(world);
  return {
    memory: { frameCount: layout.frames, policy, randomSeed: 'dmaprop' },
    process: {
      owner: VM_OWNER,
      memlockLimitPages: layout.memlockLimitPages,
      capIpcLock: false,
      addressSpaceLimitPages: layout.addressSpaceLimitPages,
      ...(layout.zeroPage ? { zeroPage: true } : {}),
      regions: [
        {
          vaddrPage: RAM_VADDR_PAGE,
          npages: layout.ramPages,
          writable: true,
          populate: true,
          ...(options.contiguousRam === true ? { contiguous: true } : {}),
        },
        { vaddrPage: layout.lazyVaddrPage, npages: LAZY_PAGES, writable: true, populate: false },
        ...(layout.barPages > 0
          ? [
              {
                vaddrPage: layout.barVaddrPage,
                npages: layout.barPages,
                writable: true,
                populate: false,
                pfnmapBasePfn: BAR_PFN_BASE,
              },
            ]
          : []),
        ...(layout.driverBufferPages > 0
          ? [
              {
                vaddrPage: layout.bufferVaddrPage,
                npages: layout.driverBufferPages,
                writable: true,
                populate: false,
                pfnmapOwner: HOST_DRIVER_OWNER,
              },
            ]
          : []),
      ],
    },
    otherAllocations: layout.otherVmFrames > 0 ? [{ owner: OTHER_OWNER, count: layout.otherVmFrames }] : [],
    groups: layout.groups,
    devices: layout.devices,
    params: { dmaEntryLimit: layout.dmaEntryLimit, allowUnsafeInterrupts: false },
  };
}

function isLayout(world: VfioWorld | VfioWorldLayout): world is VfioWorldLayout {
  return typeof world === 'object' && 'deviceIds' in world;
}

/** What the VMM does at start: every group into the container, SET_IOMMU, open every device. */
export function setupCommands(world: VfioWorld | VfioWorldLayout): VfioCommand[] {
  const layout = isLayout(world) ? world : vfioWorldLayout(world);
  return [
    ...layout.groupIds.map((groupId): VfioCommand => ({ kind: 'groupSetContainer', groupId })),
    { kind: 'setIommu', type: layout.noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU },
    ...layout.deviceIds.map((deviceId): VfioCommand => ({ kind: 'openDevice', deviceId })),
  ];
}

export function initVfioWorld(world: VfioWorld | VfioWorldLayout, config: VfioConfig, policy?: AllocPolicy): VfioState {
  const layout = isLayout(world) ? world : vfioWorldLayout(world);
  const state = createVfioState(vfioWorldSpec(layout, policy));
  for (const command of setupCommands(layout)) {
    const result = applyVfioCommand(state, config, command);
    if (!result.ok) throw new Error(`vfio world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  return cloneVfioState(state);
}
