/**
 * iommu_map effects (docs/reference/vtd.md §3.1–3.2): real index arithmetic, leaf-table boundary crossing,
 * 2M/1G superpages chosen by alignment and `cap.SLLPS`, the core's page-size splitting, and the
 * "DMA PTE already set" rule (old PTE kept, no error).
 */
import { describe, expect, it } from 'vitest';
import { iommuPgsize, largepageLevel, mapPages } from '../../../models/iommu/map.js';
import { domainTranslations } from '../../../models/iommu/views.js';
import { unmap } from '../../../models/iommu/unmap.js';
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
  world,
} from './world.js';

describe('map: index arithmetic and table boundaries', () => {
  it('places a 4K leaf by IOVA bits 39-47, 30-38, 21-29, 12-20', () => {
    const state = world();
    const iova = 3 * 2 ** 39 + 5 * 2 ** 30 + 7 * 2 ** 21 + 9 * 2 ** 12;
    mapOk(state, { iova, frame: 77 });
    const root = state.tables[state.domains[DID]!.rootTableId!]!;
    expect(Object.keys(root.entries)).toEqual(['3']);
    expect(Object.keys(tableAt(state, DID, iova, 3).entries)).toEqual(['5']);
    expect(Object.keys(tableAt(state, DID, iova, 2).entries)).toEqual(['7']);
    expect(tableAt(state, DID, iova, 1).entries).toEqual({ 9: { kind: 'leaf', frame: 77, read: true, write: true } });
    expectConsistent(state);
  });

  it('a map spanning two last-level tables writes one leaf in each', () => {
    const state = world();
    mapOk(state, { iova: M2 - K4, frame: 20, sizeBytes: 2 * K4 });
    expect(tableAt(state, DID, M2 - K4, 1).entries).toEqual({
      511: { kind: 'leaf', frame: 20, read: true, write: true },
    });
    expect(tableAt(state, DID, M2, 1).entries).toEqual({ 0: { kind: 'leaf', frame: 21, read: true, write: true } });
    expect(landing(dmaAt(state, M2 - K4))).toBe(20);
    expect(landing(dmaAt(state, M2))).toBe(21);
    expect(Object.keys(state.tables)).toHaveLength(5);
    expectConsistent(state);
  });

  it('a map spanning two level-3 and level-4 slots walks separate subtrees', () => {
    const state = world();
    const iova = 2 ** 39 - K4;
    mapOk(state, { iova, frame: 3, sizeBytes: 2 * K4 });
    const root = state.tables[state.domains[DID]!.rootTableId!]!;
    expect(Object.keys(root.entries)).toEqual(['0', '1']);
    expect(landing(dmaAt(state, iova))).toBe(3);
    expect(landing(dmaAt(state, 2 ** 39))).toBe(4);
    expectConsistent(state);
  });

  it('a leaf records the protection asked for', () => {
    const state = world();
    mapOk(state, { iova: 0, read: true, write: false });
    mapOk(state, { iova: K4, frame: 1, read: false, write: true });
    expect(domainTranslations(state, DID)).toEqual([
      { iovaPage: 0, frame: 0, pages: 1, read: true, write: false },
      { iovaPage: 1, frame: 1, pages: 1, read: false, write: true },
    ]);
  });
});

