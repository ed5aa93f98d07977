/**
 * fast-check generators for the VFIO stacks, drawn from the world (`world.ts`): device ids, group
 * ids, frames and the guest's RAM are the world's, and each driver's commands name only devices of
 * its kind. ioctl arguments come two ways: well-formed requests over small page universes (so maps
 * and unmaps collide with each other, the guest's RAM and the dma_entry_limit), and raw u64 values
 * at the edges — zero, unaligned, near 2^64, wrapping — so every refusal of the reference is
 * exercised. IOVA pages span as many pages as the guest has RAM.
 */
import fc from 'fast-check';
import type { VfioCommand, VfioCommandKind } from '../../models/vfio/commands.js';
import {
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../../models/vfio/container.js';
import { mapDmaArgs, VFIO_DMA_MAP_MINSZ } from '../../models/vfio/map-dma.js';
import { VFIO_EXTENSIONS, VFIO_IOMMU_INFO_SIZE, VFIO_UPDATE_VADDR } from '../../models/vfio/query.js';
import { faultPoints } from '../../models/vfio/types.js';
import {
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  unmapAllArgs,
  unmapDmaArgs,
} from '../../models/vfio/unmap-dma.js';
import type { CommandSpace } from '../../src/design.js';
import { phasedSpace, preemptedPhases } from '../generic/interleave.js';
import { preferOr } from '../prefer.js';
import type { VfioCommandTemplate, VfioTemplate } from './resolve.js';
import { OTHER_OWNER, RAM_VADDR_PAGE } from './world.js';
import type { VfioWorldLayout } from './world.js';

/** Where the IOVA universe of generated requests starts (a stack with page tables puts it across a boundary). */
export interface VfioSpaceOptions {
  readonly iovaBasePage?: number;
}

/** u64 values at the edges: zero, unaligned, page-aligned small, near and at the top of 2^64. */
const edgeU64 = fc.constantFrom(
  '0',
  '1',
  '4095',
  '4096',
  '8192',
  '12288',
  '18446744073709547520',
  '18446744073709551615',
  '18446744073709543424',
  '9223372036854775808',
  '281474976710656',
);

const flags = fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 0xff);

/**
 * Vaddr pages: mostly the guest's RAM, sometimes the lazily faulted region or unmapped addresses,
 * and in a world with VM_PFNMAP VMAs (a device BAR, a driver's buffer) or the zero page their pages
 * (for the zero page, the lazily faulted ones) as often as the rest together.
 */
export function vaddrPageIn(layout: VfioWorldLayout): fc.Arbitrary<number> {
  const usual = fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + layout.ramPages - 1 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(layout.lazyVaddrPage, layout.lazyVaddrPage + 1, 0, layout.unmappedVaddrPage),
    },
  );
  const pfnmap = [
    ...Array.from({ length: layout.barPages }, (_, i) => layout.barVaddrPage + i),
    ...Array.from({ length: layout.driverBufferPages }, (_, i) => layout.bufferVaddrPage + i),
    // With the zero page, the lazily faulted pages (a read maps the zero page there).
    ...(layout.zeroPage ? [layout.lazyVaddrPage, layout.lazyVaddrPage + 1] : []),
  ];
  if (pfnmap.length === 0) return usual;
  return fc.oneof({ weight: 1, arbitrary: usual }, { weight: 1, arbitrary: fc.constantFrom(...pfnmap) });
}

/** One of `ids` (a world's devices or groups of some kind; at least one), uniformly. */
export function oneOf(ids: readonly number[]): fc.Arbitrary<number> {
  const [only] = ids;
  if (ids.length === 1 && only !== undefined) return fc.constant(only);
  return fc.nat({ max: ids.length - 1 }).map((index) => ids[index] ?? 0);
}

const npages = fc.integer({ min: 1, max: 3 });

