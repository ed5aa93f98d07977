/**
 * The PASID cache of the VT-d model (`models/iommu/pasid.ts`, docs/reference/vtd.md §3.11): filled
 * by a DMA with a PASID, consulted before the PASID table, FIFO within its capacity, dropped by the
 * PASID-selective invalidation of (DID, PASID) that `intel_pasid_tear_down_entry` issues; absent
 * unless `caps.pasidCacheEntries` is set (the model before it).
 */
import { describe, expect, it } from 'vitest';
import {
  attachDevicePasid,
  clearPasidEntry,
  createDomain,
  detachDevicePasid,
  releaseDomain,
} from '../../../models/iommu/domain.js';
import { invalidatePasidCache } from '../../../models/iommu/pasid.js';
import { cloneIommuState, createIommuState, restoreIommuState } from '../../../models/iommu/state.js';
import { reachableByDevice } from '../../../models/iommu/views.js';
import { DEV, DEV2, DID, K4, dmaAt, expectOk, expectRefused, landing, mapOk, world } from './world.js';

const caps = { pasidCacheEntries: 2 };

function withPasid(pasid = 3) {
  const state = world(caps);
  mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
  expectOk(attachDevicePasid(state, { deviceId: DEV, pasid, domainId: DID }));
  return state;
}

describe('the PASID cache', () => {
  it('is not modelled by default: a cleared PASID entry takes effect at once', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe(7);
    expect(state.pasidCache).toBeUndefined();
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe('fault:no-context');
  });

  it('is filled by a DMA with a PASID, and a cleared entry keeps translating until invalidated', () => {
    const state = withPasid();
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe(7);
    expect(state.pasidCache).toEqual([{ deviceId: DEV, pasid: 3, domainId: DID }]);
    expect(expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 })).domainId).toBe(DID);
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe(7);
    expect(reachableByDevice(state, DEV).some((extent) => extent.pasid === 3)).toBe(true);
    expect(invalidatePasidCache(state, DID, 3)).toBe(1);
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe('fault:no-context');
  });

  it('drops by (DID, PASID), of every source-id, and nothing of another PASID or DID', () => {
    const state = withPasid();
    expectOk(attachDevicePasid(state, { deviceId: DEV2, pasid: 3, domainId: DID }));
    dmaAt(state, 0, { pasid: 3 });
    dmaAt(state, 0, { pasid: 3, deviceId: DEV2 });
    expect(invalidatePasidCache(state, DID, 4)).toBe(0);
    expect(invalidatePasidCache(state, DID + 1, 3)).toBe(0);
    expect(invalidatePasidCache(state, DID, 3)).toBe(2);
    expect(state.pasidCache).toEqual([]);
  });

  it('evicts the oldest entry beyond its capacity', () => {
    const state = withPasid(3);
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 4, domainId: DID }));
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 5, domainId: DID }));
    for (const pasid of [3, 4, 5]) dmaAt(state, 0, { pasid });
    expect(state.pasidCache?.map((entry) => entry.pasid)).toEqual([4, 5]);
  });

  it('detachDevicePasid (intel_pasid_tear_down_entry) invalidates it, then issues a DSI', () => {
    const state = withPasid();
    dmaAt(state, 0, { pasid: 3 });
    const detail = expectOk(detachDevicePasid(state, { deviceId: DEV, pasid: 3 }));
    expect(detail).toMatchObject({ domainId: DID, pasidCacheDropped: 1, invalidation: 'dsi' });
    expect(state.iotlb.filter((entry) => entry.pasid === 3)).toEqual([]);
  });

  it('marks the entries of a freed domain orphaned (the DID may go to another domain)', () => {
    const state = withPasid();
    dmaAt(state, 0, { pasid: 3 });
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    expectOk(releaseDomain(state, DID));
    expect(state.pasidCache).toEqual([{ deviceId: DEV, pasid: 3, domainId: DID, orphaned: true }]);
  });

  it('clearPasidEntry refuses a bad PASID (EINVAL) and an entry not present (ENODEV), state unchanged', () => {
    expectRefused(withPasid(), 'EINVAL', (copy) => clearPasidEntry(copy, { deviceId: DEV, pasid: 0 }));
    expectRefused(withPasid(), 'ENODEV', (copy) => clearPasidEntry(copy, { deviceId: DEV, pasid: 4 }));
  });

  it('is copied by cloneIommuState and put back by restoreIommuState', () => {
    const state = withPasid();
    dmaAt(state, 0, { pasid: 3 });
    const snapshot = cloneIommuState(state);
    invalidatePasidCache(state, DID, 3);
    expect(snapshot.pasidCache).toHaveLength(1);
    restoreIommuState(state, snapshot);
    expect(state.pasidCache).toHaveLength(1);
    const plain = createIommuState();
    expectOk(createDomain(plain, { type: 'unmanaged' }));
    expect(cloneIommuState(plain)).not.toHaveProperty('pasidCache');
  });
});
