/**
 * Shared setup for the VFIO model unit tests: a small world, request builders, and assertions in
 * the style of the Xen tests (`expectOk`, `expectErrno`, `expectRefused` = refused and nothing
 * changed).
 *
 * World (lifo allocator, 16 frames). The VMM process is owner 1: vaddr pages 16..23 are writable
 * RAM, populated at start (mfns 15..8 in order), vaddr pages 32..33 are read-only (mfns 7, 6),
 * vaddr pages 40..41 are writable but not yet faulted in. Owner 2 (another VM) holds mfn 5;
 * mfns 0..4 are free. RLIMIT_MEMLOCK is 8 pages, no CAP_IPC_LOCK, dma_entry_limit 4.
 *
 * Groups: 0 and 1 are IOMMU groups of class 0 (they share a domain), 2 is an IOMMU group of
 * class 1 (its own domain), 3 is an emulated (mdev) group, 4 is an IOMMU group without interrupt
 * remapping, 5 is a noiommu group. Apertures are 2^36 pages (48-bit) with the x86 MSI window
 * 0xfee00000–0xfeefffff reserved. Devices: 0 pci in group 0, 1 pci in group 1, 2 pci in group 2,
 * 3 mdev in group 3, 4 ccw in group 3, 5 pci in group 4, 6 pci in group 5.
 */
import { expect } from 'vitest';
import { groupSetContainer, openDevice, setIommu, VFIO_TYPE1v2_IOMMU } from '../../../models/vfio/container.js';
import type { VfioConfig } from '../../../models/vfio/config.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import type { MapDmaRequest } from '../../../models/vfio/map-dma.js';
import { cloneVfioState, createVfioState, type1Backend } from '../../../models/vfio/state.js';
import type { VfioWorldSpec } from '../../../models/vfio/state.js';
import type { GroupSpec, Type1Backend, VfioDma, VfioResult, VfioState } from '../../../models/vfio/types.js';
import type { ResultDetail } from '../../../models/result.js';

export const config: VfioConfig = { bugs: [] };

export const VMM = 1;
export const OTHER_VM = 2;

export const GROUP_A = 0;
export const GROUP_A2 = 1;
export const GROUP_B = 2;
export const GROUP_MDEV = 3;
export const GROUP_UNSAFE_MSI = 4;
export const GROUP_NOIOMMU = 5;

export const PCI_A = 0;
export const PCI_A2 = 1;
export const PCI_B = 2;
export const MDEV = 3;
export const CCW = 4;
export const PCI_UNSAFE_MSI = 5;
export const PCI_NOIOMMU = 6;

/** First writable, populated vaddr page (8 pages). */
export const RAM = 16;
/** First read-only vaddr page (2 pages). */
export const RO = 32;
/** First writable vaddr page not yet faulted in (2 pages). */
export const LAZY = 40;
/** The frame owner 2 holds. */
export const OTHER_MFN = 5;

export const APERTURE_END_PAGE = 2 ** 36;
export const MSI_START_PAGE = 0xfee00;
export const MSI_END_PAGE = 0xfef00;

function iommuGroup(domainClass: number, msiIsolated = true): GroupSpec {
  return {
    kind: 'iommu',
    domainClass,
    msiIsolated,
    apertureEndPage: APERTURE_END_PAGE,
    reservedRanges: [{ startPage: MSI_START_PAGE, endPage: MSI_END_PAGE }],
  };
}