function mapDmaFor(vaddrPage: fc.Arbitrary<number>, iovaPage: fc.Arbitrary<number>): fc.Arbitrary<VfioCommand> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ vaddrPage, iovaPage, npages, read: fc.constant(true), write: fc.boolean() })
        .map((request): VfioCommand => ({ kind: 'mapDma', ...mapDmaArgs(request) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          argsz: fc.constantFrom(VFIO_DMA_MAP_MINSZ, 0, 64),
          flags,
          vaddr: edgeU64,
          iova: edgeU64,
          sizeBytes: edgeU64,
        })
        .map((args): VfioCommand => ({ kind: 'mapDma', ...args })),
    },
  );
}

function unmapDmaFor(iovaPage: fc.Arbitrary<number>): fc.Arbitrary<VfioCommand> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ iovaPage, npages })
        .map((request): VfioCommand => ({ kind: 'unmapDma', ...unmapDmaArgs(request) })),
    },
    { weight: 3, arbitrary: fc.constant<VfioCommand>({ kind: 'unmapDma', ...unmapAllArgs() }) },
    {
      weight: 1,
      arbitrary: fc
        .record({
          argsz: fc.constantFrom(16, 0),
          flags: fc.constantFrom(0, 1, 2, 4, 0xff),
          iova: edgeU64,
          sizeBytes: edgeU64,
        })
        .map((args): VfioCommand => ({ kind: 'unmapDma', ...args })),
    },
  );
}

/**
 * Fault injection: any point, the first to third attempt. With several groups, two times in three an
 * allocation aimed (`resolve.ts`) at the attach of a group after the first in the next VFIO_SET_IOMMU, whose
 * failure is what `__vfio_container_attach_groups` unwinds.
 */
function injectFaultFor(layout: VfioWorldLayout): fc.Arbitrary<VfioCommandTemplate> {
  const any = fc
    .record({ point: fc.constantFrom(...faultPoints), nth: fc.integer({ min: 1, max: 3 }) })
    .map((args): VfioCommandTemplate => ({ kind: 'injectFault', ...args }));
  if (layout.groupIds.length < 2) return any;
  const aimed = preferOr(fc.integer({ min: 1, max: 4 })).map((nth): VfioCommandTemplate => ({
    kind: 'injectFault',
    point: 'alloc',
    nth,
  }));
  return fc.oneof({ weight: 1, arbitrary: any }, { weight: 2, arbitrary: aimed });
}

