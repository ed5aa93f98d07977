/**
 * First-level domains, their cache tags and the PASID-based IOTLB invalidation of the VT-d model
 * (`models/iommu/cache-tags.ts`, `invalidate.ts`; docs/reference/vtd.md §3.3, §3.12), against the
 * v6.12 source: `first_level_by_default`, `cache_tag_assign_domain`/`unassign`,
 * `cache_tag_flush_iotlb` (PASID-based for a first-level domain), `qi_desc_piotlb` (all of a PASID or
 * a page-selective block) and `intel_pasid_tear_down_entry`'s PGTT choice.
 */
import { describe, expect, it } from 'vitest';
import { cacheTagPasids, firstLevelByDefault } from '../../../models/iommu/cache-tags.js';
import {
  attachDevicePasid,
  createDomain,
  detachDevice,
  detachDevicePasid,
  setupPasidEntry,
} from '../../../models/iommu/domain.js';
import { flushAllTags, flushDomain, flushPasidBased, invalidateDomain } from '../../../models/iommu/invalidate.js';
import { createIommuState } from '../../../models/iommu/state.js';
import type { DomainType, IommuCaps, IommuState } from '../../../models/iommu/types.js';
import { DEV, DID, K4, config, dmaAt, expectOk, expectRefused, mapOk, unmapOk, world } from './world.js';

/** An IOMMU with first-level translation only (ecap.FLTS, no ecap.SLTS). */
const firstLevelOnly: Partial<IommuCaps> = { firstLevelTranslation: true, secondLevelTranslation: false };

/** The first-level world: pages 0..3 mapped to frames 10..13, PASID 1 attached, each page DMAed with it. */
function cachedWithPasid(): IommuState {
  const state = world(firstLevelOnly);
  mapOk(state, { iova: 0, frame: 10, sizeBytes: 4 * K4 });
  expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
  for (let page = 0; page < 4; page++) dmaAt(state, page * K4, { pasid: 1 });
  return state;
}

/** The IOVA pages the IOTLB caches under (DID, `pasid`). */
function cachedPages(state: IommuState, pasid: number | null): number[] {
  return state.iotlb.filter((entry) => entry.domainId === DID && entry.pasid === pasid).map((entry) => entry.iovaPage);
}

describe('first_level_by_default', () => {
  const cases: readonly [string, Partial<IommuCaps>, DomainType, boolean][] = [
    ['legacy mode: second-level only', { scalableMode: false, firstLevelTranslation: true }, 'dma', false],
    ['FLTS without SLTS: first-level, even for VFIO', firstLevelOnly, 'unmanaged', true],
    ['SLTS without FLTS (the default caps): second-level', {}, 'dma', false],
    ['both: a DMA domain is first-level', { firstLevelTranslation: true }, 'dma', true],
    ['both: an unmanaged (VFIO) domain is second-level', { firstLevelTranslation: true }, 'unmanaged', false],
  ];
  for (const [name, caps, type, expected] of cases) {
    it(name, () => {
      const state = createIommuState(caps);
      expect(firstLevelByDefault(state.caps, type)).toBe(expected);
      const created = expectOk(createDomain(state, { type }));
      expect(state.domains[created.domainId as number]?.firstLevel === true).toBe(expected);
    });
  }
  it('a nesting parent is second-level whatever the caps (paging_domain_alloc(dev, false))', () => {
    const state = createIommuState({ firstLevelTranslation: true });
    expectOk(createDomain(state, { type: 'unmanaged', nestingParent: true }));
    expect(state.domains[DID]?.firstLevel).toBeUndefined();
  });
});

describe('cache tags of a first-level domain', () => {
  it('the device attach assigns IOMMU_NO_PASID, a PASID attach its PASID; detaches unassign them', () => {
    const state = world(firstLevelOnly);
    expect(cacheTagPasids(state.domains[DID]!)).toEqual([0]);
    const attached = expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    expect(attached.pgtt).toBe('first-level');
    expect(cacheTagPasids(state.domains[DID]!)).toEqual([0, 1]);
    expectOk(detachDevicePasid(state, { deviceId: DEV, pasid: 1 }));
    expectOk(detachDevice(state, { deviceId: DEV }));
    expect(cacheTagPasids(state.domains[DID]!)).toEqual([]);
  });
  it('a refused PASID attach leaves no tag: EBUSY for a present entry, nothing changed', () => {
    const state = world(firstLevelOnly);
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    expectRefused(state, 'EBUSY', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid: 1, domainId: DID }));
    expect(state.domains[DID]?.cacheTags).toEqual({ 0: 1, 1: 1 });
  });
  it('the entry written alone (setupPasidEntry) assigns no tag', () => {
    const state = world(firstLevelOnly);
    expectOk(setupPasidEntry(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    expect(cacheTagPasids(state.domains[DID]!)).toEqual([0]);
  });
  it('a second-level domain keeps no tags (its DID-based flushes reach every PASID)', () => {
    const state = world();
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    expect(state.domains[DID]?.cacheTags).toBeUndefined();
  });
});

