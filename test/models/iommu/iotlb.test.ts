/**
 * The IOTLB and its invalidation (docs/reference/vtd.md §3.3): DMA consults the IOTLB before walking (a
 * stale entry is used until invalidated), entries are tagged by DID and PASID, capacity and FIFO
 * replacement, and page-selective (with Linux's aligned-block rule and the DSI fallback),
 * domain-selective and global invalidation.
 */
import { describe, expect, it } from 'vitest';
import { createDomain, attachDevice } from '../../../models/iommu/domain.js';
import { invalidateDomain, invalidateGlobal, invalidatePage } from '../../../models/iommu/invalidate.js';
import { psiBlock } from '../../../models/iommu/iotlb.js';
import type { IommuState } from '../../../models/iommu/types.js';
import { staleIotlbEntries } from '../../../models/iommu/views.js';
import {
  DEV,
  DEV2,
  DID,
  K4,
  M2,
  PAGES_2M,
  config,
  dmaAt,
  expectOk,
  expectRefused,
  landing,
  mapOk,
  tableAt,
  world,
} from './world.js';

/** Removes the leaf for `iova` from the last-level table behind the model's back (no flush). */
function dropLeafSilently(state: IommuState, iova: number): void {
  delete tableAt(state, DID, iova, 1).entries[(iova / K4) % 512];
}

describe('IOTLB: consulted before the walk', () => {
  it('a walk fills the IOTLB with the leaf; the next DMA hits it', () => {
    const state = world();
    mapOk(state, { iova: K4, frame: 12 });
    expect(dmaAt(state, K4)).toMatchObject({ landed: 'frame', frame: 12, via: 'walk' });
    expect(state.iotlb).toEqual([
      { kind: 'translation', domainId: DID, pasid: null, iovaPage: 1, frame: 12, pages: 1, read: true, write: true },
    ]);
    expect(dmaAt(state, K4)).toMatchObject({ landed: 'frame', frame: 12, via: 'iotlb' });
  });

  it('a superpage is cached as one entry that serves every page in it', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: PAGES_2M, sizeBytes: M2 });
    dmaAt(state, 0);
    expect(state.iotlb).toHaveLength(1);
    expect(dmaAt(state, M2 - K4)).toMatchObject({ frame: 2 * PAGES_2M - 1, via: 'iotlb' });
  });

  it('a stale entry is used until it is invalidated', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 12 });
    dmaAt(state, 0);
    dropLeafSilently(state, 0);
    expect(dmaAt(state, 0)).toMatchObject({ landed: 'frame', frame: 12, via: 'iotlb' });
    expect(staleIotlbEntries(state).map((stale) => stale.reason)).toEqual(['unmapped']);
    expectOk(invalidatePage(state, config, { domainId: DID, iova: 0, sizeBytes: K4 }));
    expect(dmaAt(state, 0)).toMatchObject({ landed: 'fault', reason: 'not-present', via: 'walk' });
  });

  it('entries of one DID do not serve another domain’s device', () => {
    const state = world();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectOk(attachDevice(state, { deviceId: DEV2, domainId: 2 }));
    mapOk(state, { iova: 0, frame: 12 });
    dmaAt(state, 0);
    expect(landing(dmaAt(state, 0, { deviceId: DEV2 }))).toBe('fault:not-present');
  });

  it('devices attached to the same domain share its entries', () => {
    const state = world();
    expectOk(attachDevice(state, { deviceId: DEV2, domainId: DID }));
    mapOk(state, { iova: 0, frame: 12 });
    dmaAt(state, 0, { deviceId: DEV });
    expect(dmaAt(state, 0, { deviceId: DEV2 }).via).toBe('iotlb');
  });

  it('holds at most iotlbEntries entries and evicts the oldest first', () => {
    const state = world({ iotlbEntries: 2 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 3 * K4 });
    dmaAt(state, 0);
    dmaAt(state, K4);
    dmaAt(state, 2 * K4);
    expect(state.iotlb.map((entry) => entry.iovaPage)).toEqual([1, 2]);
    expect(dmaAt(state, 0).via).toBe('walk');
  });

  it('with no IOTLB capacity nothing is cached', () => {
    const state = world({ iotlbEntries: 0 });
    mapOk(state);
    dmaAt(state, 0);
    expect(state.iotlb).toEqual([]);
  });
});