function arbitraries(
  layout: VfioWorldLayout,
  iovaBasePage: number | undefined,
): Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommandTemplate>>> {
  const iovaPages = layout.ramPages;
  const iovaPage =
    iovaBasePage === undefined
      ? fc.nat({ max: iovaPages - 1 })
      : fc.integer({ min: iovaBasePage, max: iovaBasePage + iovaPages - 1 });
  const vaddrPage = vaddrPageIn(layout);
  const ramRange = fc.record({ vaddrPage, npages: fc.integer({ min: 1, max: 2 }) });
  const program = fc.array(fc.record({ iovaPage, write: fc.boolean() }), { minLength: 1, maxLength: 2 });
  const mapDma = mapDmaFor(vaddrPage, iovaPage);
  const unmapDma = unmapDmaFor(iovaPage);
  // The lifecycle aims at a device or group it can act on (`resolve.ts`).
  const device = preferOr(oneOf(layout.deviceIds));
  const group = preferOr(oneOf(layout.groupIds));
  const all: Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommandTemplate>>> = {
    mapDma,
    unmapDma,
    munmap: ramRange.map((args): VfioCommand => ({ kind: 'munmap', ...args })),
    discard: ramRange.map((args): VfioCommand => ({ kind: 'discard', ...args })),
    mmap: fc
      .record({ vaddrPage, npages: fc.integer({ min: 1, max: 2 }), writable: fc.boolean() })
      .map((args): VfioCommand => ({ kind: 'mmap', ...args })),
    touch: fc.record({ vaddrPage, write: fc.boolean() }).map((args): VfioCommand => ({ kind: 'touch', ...args })),
    allocateToOther: fc.constant<VfioCommand>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
    releaseFromOther: fc.nat({ max: layout.frames - 1 }).map((mfn): VfioCommand => ({ kind: 'releaseFromOther', mfn })),
    injectFault: injectFaultFor(layout),
    clearFault: fc.constant<VfioCommand>({ kind: 'clearFault' }),
    closeDevice: device.map((deviceId): VfioCommandTemplate => ({ kind: 'closeDevice', deviceId })),
    openDevice: device.map((deviceId): VfioCommandTemplate => ({ kind: 'openDevice', deviceId })),
    groupUnsetContainer: group.map((groupId): VfioCommandTemplate => ({ kind: 'groupUnsetContainer', groupId })),
    groupSetContainer: group.map((groupId): VfioCommandTemplate => ({ kind: 'groupSetContainer', groupId })),
  };
  if (layout.pciDevices.length > 0) {
    // iova pages for type1; bus address pages (frame numbers) under noiommu: one universe covers
    // both, unless the IOVA universe was moved.
    const addressPage = iovaBasePage === undefined ? fc.nat({ max: Math.max(layout.frames, iovaPages) - 1 }) : iovaPage;
    // Through an IOMMU the device aims, mostly, at a page its domain translates (`resolve.ts`): a
    // request in flight over an unmap needs one.
    all.deviceDma = fc
      .record({
        deviceId: oneOf(layout.pciDevices),
        addressPage: layout.noiommu ? addressPage : preferOr(addressPage),
        write: fc.boolean(),
      })
      .map((args): VfioCommandTemplate => ({ kind: 'deviceDma', ...args }));
  }
  if (layout.mdevDevices.length > 0) {
    // The driver aims: a pin at a mapped page, an unpin at a pinned one (`resolve.ts`).
    const deviceId = oneOf(layout.mdevDevices);
    all.mdevPinPages = fc
      .record({
        deviceId,
        iovaPage: preferOr(iovaPage),
        npage: fc.integer({ min: 1, max: 2 }),
        read: fc.constant(true),
        write: fc.boolean(),
      })
      .map((args): VfioCommandTemplate => ({ kind: 'mdevPinPages', ...args }));
    all.mdevUnpinPages = fc
      .record({ deviceId, iovaPage: preferOr(iovaPage), npage: fc.integer({ min: 1, max: 2 }) })
      .map((args): VfioCommandTemplate => ({ kind: 'mdevUnpinPages', ...args }));
  }
  if (layout.ccwDevices.length > 0) {
    const deviceId = oneOf(layout.ccwDevices);
    all.ccwStartIo = fc.record({ deviceId, program }).map((args): VfioCommand => ({ kind: 'ccwStartIo', ...args }));
    all.ccwCompleteIo = deviceId.map((id): VfioCommand => ({ kind: 'ccwCompleteIo', deviceId: id }));
    all.ccwRunIo = fc.record({ deviceId, program }).map((args): VfioCommand => ({ kind: 'ccwRunIo', ...args }));
  }
  return all;
}

/** Teardown and fault injection are generated a quarter as often as the rest. */
const rare: readonly VfioCommandKind[] = [
  'closeDevice',
  'openDevice',
  'groupUnsetContainer',
  'groupSetContainer',
  'injectFault',
  'clearFault',
];

export function vfioArbitraries(
  layout: VfioWorldLayout,
  options: VfioSpaceOptions = {},
): Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommandTemplate>>> {
  const table = arbitraries(layout, options.iovaBasePage);
  if (layout.noiommu) {
    // A VFIO_NO_IOMMU container has no MAP/UNMAP_DMA (the model refuses them; its unit tests show
    // it): a VMM using one never issues them, so runs spend their steps on what it does do.
    delete table.mapDma;
    delete table.unmapDma;
  }
  return table;
}

