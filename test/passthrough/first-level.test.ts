/**
 * First-level PASID entries in the passthrough stack (docs/reference/vtd.md §3.12): on an IOMMU with
 * first-level translation only, VFIO's domain is first-level, a PASID's attach assigns its cache tag
 * and its teardown flushes it PASID-based; the flawed hooks (a DSI-only teardown, an attach without
 * the tag) are seen by the generic invariants on the shortest traces, and the sound design holds
 * there.
 */
import { describe, expect, it } from 'vitest';
import { cacheTagPasids } from '../../models/iommu/cache-tags.js';
import { stepPassthrough } from '../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import {
  iommuFirstLevelPasid,
  iommuFirstLevelNoCacheTag,
  iommuFirstLevelTeardownDsi,
} from '../../properties/passthrough/first-level-designs.js';
import { noStaleIotlbOutsideFlushQueue } from '../../properties/passthrough/invariants/iommu.js';
import { reachableFramePinned } from '../../properties/passthrough/invariants/latent.js';
import { iommuPasidTeardown } from '../../properties/passthrough/pasid-designs.js';
import {
  FIRST_LEVEL_TEARDOWN_WITH_ENTRIES,
  FIRST_LEVEL_UNMAP_WITH_PASID_ENTRIES,
} from '../../properties/passthrough/reach.js';
import { runTrace } from '../../src/execute.js';
import { attach, detach, IOVA_PAGE, map, pasidRead, run, SOURCE } from './commands.js';

const unmapAll: PassthroughCommand = { kind: 'unmapDma', argsz: 24, flags: 2, iova: '0', sizeBytes: '0' };

/** The DID of the device's VFIO domain. */
function did(state: PassthroughState): number {
  const domainId = state.iommu.contexts[SOURCE]?.domainId;
  if (typeof domainId !== 'number') throw new Error('device not attached');
  return domainId;
}

describe('a first-level VFIO domain', () => {
  const design = iommuFirstLevelPasid;
  it("is first-level on an IOMMU without SLTS, with the device's tag (IOMMU_NO_PASID)", () => {
    const state = design.init();
    expect(state.iommu.domains[did(state)]?.firstLevel).toBe(true);
    expect(cacheTagPasids(state.iommu.domains[did(state)]!)).toEqual([0]);
    expect(iommuPasidTeardown.init().iommu.domains[did(iommuPasidTeardown.init())]?.firstLevel).toBeUndefined();
  });
  it("a PASID's attach adds its tag; the DMA caches a first-level entry the unmap's PASID-based flush drops", () => {
    const state = run(design, [map, attach, pasidRead]);
    expect(cacheTagPasids(state.iommu.domains[did(state)]!)).toEqual([0, 1]);
    expect(state.iommu.iotlb).toMatchObject([{ pasid: 1, iovaPage: IOVA_PAGE, firstLevel: true }]);
    const unmapped = stepPassthrough(state, design.config, unmapAll);
    expect(unmapped.state.iommu.iotlb).toEqual([]);
  });
  it("its teardown drops the PASID's entries (qi_flush_piotlb of the PASID) and its tag", () => {
    const state = run(design, [map, attach, pasidRead, detach]);
    expect(state.iommu.iotlb).toEqual([]);
    expect(cacheTagPasids(state.iommu.domains[did(state)]!)).toEqual([0]);
  });
  it('the refused inputs are those of a second-level entry: EINVAL for PASID 0, EBUSY when attached', () => {
    const state = run(design, [attach]);
    for (const [command, error] of [
      [{ ...attach, pasid: 0 }, 'EINVAL'],
      [attach, 'EBUSY'],
    ] as const) {
      const step = stepPassthrough(state, design.config, command);
      expect(step.result.error).toBe(error);
      expect(step.state).toBe(state);
    }
  });
  it("holds on both flawed designs' traces, and labels them for --stats", () => {
    const dsiTrace = [attach, map, pasidRead, detach, unmapAll];
    const tagTrace = [attach, map, pasidRead, unmapAll];
    expect(runTrace(design, dsiTrace).violations).toEqual([]);
    expect(runTrace(design, tagTrace).violations).toEqual([]);
    const states = [design.init(), ...dsiTrace.map((_, index) => run(design, dsiTrace.slice(0, index + 1)))];
    const labels = dsiTrace.flatMap((command, index) =>
      design.classify!({
        before: states[index]!,
        command,
        result: stepPassthrough(states[index]!, design.config, command).result,
        after: states[index + 1]!,
      }),
    );
    expect(labels).toContain(FIRST_LEVEL_TEARDOWN_WITH_ENTRIES);
    expect(runTrace(design, [map, attach, pasidRead, unmapAll]).violations).toEqual([]);
    const before = run(design, [map, attach, pasidRead]);
    const step = stepPassthrough(before, design.config, unmapAll);
    expect(design.classify!({ before, command: unmapAll, result: step.result, after: step.state })).toContain(
      FIRST_LEVEL_UNMAP_WITH_PASID_ENTRIES,
    );
  });
});

describe('a teardown that issues a DSI whatever the PGTT', () => {
  const design = iommuFirstLevelTeardownDsi;
  it("leaves the PASID's first-level entries; the next unmap, with the tag gone, leaves them stale", () => {
    const state = run(design, [map, attach, pasidRead, detach]);
    expect(state.iommu.iotlb).toMatchObject([{ pasid: 1, firstLevel: true }]);
    const [violation] = runTrace(design, [attach, map, pasidRead, detach, unmapAll]).violations;
    expect(violation?.invariant).toBe(noStaleIotlbOutsideFlushQueue.name);
  });
});

describe('a PASID attach without its cache tag', () => {
  const design = iommuFirstLevelNoCacheTag;
  it("writes the entry without the tag: the unmap's flush misses the PASID, the device still reaches the frame", () => {
    const state = run(design, [map, attach, pasidRead]);
    expect(cacheTagPasids(state.iommu.domains[did(state)]!)).toEqual([0]);
    const unmapped = stepPassthrough(state, design.config, unmapAll).state;
    expect(stepPassthrough(unmapped, design.config, pasidRead).result.detail?.['outcome']).toBe('landed');
    const broken = runTrace(design, [attach, map, pasidRead, unmapAll], { stopAtFirst: false }).violations;
    expect(broken.map((found) => found.invariant)).toContain(noStaleIotlbOutsideFlushQueue.name);
    expect(broken.map((found) => found.invariant)).toContain(reachableFramePinned.name);
  });
  it('a refused attach (EBUSY) leaves the state as it was', () => {
    const state = run(design, [attach]);
    const step = stepPassthrough(state, design.config, attach);
    expect(step.result.error).toBe('EBUSY');
    expect(step.state).toBe(state);
  });
});
