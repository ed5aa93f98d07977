/**
 * Nested translation (docs/reference/vtd.md §3.6): a nested domain on a nesting parent walks the guest's
 * first-level table, then the parent's second-level table; the IOTLB caches the combined entry;
 * the guest's forwarded invalidations and the parent's stage-2 flushes drop it.
 */
import { describe, expect, it } from 'vitest';
import { attachDevice, createDomain, destroyDomain, detachDevice } from '../../../models/iommu/domain.js';
import { createNestedDomain, invalidateNested } from '../../../models/iommu/nested.js';
import { createIommuState } from '../../../models/iommu/state.js';
import type { FirstLevelTable, IommuState } from '../../../models/iommu/types.js';
import { unmap } from '../../../models/iommu/unmap.js';
import { reachableFrames, staleIotlbOutsideFlushQueue } from '../../../models/iommu/views.js';
import { dma } from '../../../models/iommu/dma.js';
import { DEV, K4, config, expectConsistent, expectOk, expectRefused, landing, mapOk } from './world.js';

/** The parent (stage 2, DID 1) and the nested domain (DID 2) the device is attached to. */
const PARENT = 1;
const NESTED = 2;

/** GPA pages 0..3 map frames 10..13 in stage 2; GIOVA page 7 → GPA page 2 (writable) in stage 1. */
function nestedWorld(): IommuState {
  const state = createIommuState();
  expectOk(createDomain(state, { type: 'unmanaged', nestingParent: true }));
  mapOk(state, { domainId: PARENT, iova: 0, frame: 10, sizeBytes: 4 * K4 });
  expectOk(createNestedDomain(state, { parentDomainId: PARENT }));
  expectOk(attachDevice(state, { deviceId: DEV, domainId: NESTED }));
  return state;
}

const firstLevel: FirstLevelTable = { 7: { gpaPage: 2, write: true }, 8: { gpaPage: 3, write: false } };

function dmaAt(state: IommuState, giovaPage: number, table: FirstLevelTable, write = false): number | string {
  return landing(expectOk(dma(state, { deviceId: DEV, pasid: null, iova: giovaPage * K4, write }, table)));
}

describe('creating a nested domain', () => {
  it('needs an unmanaged nesting parent: ENOENT for an unknown one, EINVAL otherwise', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectRefused(state, 'ENOENT', (copy) => createNestedDomain(copy, { parentDomainId: 9 }));
    expectRefused(state, 'EINVAL', (copy) => createNestedDomain(copy, { parentDomainId: 1 }));
  });

  it('has no page table of its own, and the parent cannot be freed under it', () => {
    const state = nestedWorld();
    expect(state.domains[NESTED]).toMatchObject({ type: 'nested', rootTableId: null, parentDomainId: PARENT });
    expectConsistent(state);
    expectRefused(state, 'EBUSY', (copy) => destroyDomain(copy, { domainId: PARENT }));
  });
});

describe('a DMA through a nested domain', () => {
  it('walks the first level, then stage 2, and caches the combined translation', () => {
    const state = nestedWorld();
    expect(dmaAt(state, 7, firstLevel, true)).toBe(12);
    expect(state.iotlb).toEqual([
      { kind: 'nested', domainId: NESTED, pasid: null, iovaPage: 7, gpaPage: 2, frame: 12, read: true, write: true },
    ]);
    expect(landing(expectOk(dma(state, { deviceId: DEV, pasid: null, iova: 7 * K4, write: false }, {})))).toBe(12);
  });

  it('faults on a first-level entry that is not present, without caching it', () => {
    const state = nestedWorld();
    expect(dmaAt(state, 5, firstLevel)).toBe('fault:first-level-not-present');
    expect(state.iotlb).toEqual([]);
  });

  it('takes the permissions of both levels, and faults where stage 2 maps nothing', () => {
    const state = nestedWorld();
    expect(dmaAt(state, 8, firstLevel, true)).toBe('fault:no-write');
    expect(dmaAt(state, 9, { 9: { gpaPage: 6, write: true } })).toBe('fault:not-present');
  });

  it('reaches what the first level maps through stage 2, and its combined entries', () => {
    const state = nestedWorld();
    dmaAt(state, 7, firstLevel);
    expect(reachableFrames(state, DEV, 64, false, firstLevel)).toEqual([12, 13]);
    expect(reachableFrames(state, DEV, 64, true, {})).toEqual([12]);
  });
});

describe('invalidation of combined entries', () => {
  it("a guest's forwarded invalidation drops its block; `all` drops every entry of the domain", () => {
    const state = nestedWorld();
    dmaAt(state, 7, firstLevel);
    dmaAt(state, 8, firstLevel);
    expectOk(invalidateNested(state, config, { domainId: NESTED, iovaPage: 8, npages: 1 }));
    expect(state.iotlb.map((entry) => entry.iovaPage)).toEqual([7]);
    expectOk(invalidateNested(state, config, { domainId: NESTED, iovaPage: 0, npages: 'all' }));
    expect(state.iotlb).toEqual([]);
  });

  it('refuses what IOMMU_HWPT_INVALIDATE refuses', () => {
    const state = nestedWorld();
    expectRefused(state, 'ENOENT', (copy) => invalidateNested(copy, config, { domainId: 9, iovaPage: 0, npages: 1 }));
    expectRefused(state, 'EINVAL', (copy) =>
      invalidateNested(copy, config, { domainId: PARENT, iovaPage: 0, npages: 1 }),
    );
    expectRefused(state, 'EINVAL', (copy) =>
      invalidateNested(copy, config, { domainId: NESTED, iovaPage: 4, npages: 'all' }),
    );
    expectRefused(state, 'EINVAL', (copy) =>
      invalidateNested(copy, config, { domainId: NESTED, iovaPage: 4, npages: 0 }),
    );
  });

  it('a stage-2 unmap drops the combined entries built through it, whatever their GIOVA', () => {
    const state = nestedWorld();
    dmaAt(state, 7, firstLevel);
    expectOk(unmap(state, config, { domainId: PARENT, iova: 2 * K4, sizeBytes: K4 }));
    expect(state.iotlb).toEqual([]);
    expect(staleIotlbOutsideFlushQueue(state)).toEqual([]);
    expect(dmaAt(state, 7, firstLevel)).toBe('fault:not-present');
  });

  it('a skipped guest invalidation leaves a combined entry that is stale for the guest only', () => {
    const state = nestedWorld();
    dmaAt(state, 7, firstLevel);
    // The guest cleared its entry for GIOVA 7 and asked for no invalidation: the device still
    // reaches GPA page 2's frame, which stage 2 still maps.
    expect(dmaAt(state, 7, {})).toBe(12);
    expect(staleIotlbOutsideFlushQueue(state)).toEqual([]);
  });

  it('detaching the device from the nested domain flushes it', () => {
    const state = nestedWorld();
    dmaAt(state, 7, firstLevel);
    expectOk(detachDevice(state, { deviceId: DEV }));
    expect(state.iotlb).toEqual([]);
  });
});
