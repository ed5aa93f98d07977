/**
 * VFIO over a VT-d IOMMU without coherent walks (docs/reference/vtd.md §3.13): the sound design
 * writes back every PTE it changes; the unmap path that skips it is caught by the generic
 * invariants, in two steps (map, unmap: memory still holds the leaf to the unpinned frame).
 */
import { describe, expect, it } from 'vitest';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import { unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import {
  iommuNoncoherent,
  iommuNoncoherentPasidTeardownSkipsWriteBack,
  iommuNoncoherentUnmapSkipsWriteBack,
} from '../../properties/passthrough/coherency-designs.js';
import { iommuStrict } from '../../properties/passthrough/designs.js';
import { passthroughDesign } from '../../properties/passthrough/design.js';
import { blockSkippingWriteBack } from '../../models/passthrough/lifecycle.js';
import { RAM_VADDR_PAGE } from '../../properties/vfio/world.js';
import { runTrace } from '../../src/execute.js';

const steps: PassthroughCommand[] = [
  { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 508, npages: 1 }) },
  { kind: 'deviceDma', deviceId: 0, addressPage: 508, write: false },
  { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage: 508, npages: 1 }) },
  { kind: 'deviceDma', deviceId: 0, addressPage: 508, write: false },
];

describe('VFIO over an IOMMU without coherent walks', () => {
  it('the coherent default and the sound non-coherent design hold on map, DMA, unmap, DMA', () => {
    expect(iommuStrict.init().iommu.caps.coherentWalks).toBeUndefined();
    expect(runTrace(iommuStrict, steps).violations).toEqual([]);
    expect(iommuNoncoherent.init().iommu.caps.coherentWalks).toBe(false);
    expect(runTrace(iommuNoncoherent, steps).violations).toEqual([]);
  });

  it('an unmap without write-back leaves the unpinned frame reachable through memory', () => {
    const names = runTrace(iommuNoncoherentUnmapSkipsWriteBack, steps.slice(0, 3)).violations.map(
      (violation) => violation.invariant,
    );
    expect(names).toContain('reachable-frame-pinned');
  });
});

describe('PASID entries on an IOMMU without coherent walks', () => {
  const pasidSteps: PassthroughCommand[] = [
    { kind: 'attachPasid', deviceId: 0, pasid: 1 },
    { kind: 'closeDevice', deviceId: 0 },
    { kind: 'groupUnsetContainer', groupId: 0 },
  ];
  it('the sound teardown writes the cleared entry back: attach, close, the group out holds', () => {
    expect(runTrace(iommuNoncoherent, pasidSteps).violations).toEqual([]);
  });
  it('a teardown without the write-back leaves memory naming the freed DID (3 steps)', () => {
    const [violation] = runTrace(iommuNoncoherentPasidTeardownSkipsWriteBack, pasidSteps).violations;
    expect(violation?.invariant).toBe('reused-did-carries-no-earlier-translations');
    expect(violation?.afterStep).toBe(3);
  });
});

describe('context entries on an IOMMU without coherent walks', () => {
  const leave: PassthroughCommand[] = [
    { kind: 'closeDevice', deviceId: 0 },
    { kind: 'groupUnsetContainer', groupId: 0 },
  ];
  it('the sound detach writes the cleared entry back: the group leaving holds, memory agrees', () => {
    const trace = runTrace(iommuNoncoherent, leave);
    expect(trace.violations).toEqual([]);
  });
  // Why no built-in design uses blockSkippingWriteBack: VFIO_GROUP_UNSET_CONTAINER releases the
  // group's DMA ownership in the same ioctl, and the default domain's attach
  // (domain_context_mapping_one) rewrites the entry and writes it back; only a request issued inside
  // the ioctl could walk the old entry, and the model's steps are atomic.
  it("a detach that skips the write-back is overwritten by the default domain's attach in the same step", () => {
    const design = passthroughDesign({
      id: 'mine/context-skips-writeback',
      mode: 'strict',
      coherentWalks: false,
      lifecycle: { blockTranslation: blockSkippingWriteBack },
      expected: 'holds',
      description: 'the detach clears the context entry without writing it back',
    });
    expect(runTrace(design, leave).violations).toEqual([]);
  });
});
