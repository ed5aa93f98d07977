/**
 * Shared setup for the VT-d model unit tests: small worlds, sizes, request builders and
 * assertions in the style of the Xen tests (`expectOk`, `expectErrno`, `expectRefused` =
 * "refused and nothing changed", checked on a copy).
 *
 * Default world: default caps (2M and 1G superpages, no caching mode, scalable mode, 8 IOTLB
 * entries, 64 table pages, flush queues of 4), one domain of the requested type (DID 1) with
 * device `DEV` attached.
 */
import { expect } from 'vitest';
import { pageTableMatchesFlat, pageTableWellFormed } from '../../../models/iommu/check.js';
import type { IommuConfig } from '../../../models/iommu/config.js';
import { attachDevice, createDomain } from '../../../models/iommu/domain.js';
import { dma } from '../../../models/iommu/dma.js';
import { map } from '../../../models/iommu/map.js';
import type { MapArgs } from '../../../models/iommu/map.js';
import { cloneIommuState, createIommuState, writableTable } from '../../../models/iommu/state.js';
import type { DomainType, IommuCaps, IommuState } from '../../../models/iommu/types.js';
import { unmap } from '../../../models/iommu/unmap.js';
import type { OpResult, ResultDetail } from '../../../models/result.js';

export const config: IommuConfig = { bugs: [] };

export const K4 = 4096;
export const M2 = 2 ** 21;
export const G1 = 2 ** 30;
/** Pages in a 2 MiB / 1 GiB leaf. */
export const PAGES_2M = 512;
export const PAGES_1G = 512 * 512;

/** The device attached to the world's domain (bus 0, device 2, function 0). */
export const DEV = 0x10;
/** A second device, not attached unless a test attaches it. */
export const DEV2 = 0x18;
/** The world's domain. */
export const DID = 1;

export function world(caps: Partial<IommuCaps> = {}, type: DomainType = 'unmanaged'): IommuState {
  const state = createIommuState(caps);
  expectOk(createDomain(state, { type }));
  expectOk(attachDevice(state, { deviceId: DEV, domainId: DID }));
  return state;
}

export function expectOk(result: OpResult): ResultDetail {
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
  return result.detail ?? {};
}

export function expectErrno(result: OpResult, errno: string): void {
  expect(result.ok).toBe(false);
  expect(result.error).toBe(errno);
}

/**
 * Runs `op` on a copy of `state`, asserts it was refused with `errno` and that the copy is still
 * deep-equal to `state` (atomicity); returns the result.
 */
export function expectRefused(state: IommuState, errno: string, op: (copy: IommuState) => OpResult): OpResult {
  const copy = cloneIommuState(state);
  const result = op(copy);
  expectErrno(result, errno);
  expect(copy).toEqual(state);
  return result;
}

export function mapArgs(overrides: Partial<MapArgs> = {}): MapArgs {
  return { domainId: DID, iova: 0, frame: 0, sizeBytes: K4, read: true, write: true, ...overrides };
}

export function mapOk(state: IommuState, overrides: Partial<MapArgs> = {}, bugs: IommuConfig = config): ResultDetail {
  return expectOk(map(state, bugs, mapArgs(overrides)));
}

export function unmapOk(state: IommuState, iova: number, sizeBytes: number, bugs: IommuConfig = config): number {
  const detail = expectOk(unmap(state, bugs, { domainId: DID, iova, sizeBytes }));
  return detail.unmappedBytes as number;
}

/** A DMA by `deviceId` (default `DEV`, no PASID); returns the reported detail. */
export function dmaAt(
  state: IommuState,
  iova: number,
  options: { write?: boolean; deviceId?: number; pasid?: number | null } = {},
): ResultDetail {
  return expectOk(
    dma(state, {
      deviceId: options.deviceId ?? DEV,
      pasid: options.pasid ?? null,
      iova,
      write: options.write ?? false,
    }),
  );
}

/** Where a DMA landed: the frame, or the fault reason prefixed with `fault:`. */
export function landing(detail: ResultDetail): number | string {
  return detail.landed === 'frame' ? (detail.frame as number) : `fault:${String(detail.reason)}`;
}

/** The page table agrees with the flat map and is well formed. */
export function expectConsistent(state: IommuState): void {
  expect(pageTableMatchesFlat(state)).toBeNull();
  expect(pageTableWellFormed(state)).toBeNull();
}

/** The table page the root's entries lead to for `iova` at `level` (4 = root). */
export function tableAt(state: IommuState, domainId: number, iova: number, level: number) {
  let tableId = state.domains[domainId]!.rootTableId!;
  const iovaPage = iova / K4;
  for (let current = 4; current > level; current--) {
    const index = Math.floor(iovaPage / 512 ** (current - 1)) % 512;
    const entry = state.tables[tableId]!.entries[index];
    if (entry?.kind !== 'table') throw new Error(`no level-${current - 1} table for iova ${iova}`);
    tableId = entry.tableId;
  }
  // A test edits it behind the model's back: the state's own copy.
  return writableTable(state, tableId);
}
