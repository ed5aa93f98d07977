/**
 * vIOMMU worlds as data: today's world is the default, a described one is set up as given (frames,
 * guest RAM, the other VM, RLIMIT_MEMLOCK, dma_entry_limit, GIOVA pages, the IOTLB), and the
 * generators draw from it: in a described world a short run (150 sequences, a fixed seed) already
 * executes every command kind, and the sound designs hold there, alone and side by side.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, viommuDesign, viommuDifferentialDesign, viommuShadow } from '../../src/index.js';
import type { ViommuWorldDescription } from '../../src/index.js';

const world: ViommuWorldDescription = {
  frames: 14,
  ramPages: 10,
  otherVmFrames: 2,
  memlockLimitPages: 12,
  dmaEntryLimit: 12,
  giovaPages: 6,
  iotlbEntries: 3,
};

describe('vIOMMU worlds', () => {
  test("today's world is the default: 16 frames, 8 RAM pages, GIOVA pages 0-3, an 8-entry IOTLB, limits of 16", () => {
    expect(viommuShadow.world).toEqual({
      frames: 16,
      ramPages: 8,
      otherVmFrames: 1,
      memlockLimitPages: 16,
      dmaEntryLimit: 16,
      giovaPages: 4,
      iotlbEntries: 8,
    });
  });

  test('a described world: nested maps all its RAM at start; every kind executes and the designs hold', () => {
    const nested = viommuDesign({ id: 'test/nested', mode: 'nested', world, expected: 'holds', description: 'x' });
    const state = nested.init();
    expect(state.host.vfio.memory.frames).toHaveLength(14);
    expect(state.guestRam.pages).toBe(10);
    expect(state.host.vfio.process.memlockLimitPages).toBe(12);
    expect(state.host.iommu.caps.iotlbEntries).toBe(3);
    const pair = viommuDifferentialDesign({ id: 'test/pair', world, expected: 'holds', description: 'x' });
    const checks = [checkDesign(nested, { seed: 2, runs: 150 }), checkDesign(pair, { seed: 2, runs: 150 })];
    for (const check of checks) {
      expect(check.unexecuted, check.design).toEqual([]);
      expect(check.verdict, check.design).toBe('holds');
    }
  });
});