export function worldSpec(overrides: Partial<VfioWorldSpec> = {}): VfioWorldSpec {
  return {
    memory: { frameCount: 16, policy: 'lifo', randomSeed: 't' },
    process: {
      owner: VMM,
      memlockLimitPages: 8,
      capIpcLock: false,
      addressSpaceLimitPages: 64,
      regions: [
        { vaddrPage: RAM, npages: 8, writable: true, populate: true },
        { vaddrPage: RO, npages: 2, writable: false, populate: true },
        { vaddrPage: LAZY, npages: 2, writable: true, populate: false },
      ],
    },
    otherAllocations: [{ owner: OTHER_VM, count: 1 }],
    groups: [
      iommuGroup(0),
      iommuGroup(0),
      iommuGroup(1),
      { kind: 'emulated' },
      iommuGroup(2, false),
      { kind: 'noiommu' },
    ],
    devices: [
      { groupId: GROUP_A, kind: 'pci' },
      { groupId: GROUP_A2, kind: 'pci' },
      { groupId: GROUP_B, kind: 'pci' },
      { groupId: GROUP_MDEV, kind: 'mdev' },
      { groupId: GROUP_MDEV, kind: 'ccw' },
      { groupId: GROUP_UNSAFE_MSI, kind: 'pci' },
      { groupId: GROUP_NOIOMMU, kind: 'pci' },
    ],
    params: { dmaEntryLimit: 4, allowUnsafeInterrupts: false },
    ...overrides,
  };
}

export function world(overrides: Partial<VfioWorldSpec> = {}): VfioState {
  return createVfioState(worldSpec(overrides));
}

/** The mfn a vaddr page maps now; throws if none. */
export function mfnAt(state: VfioState, vaddrPage: number): number {
  const mfn = state.process.pages[vaddrPage]?.mfn;
  if (mfn === undefined || mfn === null) throw new Error(`vaddr page ${vaddrPage} is not present`);
  return mfn;
}

export function frame(state: VfioState, mfn: number) {
  return state.memory.frames[mfn]!;
}

export function backendOf(state: VfioState): Type1Backend {
  const backend = type1Backend(state);
  if (backend === null) throw new Error('no type1 backend');
  return backend;
}

export function dmaAt(state: VfioState, iovaPage: number): VfioDma {
  const dma = backendOf(state).dmas.find((d) => d.iovaPage === iovaPage);
  if (dma === undefined) throw new Error(`no mapping at iova page ${iovaPage}`);
  return dma;
}

export function expectOk(result: VfioResult): ResultDetail {
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
  return result.detail ?? {};
}

export function expectErrno(result: VfioResult, errno: string): void {
  expect(result.ok).toBe(false);
  expect(result.error).toBe(errno);
}

/**
 * Runs `op` on a copy of `state`, asserts it was refused with `errno`, that the copy is still
 * deep-equal to `state` (atomicity) and that nothing was reported as done.
 */
export function expectRefused(state: VfioState, errno: string, op: (copy: VfioState) => VfioResult): VfioResult {
  const copy = cloneVfioState(state);
  const result = op(copy);
  expectErrno(result, errno);
  expect(copy).toEqual(state);
  expect(result.effects).toEqual([]);
  expect(result.accesses).toEqual([]);
  return result;
}

/** Attaches groups in order, then SET_IOMMU(type), then opens devices; each must succeed. */
export function setUp(
  state: VfioState,
  groups: readonly number[],
  devices: readonly number[] = [],
  type = VFIO_TYPE1v2_IOMMU,
): VfioState {
  for (const groupId of groups) expectOk(groupSetContainer(state, config, { groupId }));
  expectOk(setIommu(state, config, { type }));
  for (const deviceId of devices) expectOk(openDevice(state, config, { deviceId }));
  return state;
}

/** Passthrough: group A (one IOMMU domain) with its device open, v2. */
export function passthroughWorld(overrides: Partial<VfioWorldSpec> = {}): VfioState {
  return setUp(world(overrides), [GROUP_A], [PCI_A]);
}

/** Mediated: the emulated group with the mdev and ccw devices open, v2, no IOMMU domain. */
export function mediatedWorld(overrides: Partial<VfioWorldSpec> = {}): VfioState {
  return setUp(world(overrides), [GROUP_MDEV], [MDEV, CCW]);
}

export function map(state: VfioState, request: MapDmaRequest, bugs: VfioConfig = config): ResultDetail {
  return expectOk(mapDma(state, bugs, mapDmaArgs(request)));
}
