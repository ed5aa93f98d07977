/**
 * Context entries on an IOMMU without coherent walks (`models/iommu/coherency.ts`,
 * docs/reference/vtd.md §3.13): the CPU's write of a context entry reaches the IOMMU only once
 * written back, as v6.12's `domain_context_mapping_one` (`clflush_cache_range(context, …)` when
 * `!ecap_coherent`, before `context_present_cache_flush`) and `domain_context_clear_one`
 * (`__iommu_flush_cache` after the clear, before the context-cache and IOTLB invalidations) do;
 * the entry write alone (`clearContext`) leaves memory's old entry for the IOMMU's walk.
 */
import { describe, expect, it } from 'vitest';
import { iommuContextEntry, unflushedPresentContext } from '../../../models/iommu/coherency.js';
import { attachDevice, clearContext, detachDevice, releaseDomain } from '../../../models/iommu/domain.js';
import { flushDomain } from '../../../models/iommu/invalidate.js';
import { reachableByDevice } from '../../../models/iommu/views.js';
import { blockSkippingWriteBack, blockTranslation } from '../../../models/passthrough/lifecycle.js';
import { reusedDidCarriesNoEarlierTranslations } from '../../../properties/passthrough/invariants/lifecycle.js';
import { iommuNoncoherent } from '../../../properties/passthrough/coherency-designs.js';
import { DEV, DID, K4, dmaAt, expectOk, landing, mapOk, world } from './world.js';

const noncoherent = { coherentWalks: false };

function attached(caps = noncoherent) {
  const state = world(caps);
  mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
  return state;
}

describe('context entries without coherent walks', () => {
  it('a new entry is written back at once (domain_context_mapping_one): the IOMMU walks it', () => {
    const state = attached();
    expect(state.unflushedContexts).toBeUndefined();
    expect(landing(dmaAt(state, 0))).toBe(7);
  });
  it('the sound detach writes the cleared entry back before its DSI: the device faults', () => {
    const state = attached();
    dmaAt(state, 0);
    expectOk(detachDevice(state, { deviceId: DEV }));
    expect(state.unflushedContexts).toBeUndefined();
    expect(landing(dmaAt(state, 0))).toBe('fault:no-context');
  });
  it('a clear not written back: software sees no entry, the IOMMU walks the old one after the DSI', () => {
    const state = attached();
    expectOk(clearContext(state, { deviceId: DEV }));
    flushDomain(state, DID);
    expect(state.contexts[DEV]).toBeUndefined();
    expect(iommuContextEntry(state, DEV)).toBe(DID);
    expect(unflushedPresentContext(state, DEV)).toBe(true);
    expect(landing(dmaAt(state, 0))).toBe(7);
    expect(reachableByDevice(state, DEV).some((extent) => extent.frame === 7 && extent.pasid === null)).toBe(true);
  });
  it("a domain freed while memory names its DID: the model's orphan mark, judged by reused-did-carries-no-earlier-translations", () => {
    const state = attached();
    expectOk(clearContext(state, { deviceId: DEV }));
    expectOk(releaseDomain(state, DID));
    expect(state.unflushedContexts?.[DEV]).toEqual({ domainId: DID, orphaned: true });
    const after = { ...iommuNoncoherent.init(), iommu: state };
    expect(reusedDidCarriesNoEarlierTranslations.check({ before: null, after } as never)?.actual).toBe(
      `context entry of a freed domain in the IOMMU's view (DID ${DID})`,
    );
  });
  it('the entry set again is written back: memory and the CPU agree', () => {
    const state = attached();
    expectOk(clearContext(state, { deviceId: DEV }));
    expectOk(attachDevice(state, { deviceId: DEV, domainId: DID }));
    expect(state.unflushedContexts).toBeUndefined();
  });
  it('the lifecycle hooks: blockTranslation writes back, blockSkippingWriteBack leaves memory naming the DID', () => {
    const sound = attached();
    blockTranslation(sound, DEV);
    expect(iommuContextEntry(sound, DEV)).toBeNull();
    const flawed = attached();
    blockSkippingWriteBack(flawed, DEV);
    expect(flawed.contexts[DEV]).toBeUndefined();
    expect(flawed.iotlb).toEqual([]);
    expect(iommuContextEntry(flawed, DEV)).toBe(DID);
    expect(landing(dmaAt(flawed, 0))).toBe(7);
  });
  it('a coherent IOMMU (the default) keeps no memory view: a clear takes effect at once', () => {
    const state = attached({ coherentWalks: true });
    expectOk(clearContext(state, { deviceId: DEV }));
    expect(state.unflushedContexts).toBeUndefined();
    expect(landing(dmaAt(state, 0))).toBe('fault:no-context');
  });
});
