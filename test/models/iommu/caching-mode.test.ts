/**
 * Caching mode (docs/reference/vtd.md §3.4, §3.7 inv. 5): with CM=1 the IOMMU may cache not-present
 * entries, so every not-present→present change must be followed by an invalidation covering it;
 * Linux's `iotlb_sync_map` issues one after each map. Without CM nothing is cached for a fault and
 * no map-time flush is issued.
 */
import { describe, expect, it } from 'vitest';
import { invalidatePage } from '../../../models/iommu/invalidate.js';
import { mapPages } from '../../../models/iommu/map.js';
import { unmap } from '../../../models/iommu/unmap.js';
import { staleIotlbEntries } from '../../../models/iommu/views.js';
import { DID, K4, M2, config, dmaAt, expectOk, landing, mapOk, world } from './world.js';

describe('caching mode', () => {
  it('a DMA to a non-present page caches a not-present entry with CM=1', () => {
    const state = world({ cachingMode: true });
    expect(landing(dmaAt(state, 3 * K4))).toBe('fault:not-present');
    expect(state.iotlb).toEqual([{ kind: 'not-present', domainId: DID, pasid: null, iovaPage: 3 }]);
    expect(dmaAt(state, 3 * K4)).toMatchObject({ landed: 'fault', via: 'iotlb' });
  });

  it('with CM=0 a fault caches nothing', () => {
    const state = world();
    dmaAt(state, 3 * K4);
    expect(state.iotlb).toEqual([]);
  });

  it('map flushes the mapped range, so a cached fault does not outlive the new mapping', () => {
    const state = world({ cachingMode: true });
    dmaAt(state, K4);
    const detail = mapOk(state, { iova: 0, frame: 4, sizeBytes: 3 * K4 });
    expect(detail).toMatchObject({ invalidation: 'psi', flushIovaPage: 0, flushPages: 4, invalidations: 1 });
    expect(state.iotlb).toEqual([]);
    expect(landing(dmaAt(state, K4))).toBe(5);
  });

  it('the map-time flush covers a superpage map with one aligned block', () => {
    const state = world({ cachingMode: true });
    const detail = mapOk(state, { iova: M2, frame: 512, sizeBytes: M2 });
    expect(detail).toMatchObject({ invalidation: 'psi', flushIovaPage: 512, flushPages: 512 });
  });

  it('a mapping written without the sync (driver map_pages alone) keeps faulting until invalidated', () => {
    const state = world({ cachingMode: true });
    dmaAt(state, 0);
    expectOk(
      mapPages(state, config, {
        domainId: DID,
        iova: 0,
        frame: 4,
        pgsizeBytes: K4,
        pgcount: 1,
        read: true,
        write: true,
      }),
    );
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
    expect(staleIotlbEntries(state)).toMatchObject([{ reason: 'now-present', awaitingFlush: false }]);
    expectOk(invalidatePage(state, config, { domainId: DID, iova: 0, sizeBytes: K4 }));
    expect(landing(dmaAt(state, 0))).toBe(4);
  });

  it('forces strict mode: a dma-fq request gives a dma domain whose unmap invalidates at once', () => {
    const state = world({ cachingMode: true }, 'dma-fq');
    expect(state.domains[DID]!.type).toBe('dma');
    mapOk(state, { iova: 0, frame: 4 });
    dmaAt(state, 0);
    expect(expectOk(unmap(state, config, { domainId: DID, iova: 0, sizeBytes: K4 })).queued).toBe(false);
    expect(state.domains[DID]!.flushQueue).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });

  it('with CM=0 a map issues no invalidation, and a cached translation elsewhere survives it', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 4 });
    dmaAt(state, 0);
    expect(mapOk(state, { iova: K4, frame: 5 }).invalidation).toBe('none');
    expect(state.iotlb).toHaveLength(1);
  });
});