describe('page-selective invalidation', () => {
  it('psiBlock: an aligned power-of-two range is its own block', () => {
    expect(psiBlock(config, 8, 15)).toEqual({ addrPage: 8, mask: 3 });
    expect(psiBlock(config, 5, 5)).toEqual({ addrPage: 5, mask: 0 });
  });

  it('psiBlock: a count that is not a power of two rounds up', () => {
    expect(psiBlock(config, 0, 2)).toEqual({ addrPage: 0, mask: 2 });
  });

  it('psiBlock: a range straddling a block boundary widens the mask until one block covers it', () => {
    expect(psiBlock(config, 1, 2)).toEqual({ addrPage: 0, mask: 2 });
    expect(psiBlock(config, 511, 512)).toEqual({ addrPage: 0, mask: 10 });
    expect(psiBlock(config, 3 * 512 - 1, 3 * 512)).toEqual({ addrPage: 1024, mask: 10 });
  });

  it('drops the entries intersecting the block and keeps the others', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 8 * K4 });
    for (let page = 0; page < 8; page++) dmaAt(state, page * K4);
    const detail = expectOk(invalidatePage(state, config, { domainId: DID, iova: 2 * K4, sizeBytes: 2 * K4 }));
    expect(detail).toMatchObject({ invalidation: 'psi', flushIovaPage: 2, flushPages: 2, dropped: 2 });
    expect(state.iotlb.map((entry) => entry.iovaPage)).toEqual([0, 1, 4, 5, 6, 7]);
  });

  it('drops a superpage entry when the block covers any part of it', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    dmaAt(state, 0);
    expectOk(invalidatePage(state, config, { domainId: DID, iova: M2 - K4, sizeBytes: K4 }));
    expect(state.iotlb).toEqual([]);
  });

  it('drops entries of every PASID tag with the DID, and of no other DID', () => {
    const state = world();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectOk(attachDevice(state, { deviceId: DEV2, domainId: 2 }));
    mapOk(state, { iova: 0, frame: 1 });
    mapOk(state, { domainId: 2, iova: 0, frame: 2 });
    dmaAt(state, 0, { deviceId: DEV2 });
    dmaAt(state, 0);
    expectOk(invalidatePage(state, config, { domainId: DID, iova: 0, sizeBytes: K4 }));
    expect(state.iotlb.map((entry) => entry.domainId)).toEqual([2]);
  });

  it('becomes a DSI when the mask exceeds MAMV', () => {
    const state = world({ maxAddressMaskValue: 2 });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 16 * K4 });
    dmaAt(state, 15 * K4);
    const detail = expectOk(invalidatePage(state, config, { domainId: DID, iova: 0, sizeBytes: 8 * K4 }));
    expect(detail).toMatchObject({ invalidation: 'dsi', flushIovaPage: null, flushPages: null, dropped: 1 });
    expect(state.iotlb).toEqual([]);
  });

  it('becomes a DSI when the IOMMU has no page-selective invalidation', () => {
    const state = world({ pageSelectiveInvalidation: false });
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 2 * K4 });
    dmaAt(state, K4);
    expect(expectOk(invalidatePage(state, config, { domainId: DID, iova: 0, sizeBytes: K4 })).invalidation).toBe('dsi');
    expect(state.iotlb).toEqual([]);
  });

  it.each([
    ['unaligned iova', { iova: 100 }],
    ['unaligned size', { sizeBytes: 100 }],
    ['zero size', { sizeBytes: 0 }],
    ['negative DID', { domainId: -1 }],
  ])('refuses an %s with EINVAL', (_, overrides) => {
    const state = world();
    mapOk(state);
    dmaAt(state, 0);
    expectRefused(state, 'EINVAL', (copy) =>
      invalidatePage(copy, config, { domainId: DID, iova: 0, sizeBytes: K4, ...overrides }),
    );
  });
});

describe('domain-selective and global invalidation', () => {
  function twoDomains(): IommuState {
    const state = world();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectOk(attachDevice(state, { deviceId: DEV2, domainId: 2 }));
    mapOk(state, { iova: 0, frame: 1, sizeBytes: 2 * K4 });
    mapOk(state, { domainId: 2, iova: 0, frame: 2 });
    dmaAt(state, 0, { deviceId: DEV });
    dmaAt(state, K4, { deviceId: DEV });
    dmaAt(state, 0, { deviceId: DEV2 });
    return state;
  }

  it('a DSI drops every entry of the DID and nothing else', () => {
    const state = twoDomains();
    expect(expectOk(invalidateDomain(state, { domainId: DID })).dropped).toBe(2);
    expect(state.iotlb.map((entry) => entry.domainId)).toEqual([2]);
  });

  it('a global invalidation drops every entry', () => {
    const state = twoDomains();
    expect(expectOk(invalidateGlobal(state)).dropped).toBe(3);
    expect(state.iotlb).toEqual([]);
    expect(dmaAt(state, 0, { deviceId: DEV }).via).toBe('walk');
  });

  it('refuses a malformed DID with EINVAL', () => {
    expectRefused(twoDomains(), 'EINVAL', (copy) => invalidateDomain(copy, { domainId: 0.5 }));
  });

  it('an invalidation of a DID no domain has drops nothing and succeeds', () => {
    const state = twoDomains();
    expect(expectOk(invalidateDomain(state, { domainId: 9 })).dropped).toBe(0);
    expect(state.iotlb).toHaveLength(3);
  });
});