/**
 * Teardown and fault injection are a quarter as frequent as the rest, VFIO_SET_IOMMU more
 * frequent the more groups must leave before it can run. A group leaves the
 * container only once every device of it is closed, and a default run must still take one out and
 * back in (every command kind executes): with a `layout`, closing a device fd counts once more for
 * each device beyond two in the world's smallest group, and in a world of several groups a group
 * leaving or joining counts as many times as there are groups.
 */
export function vfioKindWeight(commandKind: string, layout?: VfioWorldLayout): number {
  // VFIO_SET_IOMMU opens a backend only once every group has left and one came back: a cheap
  // refusal otherwise, as frequent as the common kinds.
  if (commandKind === 'setIommu') return 4;
  if (!rare.includes(commandKind as VfioCommandKind)) return 4;
  if (layout === undefined) return 1;
  if (commandKind === 'groupSetContainer' || commandKind === 'groupUnsetContainer') return layout.groupIds.length;
  if (commandKind !== 'closeDevice') return 1;
  // Every device closed and every group out releases the backend (and lets VFIO_SET_IOMMU run):
  // the closes count once per device (with several groups, per device beyond the first).
  if (layout.groupIds.length > 1) return Math.max(1, layout.deviceIds.length - 1);
  return layout.deviceIds.length;
}

/**
 * Worlds with emulated devices: the drivers' pins only matter over live mappings, so mapping and
 * pinning come often, an I/O left in flight (what a dma_unmap or another driver's unpin must meet)
 * more often than one run to completion, and the VMM's own memory changes (which make later pins
 * fail) rarely.
 */
const mediatedWeights: Readonly<Record<string, number>> = {
  mapDma: 8,
  mdevPinPages: 8,
  ccwStartIo: 6,
  unmapDma: 4,
  releaseFromOther: 2,
  allocateToOther: 2,
  munmap: 1,
  mmap: 1,
  discard: 2,
};

/**
 * Worlds with emulated devices next to an IOMMU-backed one: the assigned device's DMA takes steps
 * too, and an UNMAP_DMA meets a driver's pins only after a MAP_DMA and a pin of the same range,
 * so those three come more often still (a default run then reaches such an unmap in 6–9% of runs,
 * against 4–6% with the mediated weights).
 */
const mixedWeights: Readonly<Record<string, number>> = {
  ...mediatedWeights,
  mapDma: 10,
  mdevPinPages: 10,
  unmapDma: 6,
};

/**
 * The VFIO operations that take time, and their phases (`models/vfio/inflight.ts`): a device's DMA
 * (translate, access), MAP_DMA (pin, map), UNMAP_DMA (clear or notify, sync, unpin: a mapping with
 * driver pins takes a notification and a recheck more) and a mediated driver's pin (vfio_pin_pages,
 * record).
 */
export const vfioPhases: Readonly<Record<string, number>> = { deviceDma: 2, mapDma: 2, unmapDma: 3, mdevPinPages: 2 };

/**
 * What can change, inside an operation's window, what its next phase relies on: a device's DMA
 * between its translation and its access meets an UNMAP_DMA or the VMM's munmap; MAP_DMA between
 * its pins and its IOMMU map meets the device's DMA and an unmap; UNMAP_DMA, with iommu->lock
 * dropped for the dma_unmap callbacks, meets an emulated device's pin, a MAP_DMA and the device's
 * DMA; an emulated device's pin, between pinning and recording it, meets the UNMAP_DMA of its range.
 */
export const vfioConflicts: Readonly<Record<string, readonly string[]>> = {
  deviceDma: ['unmapDma', 'munmap'],
  mapDma: ['deviceDma', 'unmapDma'],
  unmapDma: ['mdevPinPages', 'mapDma', 'deviceDma'],
  mdevPinPages: ['unmapDma'],
};

/**
 * The phases a world's operations take: without an IOMMU-backed group MAP_DMA pins nothing and
 * finishes in one phase, and UNMAP_DMA takes two (a notification, then the removal) — so a
 * preemption is not spent on an operation with no window.
 */
