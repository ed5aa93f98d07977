/**
 * The selftests' fixtures for the iommufd model (tools/testing/selftests/iommu/iommufd.c,
 * iommufd_utils.h at v6.12): a context, a `buffer` of BUFFER_SIZE = 16 pages mapped at a
 * huge-page-aligned user VA, mock devices (each its own group) for test_cmd_mock_domain, and
 * helpers that run commands and check results the way the selftest macros do.
 */
import { expect } from 'vitest';
import type { IommufdCommand, IommufdConfig, IommufdDeviceSpec, IommufdState } from '../../models/iommufd/index.js';
import {
  createIommufdState,
  defaultIommufdConfig,
  expectedDomainContent,
  frameHolders,
  iommufdStep,
  mockDevice,
} from '../../models/iommufd/index.js';
import type { ResultDetail } from '../../models/result.js';

export const PAGE_SIZE = 4096;
export const BUFFER_PAGES = 16;
export const BUFFER_SIZE = BUFFER_PAGES * PAGE_SIZE;
/** The selftest's buffer: posix_memalign(HUGEPAGE_SIZE) — here vaddr page 512 (2 MiB). */
export const BUFFER_VADDR_PAGE = 512;
export const buffer = BUFFER_VADDR_PAGE * PAGE_SIZE;
export const MOCK_APERTURE_START = 1 << 24;
export const MOCK_APERTURE_LAST = 2 ** 31 - 1;
export const MOCK_PAGE_SIZE = PAGE_SIZE / 2;
export const UINT64_MAX = '18446744073709551615';
export const SIZE_MAX = UINT64_MAX;

export const s = (value: number | bigint): string => value.toString();

/** A context with the buffer mapped (and any extra regions) and `deviceCount` mock devices. */
export class Fixture {
  state: IommufdState;
  readonly config: IommufdConfig;

  constructor(
    options: {
      devices?: readonly IommufdDeviceSpec[];
      config?: Partial<IommufdConfig>;
      openedAsVfio?: boolean;
      memlockLimitPages?: number;
      capIpcLock?: boolean;
    } = {},
  ) {
    const devices = options.devices ?? [mockDevice(0), mockDevice(1), mockDevice(2), mockDevice(3)];
    this.config = { ...defaultIommufdConfig(devices), ...options.config };
    this.state = createIommufdState({
      memory: { frameCount: 64, policy: 'fifo', randomSeed: 'iommufd' },
      owner: 1,
      memlockLimitPages: options.memlockLimitPages ?? 1 << 20,
      capIpcLock: options.capIpcLock ?? false,
      openedAsVfio: options.openedAsVfio ?? false,
      regions: [{ vaddrPage: BUFFER_VADDR_PAGE, npages: BUFFER_PAGES, writable: true }],
    });
  }

  run(command: IommufdCommand): { ok: boolean; error?: string; detail?: ResultDetail } {
    const { state, result } = iommufdStep(this.state, this.config, command);
    this.state = state;
    return result;
  }

  /** ASSERT_EQ(0, ioctl(...)): the detail. */
  ok(command: IommufdCommand): ResultDetail {
    const result = this.run(command);
    expect(result, `${command.kind} should succeed`).toMatchObject({ ok: true });
    return result.detail ?? {};
  }

  /** EXPECT_ERRNO(errno, ioctl(...)): the state must be unchanged unless the source keeps effects. */
  err(errno: string, command: IommufdCommand): ResultDetail {
    const before = JSON.stringify(this.state);
    const result = this.run(command);
    expect(result, `${command.kind} should fail ${errno}`).toMatchObject({ ok: false, error: errno });
    if (result.detail?.['partial'] !== true) expect(JSON.stringify(this.state)).toBe(before);
    return result.detail ?? {};
  }

  ioasAlloc(): number {
    return Number(this.ok({ kind: 'ioasAlloc', flags: 0 })['ioasId']);
  }

  /** test_cmd_mock_domain: a mock device bound and attached to `ptId`; its device and hwpt ids. */
  mockDomain(deviceIndex: number, ptId: number): { devId: number; hwptId: number } {
    const devId = Number(this.ok({ kind: 'deviceBind', deviceIndex, flags: 0 })['devId']);
    const hwptId = Number(this.ok({ kind: 'deviceAttach', deviceIndex, ptId, flags: 0 })['ptId']);
    return { devId, hwptId };
  }

  /** test_ioctl_ioas_map_fixed. */
  mapFixed(ioasId: number, userVa: number, length: number, iova: number | bigint, flags = 7): ResultDetail {
    return this.ok({ kind: 'ioasMap', ioasId, flags, userVa: s(userVa), iova: s(iova), length: s(length) });
  }

  /** test_ioctl_ioas_map: the IOVA the kernel picked. */
  map(ioasId: number, userVa: number, length: number): bigint {
    return BigInt(
      String(this.ok({ kind: 'ioasMap', ioasId, flags: 6, userVa: s(userVa), iova: '0', length: s(length) })['iova']),
    );
  }

  unmap(ioasId: number, iova: number | bigint | string, length: number | bigint | string): bigint {
    return BigInt(String(this.ok({ kind: 'ioasUnmap', ioasId, iova: String(iova), length: String(length) })['length']));
  }
}

/** Every frame's refcount recomputed from its holders: the process's page tables and every pin. */
export function expectFrameRefcountsMatchHolders(state: IommufdState): void {
  const holders = frameHolders(state);
  const wrong = state.memory.frames
    .filter((frame) => frame.refcount !== (holders.get(frame.mfn) ?? 0))
    .map((frame) => `frame ${frame.mfn}: refcount ${frame.refcount}, holders ${holders.get(frame.mfn) ?? 0}`);
  expect(wrong).toEqual([]);
}

/** Every paging hwpt's domain translates exactly its IOAS's areas (views.ts expectedDomainContent). */
export function expectDomainsMatchAreas(state: IommufdState): void {
  const wrong = Object.values(state.objects).filter(
    (object) =>
      object.type === 'hwpt_paging' &&
      JSON.stringify(object.translations) !== JSON.stringify(expectedDomainContent(state, object.id)),
  );
  expect(wrong.map((hwpt) => hwpt.id)).toEqual([]);
}

/** The accounting matches the pins: pinned_vm is the number of pinned pages. */
export function expectPinnedVmMatches(state: IommufdState): void {
  const pinned = Object.values(state.pages).reduce((sum, pages) => sum + Object.keys(pages.pinned).length, 0);
  expect(state.pinnedVmPages).toBe(pinned);
}
