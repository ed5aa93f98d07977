/**
 * The group lifecycle over VT-d (docs/reference/vtd.md §3.10): default domain at rest, blocked while
 * VFIO owns the group, DIDs given back and handed out again lowest first, mappings replayed into
 * a re-created domain, closed devices still issuing DMA; the flawed `blockTranslation` hooks leave
 * what the invariants see; and the model's refusals around it.
 */
import { describe, expect, it } from 'vitest';
import {
  attachDevice,
  clearContext,
  createDomain,
  destroyDomain,
  releaseDomain,
} from '../../../models/iommu/domain.js';
import { createIommuState } from '../../../models/iommu/state.js';
import { sourceIdOf } from '../../../models/passthrough/forward.js';
import { blockFlushingClearedDid, blockKeepingContext } from '../../../models/passthrough/lifecycle.js';
import { stepPassthrough } from '../../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import { iommuDisagreements, iommuReach } from '../../../models/passthrough/views.js';
import { mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { passthroughDesign } from '../../../properties/passthrough/design.js';
import { iommuStrict } from '../../../properties/passthrough/designs.js';
import {
  iommuContextClearFlushesClearedDid,
  iommuDetachKeepsContext,
  iommuStrictRegroup,
} from '../../../properties/passthrough/lifecycle-designs.js';
import {
  reusedDidCarriesNoEarlierTranslations,
  unownedDeviceReachesNothing,
} from '../../../properties/passthrough/invariants/lifecycle.js';
import { RAM_VADDR_PAGE } from '../../../properties/vfio/world.js';
import { runTrace } from '../../../src/execute.js';
import {
  clearContext as publicClearContext,
  passthroughDesign as publicPassthroughDesign,
  twoDomainWorld,
} from '../../../src/index.js';
import type { BlockTranslation } from '../../../src/index.js';
import { run } from '../../passthrough/commands.js';

const contextDid = (state: PassthroughState, deviceId: number) => state.iommu.contexts[sourceIdOf(deviceId)]?.domainId;
const map508: PassthroughCommand = {
  kind: 'mapDma',
  ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 508, npages: 1 }),
};
const dma = (deviceId: number): PassthroughCommand => ({ kind: 'deviceDma', deviceId, addressPage: 508, write: false });
const close = (deviceId: number): PassthroughCommand => ({ kind: 'closeDevice', deviceId });
const unset = (groupId: number): PassthroughCommand => ({ kind: 'groupUnsetContainer', groupId });
const set = (groupId: number): PassthroughCommand => ({ kind: 'groupSetContainer', groupId });
const lifecycleInvariants = [unownedDeviceReachesNothing, reusedDidCarriesNoEarlierTranslations];
const broken = (state: PassthroughState): string[] =>
  lifecycleInvariants
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);

describe('one group: out of the container and back (the passthrough world)', () => {
  it('setup: the default domain DID 1 is freed by the claim, and VFIO domain gets it again', () => {
    const state = iommuStrict.init();
    expect(state.defaults).toEqual({});
    expect(state.dids[0]).toBe(1);
    expect(contextDid(state, 0)).toBe(1);
    expect(state.iommu.domains[1]!.type).toBe('unmanaged');
  });

  it('released: the default domain takes the freed DID, maps nothing; the closed device still DMAs and faults', () => {
    const state = run(iommuStrict, [map508, dma(0), close(0), unset(0), dma(0)]);
    expect(state.vfio.container.backend).toBeNull();
    expect(state.defaults).toEqual({ 0: 1 });
    expect(state.iommu.domains[1]!.type).toBe('dma');
    expect(contextDid(state, 0)).toBe(1);
    expect(state.iommu.iotlb).toEqual([]);
    const last = stepPassthrough(state, iommuStrict.config, dma(0));
    expect(last.result.detail).toMatchObject({ outcome: 'fault' });
    expect(broken(state)).toEqual([]);
  });

  it('set again and VFIO_SET_IOMMU: claimed (blocked), then a new VFIO domain under the same DID', () => {
    const out = run(iommuStrict, [close(0), unset(0), set(0)]);
    expect(out.defaults).toEqual({});
    expect(out.iommu.contexts).toEqual({});
    expect(Object.keys(out.iommu.domains)).toEqual([]);
    const back = run(iommuStrict, [close(0), unset(0), set(0), { kind: 'setIommu', type: 3 }]);
    expect(back.dids[0]).toBe(1);
    expect(contextDid(back, 0)).toBe(1);
  });
});