export function worldPhases(layout: VfioWorldLayout): Readonly<Record<string, number>> {
  if (layout.groups.some((group) => group.kind === 'iommu')) return vfioPhases;
  return { ...vfioPhases, mapDma: 1, unmapDma: 2 };
}

/**
 * VFIO_SET_IOMMU, generated for the VFIO-only stacks (`vfioCommandSpace`): refused while the
 * container has a backend or no group; once every group has left (the backend released) and one
 * came back, it opens a new backend — mostly the one the world's VMM uses, sometimes another type1
 * flavour or a type no driver opens.
 */
export function setIommuArbitrary(layout: VfioWorldLayout): fc.Arbitrary<VfioCommand> {
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.constant(layout.noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          VFIO_TYPE1_IOMMU,
          VFIO_TYPE1_NESTING_IOMMU,
          VFIO_NOIOMMU_IOMMU,
          VFIO_UNMAP_ALL,
          VFIO_TYPE1v2_IOMMU,
          0,
        ),
      },
    )
    .map((type): VfioCommand => ({ kind: 'setIommu', type }));
}

/**
 * Worlds of several groups: VFIO_SET_IOMMU re-opens the container only after every device was
 * closed and every group left, and attaches several groups only when more than one came back
 * first; its unwind runs when an allocation of a later group's attach fails. The closes and the
 * groups leaving come as often as the common kinds, the groups joining, the faults and
 * VFIO_SET_IOMMU (a cheap refusal while the backend is there) more often, and a fault is cleared
 * rarely, so that it is still armed when several groups are back and SET_IOMMU runs. (With the
 * joins, faults and SET_IOMMU as often as the common kinds, a flawed unwind was missed on about one
 * fresh seed in fifty at the default budget; with these, none in a hundred, worst run 662.)
 */
const severalGroupsWeights: Readonly<Record<string, number>> = {
  closeDevice: 4,
  groupUnsetContainer: 4,
  groupSetContainer: 6,
  injectFault: 4,
  clearFault: 1,
  setIommu: 8,
};

/**
 * The container's queries (`models/vfio/query.ts`), generated for the VFIO-only stacks: GET_INFO
 * with argsz = sizeof(info), as QEMU's first call (`vfio_get_iommu_info`), or with room for the
 * chain (QEMU's second call) or a page, sometimes below the struct, its minimum or the chain;
 * CHECK_EXTENSION of every extension the uAPI defines and of none, VFIO_UPDATE_VADDR (what a VMM
 * asks before a live update) a third of the time.
 */
export const queryArbitraries: Readonly<Record<'getInfo' | 'checkExtension', fc.Arbitrary<VfioCommand>>> = {
  getInfo: fc
    .oneof(
      { weight: 2, arbitrary: fc.constant(VFIO_IOMMU_INFO_SIZE) },
      { weight: 3, arbitrary: fc.constantFrom(120, 4096) },
      { weight: 1, arbitrary: fc.constantFrom(0, 16, 20, 72) },
    )
    .map((argsz): VfioCommand => ({ kind: 'getInfo', argsz })),
  checkExtension: fc
    .oneof(
      { weight: 1, arbitrary: fc.constant(VFIO_UPDATE_VADDR) },
      { weight: 2, arbitrary: fc.constantFrom(0, ...VFIO_EXTENSIONS) },
    )
    .map((extension): VfioCommand => ({ kind: 'checkExtension', extension })),
};

/** Queries change nothing: one in four of the common kinds' frequency each; an exec, half. */
const queryWeights: Readonly<Record<string, number>> = { getInfo: 1, checkExtension: 1, exec: 2 };

/**
 * The VMM's live update (QEMU cpr-exec, `models/vfio/exec.ts`), generated for the VFIO-only stacks
 * with a type1 container and no emulated device: UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR (of every mapping, as QEMU
 * does, or of a range), the exec (the guest's RAM mapped again at the same address or a page
 * higher), and MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR re-supplying an invalidated mapping's vaddr
 * (`resolve.ts`). Each joins the ordinary requests of its kind: the exec half as often as the common
 * kinds, the invalidation (mostly of every mapping) and the re-supply two in five of their kind's
 * requests.
 */
