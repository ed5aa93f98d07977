/**
 * Read-only views (views.ts) and the page-table checks (check.ts): each check passes on model
 * states and reports a state corrupted by hand.
 */
import { describe, expect, it } from 'vitest';
import { pageTableMatchesFlat, pageTableWellFormed } from '../../../models/iommu/check.js';
import { attachDevice, attachDevicePasid, createDomain } from '../../../models/iommu/domain.js';
import { createIommuState, writableTable } from '../../../models/iommu/state.js';
import type { IommuState, PageTableEntry } from '../../../models/iommu/types.js';
import {
  domainTranslations,
  iovaToFrame,
  iovaToPhys,
  reachableByDevice,
  reachableFrames,
  staleIotlbEntries,
} from '../../../models/iommu/views.js';
import { DEV, DEV2, DID, K4, M2, PAGES_2M, dmaAt, expectConsistent, expectOk, mapOk, tableAt, world } from './world.js';

describe('translations and iova_to_phys', () => {
  it('lists the leaves of a domain in IOVA order; none for an unknown domain', () => {
    const state = world();
    mapOk(state, { iova: M2, frame: PAGES_2M, sizeBytes: M2 });
    mapOk(state, { iova: 0, frame: 9 });
    expect(domainTranslations(state, DID)).toEqual([
      { iovaPage: 0, frame: 9, pages: 1, read: true, write: true },
      { iovaPage: PAGES_2M, frame: PAGES_2M, pages: PAGES_2M, read: true, write: true },
    ]);
    expect(domainTranslations(state, 7)).toEqual([]);
  });

  it('iovaToPhys keeps the offset; non-present and out-of-width IOVAs give null (Linux: 0)', () => {
    const state = world();
    mapOk(state, { iova: M2, frame: PAGES_2M, sizeBytes: M2 });
    expect(iovaToPhys(state, DID, M2 + 3 * K4 + 5)).toBe((PAGES_2M + 3) * K4 + 5);
    expect(iovaToFrame(state, DID, M2 + 3 * K4)).toBe(PAGES_2M + 3);
    expect(iovaToPhys(state, DID, 0)).toBeNull();
    expect(iovaToPhys(state, DID, 2 ** 48)).toBeNull();
    expect(iovaToPhys(state, 9, M2)).toBeNull();
  });
});

describe('stale IOTLB entries', () => {
  it('reports an entry whose page now maps another frame as changed', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3 });
    dmaAt(state, 0);
    tableAt(state, DID, 0, 1).entries[0] = { kind: 'leaf', frame: 4, read: true, write: true };
    expect(staleIotlbEntries(state)).toMatchObject([{ index: 0, reason: 'changed', awaitingFlush: false }]);
  });

  it('a 2M entry still fully covered by 4K leaves with the same frames is not stale', () => {
    const state = world({ superpageLevels: 1 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    dmaAt(state, 0);
    // Re-express the 2M leaf as 512 4K leaves of the same frames, behind the model's back.
    const entries: Record<string, PageTableEntry> = {};
    for (let index = 0; index < 512; index++) entries[index] = { kind: 'leaf', frame: index, read: true, write: true };
    state.tables[99] = { domainId: DID, level: 1, entries };
    tableAt(state, DID, 0, 2).entries[0] = { kind: 'table', tableId: 99 };
    expect(staleIotlbEntries(state)).toEqual([]);
    delete writableTable(state, 99).entries[511];
    expect(staleIotlbEntries(state)).toMatchObject([{ reason: 'unmapped' }]);
  });

  it('reports entries of a DID that has no domain, or no page table', () => {
    const state = world();
    state.iotlb = [
      { kind: 'translation', domainId: 5, pasid: null, iovaPage: 0, frame: 0, pages: 1, read: true, write: true },
    ];
    expect(staleIotlbEntries(state)).toMatchObject([{ reason: 'no-domain' }]);
    expectOk(createDomain(state, { type: 'identity' }));
    state.iotlb = [
      { kind: 'translation', domainId: 2, pasid: null, iovaPage: 0, frame: 0, pages: 1, read: true, write: true },
    ];
    expect(staleIotlbEntries(state)).toMatchObject([{ reason: 'no-page-table' }]);
  });
});

