/**
 * Domains, context entries and PASID entries (docs/reference/vtd.md §3.1, §3.3, §3.4, §3.6): allocation and
 * DIDs, attach/detach and the cache maintenance each does, and their refusals (state unchanged).
 */
import { describe, expect, it } from 'vitest';
import {
  attachDevice,
  attachDevicePasid,
  createDomain,
  destroyDomain,
  detachDevice,
  detachDevicePasid,
} from '../../../models/iommu/domain.js';
import type { DomainType } from '../../../models/iommu/types.js';
import { createIommuState } from '../../../models/iommu/state.js';
import { DEV, DEV2, DID, K4, dmaAt, expectOk, expectRefused, landing, mapOk, world } from './world.js';

describe('domain allocation', () => {
  it('hands out the lowest free DID from 1 and reuses a freed one', () => {
    const state = createIommuState();
    expect(expectOk(createDomain(state, { type: 'unmanaged' })).domainId).toBe(1);
    expect(expectOk(createDomain(state, { type: 'dma' })).domainId).toBe(2);
    expectOk(destroyDomain(state, { domainId: 1 }));
    expect(expectOk(createDomain(state, { type: 'blocked' })).domainId).toBe(1);
  });

  it('gives a paging domain a level-4 root table and an empty flat record', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    const domain = state.domains[1]!;
    expect(domain.rootTableId).not.toBeNull();
    expect(state.tables[domain.rootTableId!]).toEqual({ domainId: 1, level: 4, entries: {} });
    expect(state.flat[1]).toEqual([]);
  });

  it.each<DomainType>(['identity', 'blocked'])('gives a %s domain no page table and no flat record', (type) => {
    const state = createIommuState();
    expectOk(createDomain(state, { type }));
    expect(state.domains[1]!.rootTableId).toBeNull();
    expect(state.tables).toEqual({});
    expect(state.flat).toEqual({});
  });

  it('refuses an unknown domain type with EINVAL', () => {
    expectRefused(createIommuState(), 'EINVAL', (copy) => createDomain(copy, { type: 'paging' as DomainType }));
  });

  it('refuses a nesting parent that is not an unmanaged domain with EINVAL', () => {
    expectRefused(createIommuState(), 'EINVAL', (copy) => createDomain(copy, { type: 'dma', nestingParent: true }));
    expectOk(createDomain(createIommuState(), { type: 'unmanaged', nestingParent: true }));
  });

  it('refuses with ENOSPC when every DID is in use (DID 0 reserved)', () => {
    const state = createIommuState({ domainIdCount: 3 });
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectRefused(state, 'ENOSPC', (copy) => createDomain(copy, { type: 'unmanaged' }));
  });

  it('refuses a paging domain with ENOMEM when no table page is left for its root', () => {
    const state = createIommuState({ tablePages: 1 });
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectRefused(state, 'ENOMEM', (copy) => createDomain(copy, { type: 'dma' }));
    expectOk(createDomain(state, { type: 'identity' }));
  });

  it('keeps dma-fq without caching mode and makes it strict dma with caching mode', () => {
    expect(expectOk(createDomain(createIommuState(), { type: 'dma-fq' })).type).toBe('dma-fq');
    const cm = createIommuState({ cachingMode: true });
    expect(expectOk(createDomain(cm, { type: 'dma-fq' })).type).toBe('dma');
    expect(cm.domains[1]!.type).toBe('dma');
  });
});

describe('domain free', () => {
  it('refuses an unknown domain with ENOENT', () => {
    expectRefused(world(), 'ENOENT', (copy) => destroyDomain(copy, { domainId: 7 }));
  });

  it('refuses a domain with a device attached with EBUSY', () => {
    expectRefused(world(), 'EBUSY', (copy) => destroyDomain(copy, { domainId: DID }));
  });

  it('refuses a domain that serves a PASID with EBUSY', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 5, domainId: 1 }));
    expectRefused(state, 'EBUSY', (copy) => destroyDomain(copy, { domainId: 1 }));
  });

  it('frees every table page and the flat record of the domain', () => {
    const state = world();
    mapOk(state, { iova: 0, sizeBytes: 3 * K4 });
    expectOk(detachDevice(state, { deviceId: DEV }));
    expect(Object.keys(state.tables)).toHaveLength(4);
    expectOk(destroyDomain(state, { domainId: DID }));
    expect(state.tables).toEqual({});
    expect(state.flat).toEqual({});
    expect(state.domains).toEqual({});
  });
});

