/**
 * The context cache (`models/iommu/context-cache.ts`, docs/reference/vtd.md §3.13.1): a request
 * without PASID walks the context entry through it and fills it; the three invalidation
 * granularities of `flush_context`; v6.12's detach (`domain_context_clear_one`: clear, write back,
 * then `intel_context_flush_present`: the device-selective context-cache invalidation, then the
 * IOTLB's DSI) and attach (`context_present_cache_flush`: no context-cache invalidation without
 * caching mode); and the lifecycle hooks that leave a stale entry behind.
 */
import { describe, expect, it } from 'vitest';
import { contextCacheFill, contextCacheLookup, invalidateContextCache } from '../../../models/iommu/context-cache.js';
import { attachDevice, createDomain, detachDevice, releaseDomain } from '../../../models/iommu/domain.js';
import { cloneIommuState } from '../../../models/iommu/state.js';
import { reachableByDevice } from '../../../models/iommu/views.js';
import {
  blockFlushingClearedDid,
  blockSkippingContextCacheFlush,
  blockSkippingWriteBack,
  blockTranslation,
} from '../../../models/passthrough/lifecycle.js';
import { reusedDidCarriesNoEarlierTranslations } from '../../../properties/passthrough/invariants/lifecycle.js';
import { iommuNoncoherent } from '../../../properties/passthrough/coherency-designs.js';
import { DEV, DEV2, DID, K4, dmaAt, expectOk, landing, mapOk, world } from './world.js';

const cached = { contextCacheEntries: 2 };

/** DEV attached to DID 1, iova 0 → frame 7, and one DMA that cached the context entry. */
function warm(caps: Record<string, unknown> = cached) {
  const state = world(caps);
  mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
  expect(landing(dmaAt(state, 0))).toBe(7);
  return state;
}

describe('the context cache', () => {
  it('is not modelled without the capability: no cache, no fill', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
    dmaAt(state, 0);
    expect(state.contextCache).toBeUndefined();
  });

  it('a request without PASID walks the present entry and caches it; a request with PASID does not', () => {
    const state = warm();
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
    expect(contextCacheLookup(state, DEV2)).toBeUndefined();
  });

  it('no entry is cached for a device without a present context entry (hardware caches present ones)', () => {
    const state = world(cached);
    dmaAt(state, 0, { deviceId: DEV2 });
    expect(state.contextCache).toEqual([]);
  });

  it('fills FIFO up to its capacity and replaces the array whole (shared copies are untouched)', () => {
    const state = world({ contextCacheEntries: 2 });
    const before = state.contextCache;
    contextCacheFill(state, 1, 5);
    contextCacheFill(state, 2, 5);
    contextCacheFill(state, 2, 6);
    contextCacheFill(state, 3, 6);
    expect(before).toEqual([]);
    expect(state.contextCache).toEqual([
      { deviceId: 2, domainId: 5 },
      { deviceId: 3, domainId: 6 },
    ]);
  });

  it('flush_context: device-selective matches DID and source-id, domain-selective the DID, global all', () => {
    const state = world({ contextCacheEntries: 4 });
    const fill = () => {
      state.contextCache = [];
      contextCacheFill(state, 1, 5);
      contextCacheFill(state, 2, 5);
      contextCacheFill(state, 3, 6);
    };
    fill();
    expect(invalidateContextCache(state, { granularity: 'device', domainId: 6, sourceId: 1 })).toBe(0);
    expect(invalidateContextCache(state, { granularity: 'device', domainId: 5, sourceId: 1 })).toBe(1);
    expect(invalidateContextCache(state, { granularity: 'domain', domainId: 5 })).toBe(1);
    expect(state.contextCache).toEqual([{ deviceId: 3, domainId: 6 }]);
    fill();
    expect(invalidateContextCache(state, { granularity: 'global' })).toBe(3);
    expect(state.contextCache).toEqual([]);
  });

  it('a request uses the cached entry first: a clear without its invalidation still translates', () => {
    const state = warm();
    blockSkippingContextCacheFlush(state, DEV);
    expect(state.contexts[DEV]).toBeUndefined();
    expect(landing(dmaAt(state, 0))).toBe(7);
    expect(reachableByDevice(state, DEV).some((extent) => extent.frame === 7 && extent.pasid === null)).toBe(true);
  });

  it("v6.12's detach (detachDevice, blockTranslation) invalidates it before the DSI: the device faults", () => {
    for (const detach of [
      (state: ReturnType<typeof warm>) => expectOk(detachDevice(state, { deviceId: DEV })),
      (state: ReturnType<typeof warm>) => blockTranslation(state, DEV),
    ]) {
      const state = warm();
      detach(state);
      expect(state.contextCache).toEqual([]);
      expect(landing(dmaAt(state, 0))).toBe('fault:no-context');
      expect(state.contextCache).toEqual([]);
    }
  });

  it('the cleared-DID helper (7af6c720417f) invalidates DID 0: the cached entry survives', () => {
    const state = warm();
    blockFlushingClearedDid(state, DEV);
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
  });

  it('a not-present entry made present invalidates nothing without caching mode (context_present_cache_flush)', () => {
    const state = warm();
    blockSkippingContextCacheFlush(state, DEV);
    const other = expectOk(createDomain(state, { type: 'unmanaged' }))['domainId'] as number;
    expectOk(attachDevice(state, { deviceId: DEV, domainId: other }));
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
    // With caching mode: a device-selective invalidation of DID 0, which holds no present entry.
    const cm = warm({ ...cached, cachingMode: true });
    blockSkippingContextCacheFlush(cm, DEV);
    const next = expectOk(createDomain(cm, { type: 'unmanaged' }))['domainId'] as number;
    expectOk(attachDevice(cm, { deviceId: DEV, domainId: next }));
    expect(cm.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
  });

  it("a domain freed under a cached entry: the model's orphan mark, judged by reused-did-carries-no-earlier-translations", () => {
    const state = warm();
    blockSkippingContextCacheFlush(state, DEV);
    expectOk(releaseDomain(state, DID));
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID, orphaned: true }]);
    const after = { ...iommuNoncoherent.init(), iommu: state };
    expect(reusedDidCarriesNoEarlierTranslations.check({ before: null, after } as never)?.actual).toBe(
      `cached context entry of a freed domain (DID ${DID})`,
    );
  });

  it('without coherent walks, a clear not written back is walked again after the invalidation and cached', () => {
    const state = warm({ ...cached, coherentWalks: false });
    blockSkippingWriteBack(state, DEV);
    expect(state.contextCache).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe(7);
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
  });

  it('the clone shares the cache array, which every change replaces', () => {
    const state = warm();
    const copy = cloneIommuState(state);
    invalidateContextCache(copy, { granularity: 'global' });
    expect(state.contextCache).toEqual([{ deviceId: DEV, domainId: DID }]);
    expect(copy.contextCache).toEqual([]);
  });
});
