/**
 * PASID entries on an IOMMU without coherent walks (`models/iommu/coherency.ts`, docs/reference/vtd.md
 * §3.13): the CPU's write of a PASID entry reaches the IOMMU only once written back, as v6.12's
 * `pasid_flush_caches` and `intel_pasid_tear_down_entry` do (`clflush_cache_range` when
 * `!ecap_coherent`); the entry write alone (`clearPasidEntry`) leaves memory's old entry for the
 * IOMMU's walk.
 */
import { describe, expect, it } from 'vitest';
import { iommuPasidEntry, unflushedPresentPasids } from '../../../models/iommu/coherency.js';
import {
  attachDevicePasid,
  clearPasidEntry,
  detachDevicePasid,
  pasidEntryDomainId,
  releaseDomain,
} from '../../../models/iommu/domain.js';
import { invalidatePasidCache } from '../../../models/iommu/pasid.js';
import { reachableByDevice } from '../../../models/iommu/views.js';
import { DEV, DID, K4, dmaAt, expectOk, landing, mapOk, world } from './world.js';

const noncoherent = { coherentWalks: false, pasidCacheEntries: 2 };

function attached(caps = noncoherent) {
  const state = world(caps);
  mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
  expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
  return state;
}

describe('PASID entries without coherent walks', () => {
  it('a new entry is written back at once (pasid_flush_caches): the IOMMU walks it', () => {
    const state = attached();
    expect(state.unflushedPasids).toBeUndefined();
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe(7);
  });
  it('the sound teardown writes the cleared entry back: the PASID faults once the cache is invalidated', () => {
    const state = attached();
    dmaAt(state, 0, { pasid: 3 });
    expectOk(detachDevicePasid(state, { deviceId: DEV, pasid: 3 }));
    expect(state.unflushedPasids).toBeUndefined();
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe('fault:no-context');
  });
  it('a clear not written back: software sees no entry, the IOMMU walks the old one and refills its cache', () => {
    const state = attached();
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    invalidatePasidCache(state, DID, 3);
    expect(pasidEntryDomainId(state, DEV, 3)).toBeNull();
    expect(iommuPasidEntry(state, DEV, 3)).toBe(DID);
    expect(unflushedPresentPasids(state, DEV)).toEqual([3]);
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe(7);
    expect(state.pasidCache).toEqual([{ deviceId: DEV, pasid: 3, domainId: DID }]);
    expect(reachableByDevice(state, DEV).some((extent) => extent.pasid === 3)).toBe(true);
  });
  it("a domain freed while memory names its DID: the model's orphan mark", () => {
    const state = attached();
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    expectOk(releaseDomain(state, DID));
    expect(state.unflushedPasids?.[DEV]?.[3]).toEqual({ domainId: DID, orphaned: true });
  });
  it('the entry attached again is written back: memory and the CPU agree', () => {
    const state = attached();
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 3, domainId: DID }));
    expect(state.unflushedPasids).toBeUndefined();
  });
  it('a coherent IOMMU (the default) keeps no memory view: a clear takes effect at once', () => {
    const state = attached({ coherentWalks: true, pasidCacheEntries: 2 });
    expectOk(clearPasidEntry(state, { deviceId: DEV, pasid: 3 }));
    expect(state.unflushedPasids).toBeUndefined();
    expect(landing(dmaAt(state, 0, { pasid: 3 }))).toBe('fault:no-context');
  });
});
