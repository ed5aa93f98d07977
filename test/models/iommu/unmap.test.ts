/**
 * iommu_unmap (docs/reference/vtd.md §3.2): bytes returned, rounding up to the PTE the walk stops at (a
 * partial unmap of a superpage removes the whole superpage and reports its size), clearing across
 * last-level table boundaries, freeing fully covered table pages, and the strict-mode IOTLB flush.
 */
import { describe, expect, it } from 'vitest';
import { unmap } from '../../../models/iommu/unmap.js';
import { domainTranslations, staleIotlbEntries } from '../../../models/iommu/views.js';
import {
  DID,
  G1,
  K4,
  M2,
  PAGES_1G,
  PAGES_2M,
  config,
  dmaAt,
  expectConsistent,
  expectOk,
  landing,
  mapOk,
  tableAt,
  unmapOk,
  world,
} from './world.js';

describe('unmap: 4K leaves', () => {
  it('unmaps exactly what was mapped and reports its size', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 4, sizeBytes: 3 * K4 });
    expect(unmapOk(state, K4, K4)).toBe(K4);
    expect(domainTranslations(state, DID).map((leaf) => leaf.iovaPage)).toEqual([0, 2]);
    expect(state.flat[DID]).toEqual([
      { iovaPage: 0, frame: 4, pages: 1, read: true, write: true },
      { iovaPage: 2, frame: 6, pages: 1, read: true, write: true },
    ]);
    expectConsistent(state);
  });

  it('clears a range spanning two last-level tables; partly covered tables stay allocated', () => {
    const state = world();
    mapOk(state, { iova: M2 - 2 * K4, frame: 8, sizeBytes: 4 * K4 });
    const tables = Object.keys(state.tables).length;
    expect(unmapOk(state, M2 - K4, 2 * K4)).toBe(2 * K4);
    expect(domainTranslations(state, DID).map((leaf) => leaf.iovaPage)).toEqual([PAGES_2M - 2, PAGES_2M + 1]);
    expect(Object.keys(state.tables)).toHaveLength(tables);
    expectConsistent(state);
  });

  it('frees a last-level table the range covers entirely', () => {
    const state = world({ superpageLevels: 0 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 + K4 });
    const tables = Object.keys(state.tables).length;
    expect(unmapOk(state, 0, M2)).toBe(M2);
    expect(Object.keys(state.tables)).toHaveLength(tables - 1);
    expect(tableAt(state, DID, 0, 2).entries[0]).toBeUndefined();
    expectConsistent(state);
  });

  it('an unmapped IOVA is no longer reachable: DMA faults, even if it was cached (strict)', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 4 });
    expect(landing(dmaAt(state, 0))).toBe(4);
    unmapOk(state, 0, K4);
    expect(state.iotlb).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });
});

describe('unmap: superpages (rounded up to the PTE found, never split)', () => {
  it('unmapping the first 4K of a 2M superpage removes all of it and reports 2M', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    expect(unmapOk(state, 0, K4)).toBe(M2);
    expect(domainTranslations(state, DID)).toEqual([]);
    expect(landing(dmaAt(state, M2 - K4))).toBe('fault:not-present');
    expectConsistent(state);
  });

  it('unmapping 4K in the middle of a 2M superpage removes the whole superpage', () => {
    const state = world();
    mapOk(state, { iova: M2, frame: PAGES_2M, sizeBytes: M2 });
    dmaAt(state, M2);
    expect(unmapOk(state, M2 + 5 * K4, K4)).toBe(M2);
    expect(domainTranslations(state, DID)).toEqual([]);
    expect(staleIotlbEntries(state)).toEqual([]);
    expectConsistent(state);
  });

  it('unmapping 2M of a 1G superpage removes the whole 1G and reports it', () => {
    const state = world();
    mapOk(state, { iova: G1, frame: PAGES_1G, sizeBytes: G1 });
    expect(unmapOk(state, G1, M2)).toBe(G1);
    expect(domainTranslations(state, DID)).toEqual([]);
    expectConsistent(state);
  });

  it('a range ending inside a superpage removes it whole and counts its full size', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 1, sizeBytes: 4 * K4 });
    mapOk(state, { iova: M2, frame: PAGES_2M, sizeBytes: M2 });
    // First chunk: 2M at 0 (rounds nothing); second: 4K at 2M, rounded up to the 2M superpage.
    expect(unmapOk(state, 0, M2 + K4)).toBe(2 * M2);
    expect(domainTranslations(state, DID)).toEqual([]);
    expectConsistent(state);
  });

  it('neighbouring superpages outside the range stay mapped', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 3 * M2 });
    expect(unmapOk(state, M2, K4)).toBe(M2);
    expect(domainTranslations(state, DID).map((leaf) => leaf.iovaPage)).toEqual([0, 2 * PAGES_2M]);
    expectConsistent(state);
  });
});

describe('unmap: what the driver reports for non-present IOVAs', () => {
  it('rounds up to the size of the non-present entry the walk stopped at (a 4K slot)', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0 });
    expect(unmapOk(state, K4, K4)).toBe(K4);
    expectConsistent(state);
  });

  it('an empty level-3 slot rounds up to 1G, an empty root slot to 512G', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0 });
    expect(unmapOk(state, 5 * G1, K4)).toBe(G1);
    expect(unmapOk(state, 2 ** 39, K4)).toBe(2 ** 39);
    expect(domainTranslations(state, DID)).toHaveLength(1);
    expectConsistent(state);
  });

  it('reports the whole request when the range is larger than what is mapped', () => {
    const state = world({ superpageLevels: 0 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 2 * K4 });
    expect(unmapOk(state, 0, 8 * K4)).toBe(8 * K4);
    expect(domainTranslations(state, DID)).toEqual([]);
  });

  it('an IOVA beyond the address width unmaps nothing and reports 0', () => {
    const state = world();
    const before = structuredClone(state);
    expect(unmapOk(state, 2 ** 48, K4)).toBe(0);
    expect(state).toEqual(before);
  });

  it('a zero-length unmap reports 0 and changes nothing', () => {
    const state = world();
    mapOk(state);
    const before = structuredClone(state);
    expect(unmapOk(state, 0, 0)).toBe(0);
    expect(state).toEqual(before);
  });
});

describe('unmap: strict-mode flush', () => {
  it('issues one PSI covering the gathered range', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 4 * K4 });
    const detail = expectOk(unmap(state, config, { domainId: DID, iova: K4, sizeBytes: 2 * K4 }));
    expect(detail).toMatchObject({ unmappedBytes: 2 * K4, invalidation: 'psi', flushIovaPage: 0, flushPages: 4 });
  });

  it('the flush of a partly unmapped superpage covers the whole superpage', () => {
    const state = world();
    mapOk(state, { iova: 2 * M2, frame: 0, sizeBytes: M2 });
    const detail = expectOk(unmap(state, config, { domainId: DID, iova: 2 * M2 + 3 * K4, sizeBytes: K4 }));
    expect(detail).toMatchObject({ invalidation: 'psi', flushIovaPage: 2 * PAGES_2M, flushPages: 2 * PAGES_2M });
  });

  it('keeps cached translations outside the flushed block', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: K4 });
    mapOk(state, { iova: 4 * M2, frame: 9, sizeBytes: K4 });
    dmaAt(state, 0);
    dmaAt(state, 4 * M2);
    unmapOk(state, 0, K4);
    expect(state.iotlb.map((entry) => entry.iovaPage)).toEqual([4 * PAGES_2M]);
  });
});
