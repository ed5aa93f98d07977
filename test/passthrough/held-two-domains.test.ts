/**
 * lazy-held with two VFIO domains: a frame unmapped from both is covered by a flush-queue entry in
 * each, and each must hold it. Found by the package flow's example (`examples/designs/passthrough.ts`,
 * seed 1 at 1,000 runs): an UNMAP_DMA run amid a DMA in flight held the frame for the first domain's
 * entry only, the other group's departure freed that domain (its entry released without a flush),
 * and the second domain's stale IOTLB entry reached a frame nothing held.
 */
import { describe, expect, test } from 'vitest';
import { passthroughDesign } from '../../properties/passthrough/design.js';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import { runTrace } from '../../src/execute.js';

const design = passthroughDesign({
  id: 'test/two-domains-held',
  mode: 'lazy-held',
  world: {
    groups: [
      { kind: 'iommu', pci: 1 },
      { kind: 'iommu', pci: 1, domainClass: 1 },
      { kind: 'emulated', mdev: 1, ccw: 0 },
    ],
    frames: 24,
    ramPages: 8,
    memlockLimitPages: 8,
    dmaEntryLimit: 4,
  },
  expected: 'holds',
  description: 'two IOMMU domains and an mdev; each unmapped frame held until its flush',
});

const steps = [
  { kind: 'closeDevice', deviceId: 1 },
  { kind: 'mapDma', argsz: 32, flags: 1, vaddr: '65536', iova: '2080768', sizeBytes: '4096' },
  { kind: 'deviceDma', deviceId: 0, addressPage: 508, write: false, phased: true },
  { kind: 'unmapDma', argsz: 24, flags: 2, iova: '0', sizeBytes: '0' },
  { kind: 'groupUnsetContainer', groupId: 1 },
] as unknown as PassthroughCommand[];

describe('lazy-held over two domains', () => {
  test('an UNMAP_DMA amid a DMA in flight holds the frame for each domain, so a freed domain releases only its own hold', () => {
    expect(runTrace(design, steps).violations).toEqual([]);
    let state = design.init();
    for (const command of steps.slice(0, 4)) state = design.step(state, command).state;
    // The frame is held once for each domain's queued entry, then once the freed domain's went.
    expect(state.held.map((hold) => hold.mfn)).toEqual([0, 0]);
    state = design.step(state, steps[4]!).state;
    expect(state.held.map((hold) => hold.mfn)).toEqual([0]);
  });
});