describe('what a device can reach', () => {
  it('lists page-table leaves and IOTLB entries for each of its tags', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3 });
    expectOk(createDomain(state, { type: 'unmanaged' }));
    mapOk(state, { domainId: 2, iova: 0, frame: 8 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 4, domainId: 2 }));
    dmaAt(state, 0);
    expect(reachableByDevice(state, DEV)).toEqual([
      { iovaPage: 0, frame: 3, pages: 1, read: true, write: true, pasid: null, domainId: DID, via: 'page-table' },
      { iovaPage: 0, frame: 3, pages: 1, read: true, write: true, pasid: null, domainId: DID, via: 'iotlb' },
      { iovaPage: 0, frame: 8, pages: 1, read: true, write: true, pasid: 4, domainId: 2, via: 'page-table' },
    ]);
    expect(reachableByDevice(state, DEV2)).toEqual([]);
  });

  it('a stale IOTLB entry keeps its frame reachable', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3 });
    dmaAt(state, 0);
    delete tableAt(state, DID, 0, 1).entries[0];
    expect(reachableFrames(state, DEV, 16)).toEqual([3]);
  });

  it('reachableFrames clips to the frame limit and can keep only writable frames', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 6, sizeBytes: 4 * K4 });
    mapOk(state, { iova: M2, frame: 1, write: false });
    expect(reachableFrames(state, DEV, 8)).toEqual([1, 6, 7]);
    expect(reachableFrames(state, DEV, 8, true)).toEqual([6, 7]);
  });

  it('an identity domain reaches every frame; a blocked domain none', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'identity' }));
    expectOk(createDomain(state, { type: 'blocked' }));
    expectOk(attachDevice(state, { deviceId: DEV, domainId: 1 }));
    expectOk(attachDevice(state, { deviceId: DEV2, domainId: 2 }));
    expect(reachableFrames(state, DEV, 4)).toEqual([0, 1, 2, 3]);
    expect(reachableFrames(state, DEV2, 4)).toEqual([]);
  });
});

describe('page-table checks', () => {
  function mapped(): IommuState {
    const state = world();
    mapOk(state, { iova: M2 - K4, frame: 3, sizeBytes: 2 * K4 });
    mapOk(state, { iova: 4 * M2, frame: PAGES_2M, sizeBytes: M2 });
    expectConsistent(state);
    return state;
  }

  it('pageTableMatchesFlat: a leaf missing from the flat map', () => {
    const state = mapped();
    state.flat[DID] = state.flat[DID]!.filter((leaf) => leaf.iovaPage !== PAGES_2M - 1);
    expect(pageTableMatchesFlat(state)).toMatch(/IOVA page 511 is mapped in the page table .* but not in the flat map/);
  });

  it('pageTableMatchesFlat: a leaf missing from the page table', () => {
    const state = mapped();
    delete tableAt(state, DID, M2, 1).entries[0];
    expect(pageTableMatchesFlat(state)).toMatch(/IOVA page 512 is mapped in the flat map .* but not in the page table/);
  });

  it('pageTableMatchesFlat: the same leaf with another frame', () => {
    const state = mapped();
    state.flat[DID]![2] = { iovaPage: 4 * PAGES_2M, frame: 0, pages: PAGES_2M, read: true, write: true };
    expect(pageTableMatchesFlat(state)).toMatch(/IOVA page 2048 maps frame 512.* but frame 0/);
  });

  it('pageTableMatchesFlat: flat records must match the paging domains', () => {
    const state = mapped();
    state.flat[3] = [];
    expect(pageTableMatchesFlat(state)).toMatch(/domain 3, which has no page table/);
    delete state.flat[3];
    delete state.flat[DID];
    expect(pageTableMatchesFlat(state)).toMatch(/domain 1: no record in the flat map/);
  });

  it('pageTableMatchesFlat: overlapping flat entries', () => {
    const state = mapped();
    state.flat[DID]!.splice(1, 0, { iovaPage: PAGES_2M - 1, frame: 0, pages: 1, read: true, write: true });
    expect(pageTableMatchesFlat(state)).toMatch(/flat map entries at IOVA pages 511 and 511 overlap/);
  });

  it('pageTableWellFormed: a leaked table page', () => {
    const state = mapped();
    state.tables[50] = { domainId: DID, level: 1, entries: {} };
    expect(pageTableWellFormed(state)).toBe('table 50 is allocated but unreachable (leaked)');
  });

  it('pageTableWellFormed: a superpage whose frame is not aligned to its size', () => {
    const state = mapped();
    tableAt(state, DID, 4 * M2, 2).entries[4] = { kind: 'leaf', frame: 3, read: true, write: true };
    expect(pageTableWellFormed(state)).toMatch(/maps frame 3, not aligned to 512 pages/);
  });

  it('pageTableWellFormed: a leaf at a level the IOMMU cannot hold', () => {
    const state = mapped();
    const root = writableTable(state, state.domains[DID]!.rootTableId!);
    root.entries[9] = { kind: 'leaf', frame: 0, read: true, write: true };
    expect(pageTableWellFormed(state)).toMatch(/\(level 4\) holds a leaf at index 9/);
  });

  it('pageTableWellFormed: a table reachable twice', () => {
    const state = mapped();
    const level2 = tableAt(state, DID, 0, 2);
    level2.entries[7] = level2.entries[0]!;
    expect(pageTableWellFormed(state)).toMatch(/reachable twice/);
  });

  it('pageTableWellFormed: a table at the wrong level', () => {
    const state = mapped();
    const level3 = tableAt(state, DID, 0, 3);
    level3.entries[8] = tableAt(state, DID, 0, 2).entries[0]!;
    delete tableAt(state, DID, 0, 2).entries[0];
    expect(pageTableWellFormed(state)).toMatch(/has level 1, expected 2/);
  });
});
