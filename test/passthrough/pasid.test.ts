/**
 * PASIDs of the passthrough stack over VT-d (docs/reference/vtd.md §3.11): each refused input with
 * the reference's error, a DMA with a PASID through its entry, the PASID cache and PASID-tagged
 * IOTLB entries, the sound teardown (`intel_pasid_tear_down_entry`) and the flawed one that skips
 * the PASID-cache invalidation, seen by the generic invariant.
 */
import { describe, expect, it } from 'vitest';
import { stepPassthrough } from '../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import { iommuReach } from '../../models/passthrough/views.js';
import { passthroughCounters } from '../../properties/passthrough/invariants/bounds.js';
import { reusedDidCarriesNoEarlierTranslations } from '../../properties/passthrough/invariants/lifecycle.js';
import type { PassthroughDesign } from '../../properties/passthrough/design.js';
import { iommuPasidTeardown, iommuPasidTeardownSkipsPasidCache } from '../../properties/passthrough/pasid-designs.js';
import { runTrace } from '../../src/execute.js';
import { attach, detach, DEVICE, IOVA_PAGE, map, pasidRead, run, SOURCE } from './commands.js';

/** The command is refused with `error`, and the state handed back is the one given. */
function expectRefused(design: PassthroughDesign, state: PassthroughState, command: PassthroughCommand, error: string) {
  const step = stepPassthrough(state, design.config, command);
  expect(step.result.error).toBe(error);
  expect(step.state).toBe(state);
}

describe('PASID attach and detach: the refused inputs', () => {
  const design = iommuPasidTeardown;
  it('PASID 0 is IOMMU_NO_PASID, the requests without PASID: EINVAL (iommu_attach_device_pasid)', () => {
    expectRefused(design, design.init(), { kind: 'attachPasid', deviceId: DEVICE, pasid: 0 }, 'EINVAL');
  });
  it('a PASID beyond the 20-bit PASID width: EINVAL (pasid >= max_pasids)', () => {
    expectRefused(design, design.init(), { kind: 'attachPasid', deviceId: DEVICE, pasid: 2 ** 20 }, 'EINVAL');
    expect(stepPassthrough(design.init(), design.config, { ...attach, pasid: 2 ** 20 - 1 }).result.ok).toBe(true);
  });
  it('a PASID already attached: EBUSY (xa_insert into pasid_array; the present PASID entry)', () => {
    expectRefused(design, run(design, [attach]), attach, 'EBUSY');
  });
  it('a closed device has no fd to attach with: ENODEV', () => {
    expectRefused(design, run(design, [{ kind: 'closeDevice', deviceId: DEVICE }]), attach, 'ENODEV');
  });
  it('a PASID not attached: ENODEV (no PASID entry)', () => {
    expectRefused(design, design.init(), detach, 'ENODEV');
  });
  it('a DMA with PASID 0 or beyond the width is malformed: EINVAL', () => {
    expectRefused(design, design.init(), { ...pasidRead, pasid: 0 }, 'EINVAL');
    expectRefused(design, design.init(), { ...pasidRead, pasid: 2 ** 20 }, 'EINVAL');
  });
});

describe('DMA with a PASID', () => {
  const design = iommuPasidTeardown;
  it("without a PASID entry faults; with one, lands through the PASID entry's domain and caches both entries", () => {
    const unattached = stepPassthrough(run(design, [map]), design.config, pasidRead);
    expect(unattached.result.detail?.['outcome']).toBe('fault');
    const state = run(design, [map, attach]);
    const step = stepPassthrough(state, design.config, pasidRead);
    expect(step.result.detail?.['outcome']).toBe('landed');
    const did = state.iommu.contexts[SOURCE]?.pasids[1];
    expect(did).toBe(state.iommu.contexts[SOURCE]?.domainId);
    expect(step.state.iommu.pasidCache).toEqual([{ deviceId: SOURCE, pasid: 1, domainId: did }]);
    expect(step.state.iommu.iotlb.some((entry) => entry.pasid === 1 && entry.domainId === did)).toBe(true);
  });
  it('the sound teardown invalidates the PASID cache and the IOTLB: the PASID faults again', () => {
    const state = run(design, [map, attach, pasidRead, detach]);
    expect(state.iommu.pasidCache).toEqual([]);
    expect(state.iommu.iotlb.filter((entry) => entry.pasid === 1)).toEqual([]);
    expect(stepPassthrough(state, design.config, pasidRead).result.detail?.['outcome']).toBe('fault');
  });
  it('counts the PASID cache within its capacity (counters-in-range)', () => {
    const state = run(design, [map, attach, pasidRead]);
    expect(passthroughCounters(state).find((counter) => counter.name === 'PASID-cache entries')).toMatchObject({
      value: 1,
      min: 0,
      max: 4,
    });
  });
  it('closing the device tears its PASIDs down (its unbind detaches them)', () => {
    const state = run(design, [map, attach, pasidRead, { kind: 'closeDevice', deviceId: DEVICE }]);
    expect(state.iommu.contexts[SOURCE]?.pasids).toEqual({});
    expect(state.iommu.pasidCache).toEqual([]);
  });
});

describe('a teardown that skips the PASID-cache invalidation', () => {
  const design = iommuPasidTeardownSkipsPasidCache;
  it('leaves the cached entry: the device still translates with the detached PASID', () => {
    const state = run(design, [map, attach, pasidRead, detach]);
    expect(state.iommu.contexts[SOURCE]?.pasids).toEqual({});
    expect(stepPassthrough(state, design.config, pasidRead).result.detail?.['outcome']).toBe('landed');
    expect(iommuReach(state).some((found) => found.deviceId === DEVICE && found.iovaPage === IOVA_PAGE)).toBe(true);
  });
  it('the generic invariant sees the cached entry outlive its domain once the group leaves', () => {
    const steps: PassthroughCommand[] = [
      attach,
      pasidRead,
      { kind: 'closeDevice', deviceId: DEVICE },
      { kind: 'groupUnsetContainer', groupId: 0 },
    ];
    const [violation] = runTrace(design, steps).violations;
    expect(violation?.invariant).toBe(reusedDidCarriesNoEarlierTranslations.name);
    expect(runTrace(iommuPasidTeardown, steps).violations).toEqual([]);
  });
});