describe('first-level IOTLB entries and the PASID-based invalidation', () => {
  it('a DMA through a first-level domain caches first-level entries tagged (DID, PASID)', () => {
    const state = cachedWithPasid();
    dmaAt(state, 0);
    expect(cachedPages(state, 1)).toEqual([0, 1, 2, 3]);
    expect(state.iotlb.every((entry) => entry.kind === 'translation' && entry.firstLevel === true)).toBe(true);
  });
  it('a DID-based invalidation (DSI) does not reach them', () => {
    const state = cachedWithPasid();
    expect(flushDomain(state, DID).dropped).toBe(0);
    expectOk(invalidateDomain(state, { domainId: DID }));
    expect(cachedPages(state, 1)).toEqual([0, 1, 2, 3]);
  });
  it('QI_GRAN_NONG_PASID drops all of one PASID, and no other PASID (a request without PASID is PASID 0)', () => {
    const state = cachedWithPasid();
    dmaAt(state, 0);
    expect(flushPasidBased(state, DID, 1, null)).toBe(4);
    expect(cachedPages(state, 1)).toEqual([]);
    expect(cachedPages(state, null)).toEqual([0]);
    expect(flushPasidBased(state, DID, 0, null)).toBe(1);
  });
  it('QI_GRAN_PSI_PASID drops the aligned block only: pages 0..1 of 2^1 pages at 0', () => {
    const state = cachedWithPasid();
    expect(flushPasidBased(state, DID, 1, { addrPage: 0, mask: 1 })).toBe(2);
    expect(cachedPages(state, 1)).toEqual([2, 3]);
  });
  it('a PASID-based invalidation does not reach second-level entries', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 10, sizeBytes: K4 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    dmaAt(state, 0, { pasid: 1 });
    expect(flushPasidBased(state, DID, 1, null)).toBe(0);
  });
  it("an unmap flushes its block through each tag's PASID (cache_tag_flush_range), and only the block", () => {
    const state = cachedWithPasid();
    dmaAt(state, 2 * K4);
    unmapOk(state, 2 * K4, K4);
    expect(cachedPages(state, 1)).toEqual([0, 1, 3]);
    expect(cachedPages(state, null)).toEqual([]);
  });
  it('cache_tag_flush_all (a flush queue drain) drops every tag of the domain', () => {
    const state = cachedWithPasid();
    dmaAt(state, 0);
    expect(flushAllTags(state, DID)).toMatchObject({ granularity: 'pasid', dropped: 5 });
    expect(state.iotlb).toEqual([]);
  });
  it("the PASID's teardown (PGTT 1) flushes that PASID, the device's (PASID 0) its own", () => {
    const state = cachedWithPasid();
    dmaAt(state, 0);
    const detached = expectOk(detachDevicePasid(state, { deviceId: DEV, pasid: 1 }));
    expect(detached).toMatchObject({ invalidation: 'pasid', flushPages: null });
    expect(cachedPages(state, 1)).toEqual([]);
    expect(cachedPages(state, null)).toEqual([0]);
    expectOk(detachDevice(state, { deviceId: DEV }));
    expect(state.iotlb).toEqual([]);
  });
  it('caching mode caches no first-level not-present entry (first-stage entries are the exception)', () => {
    const state = world({ ...firstLevelOnly, cachingMode: true });
    dmaAt(state, 0);
    expect(state.iotlb).toEqual([]);
    mapOk(state, { iova: 0, frame: 10, sizeBytes: K4 });
    expect(dmaAt(state, 0).frame).toBe(10);
  });
  it('the stack helpers leave the default (second-level) model as it was: a DSI drops PASID-tagged entries', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 10, sizeBytes: K4 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 1, domainId: DID }));
    dmaAt(state, 0, { pasid: 1 });
    expect(flushDomain(state, DID).dropped).toBe(1);
    expect(config.bugs).toEqual([]);
  });
});