describe('context entries', () => {
  it('attach points the device at the domain: its DMA is translated there', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 9 });
    expect(state.contexts[DEV]).toEqual({ domainId: DID, pasids: {} });
    expect(landing(dmaAt(state, 0))).toBe(9);
  });

  it.each([-1, 0x10000, 1.5])('refuses source-id %s with EINVAL', (deviceId) => {
    expectRefused(world(), 'EINVAL', (copy) => attachDevice(copy, { deviceId, domainId: DID }));
  });

  it('refuses an unknown domain with ENOENT', () => {
    expectRefused(world(), 'ENOENT', (copy) => attachDevice(copy, { deviceId: DEV2, domainId: 9 }));
  });

  it('refuses a device that is already attached with EBUSY', () => {
    const state = world();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    expectRefused(state, 'EBUSY', (copy) => attachDevice(copy, { deviceId: DEV, domainId: 2 }));
  });

  it('without caching mode, attach issues no invalidation', () => {
    const state = world();
    mapOk(state);
    dmaAt(state, 0);
    const detail = expectOk(attachDevice(state, { deviceId: DEV2, domainId: DID }));
    expect(detail.invalidation).toBe('none');
    expect(state.iotlb).toHaveLength(1);
  });

  it('with caching mode, attach issues a DSI for the new DID', () => {
    const state = world({ cachingMode: true });
    mapOk(state);
    dmaAt(state, 0);
    expect(state.iotlb).toHaveLength(1);
    const detail = expectOk(attachDevice(state, { deviceId: DEV2, domainId: DID }));
    expect(detail.invalidation).toBe('dsi');
    expect(state.iotlb).toEqual([]);
  });

  it('detach clears the context entry and issues a DSI for the old DID', () => {
    const state = world();
    mapOk(state);
    dmaAt(state, 0);
    const detail = expectOk(detachDevice(state, { deviceId: DEV }));
    expect(detail).toMatchObject({ domainId: DID, invalidation: 'dsi' });
    expect(state.contexts).toEqual({});
    expect(state.iotlb).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe('fault:no-context');
  });

  it('refuses to detach a device that is not attached with ENODEV', () => {
    expectRefused(world(), 'ENODEV', (copy) => detachDevice(copy, { deviceId: DEV2 }));
  });
});

describe('PASID entries', () => {
  it('a request with a PASID is translated by the PASID entry’s domain and tagged with the PASID', () => {
    const state = world();
    expectOk(createDomain(state, { type: 'unmanaged' }));
    mapOk(state, { domainId: 2, iova: 0, frame: 40 });
    mapOk(state, { domainId: DID, iova: 0, frame: 30 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 7, domainId: 2 }));
    expect(landing(dmaAt(state, 0, { pasid: 7 }))).toBe(40);
    expect(landing(dmaAt(state, 0))).toBe(30);
    expect(state.iotlb.map((entry) => [entry.domainId, entry.pasid])).toEqual([
      [2, 7],
      [DID, null],
    ]);
  });

  it('an entry cached for one PASID is not used for another tag', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 30 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 7, domainId: DID }));
    dmaAt(state, 0, { pasid: 7 });
    expect(dmaAt(state, 0).via).toBe('walk');
    expect(dmaAt(state, 0, { pasid: 7 }).via).toBe('iotlb');
  });

  it.each([0, 2 ** 20, -3])('refuses PASID %s with EINVAL', (pasid) => {
    expectRefused(world(), 'EINVAL', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid, domainId: DID }));
  });

  it('refuses a PASID attach without scalable mode with ENODEV (no PASID table)', () => {
    const state = world({ scalableMode: false });
    expectRefused(state, 'ENODEV', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid: 1, domainId: DID }));
  });

  it('refuses a PASID entry that is already present with EBUSY', () => {
    const state = world();
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    expectRefused(state, 'EBUSY', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid: 3, domainId: DID }));
  });

  it('refuses a PASID attach to an unknown domain with ENOENT', () => {
    expectRefused(world(), 'ENOENT', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid: 3, domainId: 4 }));
  });

  it('with caching mode a new PASID entry flushes that (DID, PASID) tag only', () => {
    const state = world({ cachingMode: true });
    mapOk(state);
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    dmaAt(state, 0, { pasid: 3 });
    dmaAt(state, 0);
    expect(state.iotlb.map((entry) => entry.pasid)).toEqual([3, null]);
    const detail = expectOk(attachDevicePasid(state, { deviceId: DEV2, pasid: 3, domainId: DID }));
    expect(detail).toMatchObject({ invalidation: 'pasid', dropped: 1 });
    expect(state.iotlb.map((entry) => entry.pasid)).toEqual([null]);
  });

  it('without caching mode a new PASID entry flushes nothing', () => {
    const state = world();
    mapOk(state);
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    dmaAt(state, 0, { pasid: 3 });
    const detail = expectOk(attachDevicePasid(state, { deviceId: DEV2, pasid: 3, domainId: DID }));
    expect(detail).toMatchObject({ invalidation: 'none', dropped: 0 });
    expect(state.iotlb).toHaveLength(1);
  });

  it('detach removes the PASID entry (DSI for the DID); the device keeps its context entry', () => {
    const state = world();
    mapOk(state);
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    dmaAt(state, 0, { pasid: 3 });
    expect(expectOk(detachDevicePasid(state, { deviceId: DEV, pasid: 3 })).invalidation).toBe('dsi');
    expect(state.contexts[DEV]).toEqual({ domainId: DID, pasids: {} });
    expect(state.iotlb).toEqual([]);
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe('fault:no-context');
  });

  it('refuses to detach a PASID that has no entry with ENODEV', () => {
    expectRefused(world(), 'ENODEV', (copy) => detachDevicePasid(copy, { deviceId: DEV, pasid: 3 }));
  });
});