describe('map: superpages', () => {
  it('maps an aligned 2M range with an aligned frame as one level-2 leaf', () => {
    const state = world();
    mapOk(state, { iova: 4 * M2, frame: 3 * PAGES_2M, sizeBytes: M2 });
    expect(tableAt(state, DID, 4 * M2, 2).entries[4]).toEqual({
      kind: 'leaf',
      frame: 3 * PAGES_2M,
      read: true,
      write: true,
    });
    expect(domainTranslations(state, DID)).toEqual([
      { iovaPage: 4 * PAGES_2M, frame: 3 * PAGES_2M, pages: PAGES_2M, read: true, write: true },
    ]);
    expect(landing(dmaAt(state, 4 * M2 + 5 * K4))).toBe(3 * PAGES_2M + 5);
    expectConsistent(state);
  });

  it('maps an aligned 1G range with an aligned frame as one level-3 leaf', () => {
    const state = world();
    mapOk(state, { iova: 2 * G1, frame: PAGES_1G, sizeBytes: G1 });
    expect(tableAt(state, DID, 2 * G1, 3).entries[2]).toEqual({
      kind: 'leaf',
      frame: PAGES_1G,
      read: true,
      write: true,
    });
    expect(landing(dmaAt(state, 2 * G1 + M2 + K4))).toBe(PAGES_1G + PAGES_2M + 1);
    expectConsistent(state);
  });

  it('uses 4K leaves when the frame is not aligned like the IOVA', () => {
    const state = world();
    mapOk(state, { iova: M2, frame: 1, sizeBytes: M2 });
    const leaves = domainTranslations(state, DID);
    expect(leaves).toHaveLength(PAGES_2M);
    expect(leaves.every((leaf) => leaf.pages === 1)).toBe(true);
    expectConsistent(state);
  });

  it('uses 4K leaves when the IOMMU has no superpage capability', () => {
    const state = world({ superpageLevels: 0 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    expect(domainTranslations(state, DID)).toHaveLength(PAGES_2M);
    expectConsistent(state);
  });

  it('uses 2M leaves for a 1G range when only 2M superpages exist', () => {
    const state = world({ superpageLevels: 1 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: G1 });
    const leaves = domainTranslations(state, DID);
    expect(leaves).toHaveLength(512);
    expect(leaves.every((leaf) => leaf.pages === PAGES_2M)).toBe(true);
    expectConsistent(state);
  });

  it('splits an unaligned range into 4K head, 2M middle and 4K tail leaves', () => {
    const state = world();
    mapOk(state, { iova: M2 - K4, frame: PAGES_2M - 1, sizeBytes: M2 + 2 * K4 });
    expect(domainTranslations(state, DID)).toEqual([
      { iovaPage: PAGES_2M - 1, frame: PAGES_2M - 1, pages: 1, read: true, write: true },
      { iovaPage: PAGES_2M, frame: PAGES_2M, pages: PAGES_2M, read: true, write: true },
      { iovaPage: 2 * PAGES_2M, frame: 2 * PAGES_2M, pages: 1, read: true, write: true },
    ]);
    expectConsistent(state);
  });

  it('a superpage over a table emptied by earlier unmaps frees that table and flushes the slot', () => {
    const state = world();
    mapOk(state, { iova: K4, frame: 1 });
    dmaAt(state, K4);
    expectOk(unmap(state, config, { domainId: DID, iova: K4, sizeBytes: K4 }));
    const tablesBefore = Object.keys(state.tables).length;
    const detail = mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    expect(detail).toMatchObject({ alreadySet: 0, invalidations: 1 });
    expect(Object.keys(state.tables)).toHaveLength(tablesBefore - 1);
    expect(tableAt(state, DID, 0, 2).entries[0]).toMatchObject({ kind: 'leaf', frame: 0 });
    expectConsistent(state);
  });
});

describe('map: already-set PTEs (caller bug: WARN, no error, old PTE kept)', () => {
  it('a 4K map over a present 4K leaf keeps the old leaf', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 5 });
    const detail = mapOk(state, { iova: 0, frame: 6 });
    expect(detail).toMatchObject({ mappedBytes: K4, alreadySet: 1 });
    expect(landing(dmaAt(state, 0))).toBe(5);
    expectConsistent(state);
  });

  it('the free pages of a partly overlapping map are still mapped', () => {
    const state = world();
    mapOk(state, { iova: K4, frame: 5 });
    const detail = mapOk(state, { iova: 0, frame: 10, sizeBytes: 3 * K4 });
    expect(detail.alreadySet).toBe(1);
    expect([0, K4, 2 * K4].map((iova) => landing(dmaAt(state, iova)))).toEqual([10, 5, 12]);
    expectConsistent(state);
  });

  it('a 4K map inside a present 2M superpage keeps the superpage', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    expect(mapOk(state, { iova: 3 * K4, frame: 9999 }).alreadySet).toBe(1);
    expect(landing(dmaAt(state, 3 * K4))).toBe(3);
    expectConsistent(state);
  });

  it('a 2M map over a table holding a present leaf keeps that leaf and writes no superpage', () => {
    const state = world();
    mapOk(state, { iova: 7 * K4, frame: 70 });
    expect(mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 }).alreadySet).toBe(1);
    expect(domainTranslations(state, DID)).toEqual([{ iovaPage: 7, frame: 70, pages: 1, read: true, write: true }]);
    expectConsistent(state);
  });
});

describe('map: outputs and the core split', () => {
  it('reports the mapped size; without caching mode no invalidation is issued', () => {
    const state = world();
    expect(mapOk(state, { sizeBytes: 2 * K4 })).toEqual({
      mappedBytes: 2 * K4,
      alreadySet: 0,
      invalidations: 0,
      invalidation: 'none',
      flushIovaPage: null,
      flushPages: null,
    });
  });

  it('a zero-length map succeeds and changes nothing', () => {
    const state = world();
    const before = structuredClone(state);
    expect(mapOk(state, { sizeBytes: 0 }).mappedBytes).toBe(0);
    expect(state).toEqual(before);
  });

  it('iommu_pgsize picks the biggest aligned size and stops the count at the next size boundary', () => {
    const sizes = [K4, M2, G1];
    expect(iommuPgsize(sizes, 0, 0, 3 * M2)).toEqual({ pgsizeBytes: M2, count: 3 });
    expect(iommuPgsize(sizes, K4, K4, 3 * M2)).toEqual({ pgsizeBytes: K4, count: 511 });
    expect(iommuPgsize(sizes, K4, K4, M2)).toEqual({ pgsizeBytes: K4, count: 512 });
    expect(iommuPgsize(sizes, 0, K4, 3 * M2)).toEqual({ pgsizeBytes: K4, count: 3 * 512 });
    expect(iommuPgsize(sizes, 0, 0, 2 * G1 + M2)).toEqual({ pgsizeBytes: G1, count: 2 });
  });

  it('hardware_largepage_caps picks the level from IOVA, frame alignment and pages left', () => {
    expect(largepageLevel(2, 0, 0, 1)).toBe(1);
    expect(largepageLevel(2, 0, 0, 512)).toBe(2);
    expect(largepageLevel(2, 0, 0, 512 * 512)).toBe(3);
    expect(largepageLevel(1, 0, 0, 512 * 512)).toBe(2);
    expect(largepageLevel(2, 512, 0, 512 * 512)).toBe(2);
    expect(largepageLevel(2, 0, 1, 512)).toBe(1);
  });

  it('the driver-level map_pages maps pgcount pages of pgsize', () => {
    const state = world();
    const detail = expectOk(
      mapPages(state, config, {
        domainId: DID,
        iova: M2,
        frame: PAGES_2M,
        pgsizeBytes: M2,
        pgcount: 2,
        read: true,
        write: true,
      }),
    );
    expect(detail.mappedBytes).toBe(2 * M2);
    expect(domainTranslations(state, DID).map((leaf) => leaf.pages)).toEqual([PAGES_2M, PAGES_2M]);
    expectConsistent(state);
  });
});