function liveUpdateArbitraries(
  layout: VfioWorldLayout,
  base: Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommandTemplate>>>,
): Partial<Record<VfioCommandKind, fc.Arbitrary<VfioTemplate>>> {
  const { mapDma, unmapDma } = base;
  // QEMU live-updates only with VFIO_UPDATE_VADDR, which a container with an emulated group does not
  // offer (its UNMAP_DMA VADDR is EBUSY): no exec there. (Its exec with mappings still valid would
  // also meet v6.12's drift on a dead mm, §1.20: a replay charges `dma->locked_vm` again on it after
  // the detach's uncharge failed -ESRCH.)
  const emulated = layout.mdevDevices.length + layout.ccwDevices.length > 0;
  if (layout.noiommu || emulated || mapDma === undefined || unmapDma === undefined) return {};
  const invalidateAll: VfioCommand = {
    kind: 'unmapDma',
    ...unmapAllArgs(),
    flags: VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR,
  };
  const invalidateRange = fc
    .record({ iovaPage: fc.nat({ max: layout.ramPages - 1 }), npages })
    .map((request): VfioCommand => ({ kind: 'unmapDma', ...unmapDmaArgs({ ...request, invalidateVaddr: true }) }));
  return {
    exec: fc.constantFrom(0, 0, 1).map((shiftPages): VfioCommand => ({ kind: 'exec', shiftPages })),
    unmapDma: fc.oneof(
      { weight: 3, arbitrary: unmapDma },
      {
        weight: 2,
        arbitrary: fc.oneof(
          { weight: 3, arbitrary: fc.constant(invalidateAll) },
          { weight: 1, arbitrary: invalidateRange },
        ),
      },
    ),
    mapDma: fc.oneof(
      { weight: 3, arbitrary: mapDma },
      {
        weight: 2,
        arbitrary: fc.nat({ max: 7 }).map((pick): VfioTemplate => ({ kind: 'mapDma', resupplyVaddr: { pick } })),
      },
    ),
  };
}

/** `preempt`: the phased kinds left in flight (default every one the world has); the others run whole. */
export function vfioCommandSpace(
  layout: VfioWorldLayout,
  preempt?: readonly VfioCommandKind[],
): CommandSpace<VfioTemplate> {
  // VFIO_SET_IOMMU runs once the backend was released, which takes every group out; a
  // one-group world re-creates the container, a multi-group one attaches every group that came
  // back (`__vfio_container_attach_groups`, and its unwind when an attach fails).
  const base = vfioArbitraries(layout);
  const table: Partial<Record<VfioCommandKind, fc.Arbitrary<VfioTemplate>>> = {
    ...base,
    setIommu: setIommuArbitrary(layout),
    ...queryArbitraries,
    ...liveUpdateArbitraries(layout, base),
  };
  const kinds = Object.keys(table);
  const emulated = layout.mdevDevices.length + layout.ccwDevices.length > 0;
  const weights = {
    ...queryWeights,
    ...(emulated ? (layout.pciDevices.length > 0 ? mixedWeights : mediatedWeights) : {}),
    ...(layout.groupIds.length > 1 ? severalGroupsWeights : {}),
  };
  return {
    kinds,
    interleaving: phasedSpace<VfioTemplate>(preemptedPhases(worldPhases(layout), preempt), vfioConflicts),
    weight: (commandKind) => weights[commandKind] ?? vfioKindWeight(commandKind, layout),
    arbitrary(commandKind) {
      const arbitrary = table[commandKind as VfioCommandKind];
      if (arbitrary === undefined)
        throw new Error(`vfio ${layout.name}: no generator for command kind '${commandKind}'`);
      return arbitrary;
    },
  };
}