describe('two IOMMU domains: one group leaves and comes back with the mappings live', () => {
  it('the group rejoins under the lowest free DID and every mapping is replayed into it', () => {
    const state = run(iommuStrictRegroup, [map508, dma(1), close(1), unset(1)]);
    // Group 1 was attached first (newest group first): DID 1; its default domain takes DID 1 again.
    expect(state.defaults).toEqual({ 1: 1 });
    expect(iommuReach(state).filter((found) => found.deviceId === 1)).toEqual([]);
    const back = run(iommuStrictRegroup, [map508, dma(1), close(1), unset(1), set(1)]);
    expect(back.dids[1]).toBe(1);
    expect(contextDid(back, 1)).toBe(1);
    expect(iommuDisagreements(back)).toEqual([]);
    expect(
      iommuReach(back)
        .filter((found) => found.deviceId === 1)
        .map((found) => found.iovaPage),
    ).toEqual([508]);
    expect(broken(back)).toEqual([]);
  });

  it('a detach that flushes the cleared DID leaves the old entries under the reused DID', () => {
    const state = run(iommuContextClearFlushesClearedDid, [map508, dma(1), close(1), unset(1)]);
    expect(state.iommu.iotlb.map((entry) => [entry.domainId, entry.iovaPage, entry.orphaned])).toEqual([
      [1, 508, true],
    ]);
    expect(broken(state)).toEqual(['unowned-device-reaches-nothing', 'reused-did-carries-no-earlier-translations']);
  });

  it('a detach that keeps the context entry leaves the device pointing at the freed DID', () => {
    const state = run(iommuDetachKeepsContext, [close(1), unset(1)]);
    expect(state.iommu.contexts[sourceIdOf(1)]).toEqual({ domainId: 1, pasids: {}, orphaned: true });
    expect(broken(state)).toEqual(['reused-did-carries-no-earlier-translations']);
  });

  it('the hooks on their own: clear without the old DID flushed, or nothing at all', () => {
    const iommu = createIommuState();
    createDomain(iommu, { type: 'unmanaged' });
    attachDevice(iommu, { deviceId: 8, domainId: 1 });
    iommu.iotlb.push({ kind: 'not-present', domainId: 1, pasid: null, iovaPage: 3 });
    blockKeepingContext(iommu, 8);
    expect(iommu.contexts[8]).toEqual({ domainId: 1, pasids: {} });
    blockFlushingClearedDid(iommu, 8);
    expect(iommu.contexts).toEqual({});
    expect(iommu.iotlb).toHaveLength(1);
  });
});

describe("a user's own detach hook, through the public entry point", () => {
  it('a hook that clears the context entry but flushes nothing is caught by the generic invariants', () => {
    const clearsOnly: BlockTranslation = (iommu, sourceId) => {
      publicClearContext(iommu, { deviceId: sourceId });
    };
    const mine = publicPassthroughDesign({
      id: 'mine/clears-only',
      mode: 'strict',
      world: twoDomainWorld,
      lifecycle: { blockTranslation: clearsOnly },
      expected: 'violates',
      breaks: ['reused-did-carries-no-earlier-translations'],
      description: 'the context entry cleared, no invalidation',
    });
    const traced = runTrace(mine, [map508, dma(1), close(1), unset(1)], { stopAtFirst: false });
    expect(traced.violations.map((found) => found.invariant)).toEqual(
      expect.arrayContaining(['unowned-device-reaches-nothing', 'reused-did-carries-no-earlier-translations']),
    );
    // The built-in v6.12 hook holds on the same trace.
    const sound = runTrace(iommuStrictRegroup, [map508, dma(1), close(1), unset(1)], { stopAtFirst: false });
    expect(sound.violations).toEqual([]);
  });
});

describe('an injected iommu_map failure over VT-d', () => {
  const map3: PassthroughCommand = {
    kind: 'mapDma',
    ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 508, npages: 3 }),
  };
  const inject: PassthroughCommand = { kind: 'injectFault', point: 'map', nth: 2 };

  it('unwound completely: the stack hands back its input, VT-d untouched', () => {
    const armed = run(iommuStrict, [inject]);
    const step = stepPassthrough(armed, iommuStrict.config, map3);
    expect(step.result.ok).toBe(false);
    expect(step.result.detail).toMatchObject({ unwound: true });
    expect(step.state).toBe(armed);
  });

  it("unwound incompletely (pins leaked): the maps and the unwind's unmaps reach VT-d in order", () => {
    const leaky = passthroughDesign({
      id: 'test/map-failure-leaks-pins',
      mode: 'strict',
      vfioBugs: ['map-failure-leaks-pins'],
      expected: 'violates',
      breaks: ['frame-refcount-matches-holders'],
      description: 'the VFIO mutant over VT-d',
    });
    const armed = run(leaky, [inject]);
    const step = stepPassthrough(armed, leaky.config, map3);
    expect(step.result.ok).toBe(false);
    expect(step.result.effects.map((effect) => effect.kind)).toEqual(['map', 'unmap', 'iotlb-sync']);
    expect(step.state).not.toBe(armed);
    expect(step.state.iommu).not.toBe(armed.iommu);
    expect(iommuDisagreements(step.state)).toEqual([]);
    expect(step.state.iommu.flat[step.state.dids[0]!]).toEqual([]);
  });
});

describe('refusals around the lifecycle (state unchanged)', () => {
  const attached = () => {
    const state = createIommuState();
    createDomain(state, { type: 'unmanaged' });
    attachDevice(state, { deviceId: 8, domainId: 1 });
    return state;
  };

  it('freeing a domain with a device attached: EBUSY', () => {
    const state = attached();
    const before = structuredClone(state);
    expect(destroyDomain(state, { domainId: 1 }).error).toBe('EBUSY');
    expect(state).toEqual(before);
  });

  it('attaching a device that is attached: EBUSY', () => {
    const state = attached();
    createDomain(state, { type: 'unmanaged' });
    const before = structuredClone(state);
    expect(attachDevice(state, { deviceId: 8, domainId: 2 }).error).toBe('EBUSY');
    expect(state).toEqual(before);
  });

  it('releasing an unknown domain: ENOENT; clearing an absent context entry: ENODEV; a bad source-id: EINVAL', () => {
    const state = attached();
    const before = structuredClone(state);
    expect(releaseDomain(state, 7).error).toBe('ENOENT');
    expect(clearContext(state, { deviceId: 9 }).error).toBe('ENODEV');
    expect(clearContext(state, { deviceId: -1 }).error).toBe('EINVAL');
    expect(state).toEqual(before);
  });
});
