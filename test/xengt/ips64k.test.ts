/**
 * 64K (IPS) PPGTT entries through the XenGT stack (issue 21; docs/reference/xen.md §2.9c): the
 * split is the mediator's whatever the hypervisor (`split_64KB_gtt_entry`, the same in XenGT's
 * v4.17–v5.x `gtt.c` as in v6.12's), so a 64K table's used entry is shadowed as 4K entries, each
 * page mapped 4K through XenGT's backend (a pool mapping of its own under `map`), and the guest
 * clearing it gives each back.
 */
import { describe, expect, test } from 'vitest';
import { ips64kStride } from '../../models/gvt/ips64k.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { RESPLIT_64K, SPLIT_64K } from '../../properties/gvt/reach.js';
import { xenGtDesign } from '../../properties/xengt/design.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { classifyXenGtStep } from '../../properties/xengt/reach.js';
import { poolMappings, runSteps } from './run-steps.js';

/** Root page directory at gfn 0, its entry 0 naming page table gfn 1, leaves at gfns 2 and 3. */
const ROOT = 0;
const TABLE = 1;
const POOL = xenMap.config.mappingPoolBaseGfn;
const GUEST = xenMap.config.guestDomid;

function pte(
  gfn: number,
  index: number,
  targetGfn: number,
  extra: { ips?: true; present?: boolean } = {},
): XenGtCommand {
  return { kind: 'guestWritePte', gfn, index, present: extra.present ?? true, targetGfn, sizeBytes: 8, ...extra };
}

/** The guest writes table entry 0 = `leafGfn`, a PDE with IPS naming the table, and announces the PPGTT. */
function shadow64k(leafGfn: number): XenGtCommand[] {
  return [pte(TABLE, 0, leafGfn), pte(ROOT, 0, TABLE, { ips: true }), { kind: 'ppgttCreate', rootGfn: ROOT }];
}

/** The labels of the last of `commands`, and the invariants its transition breaks. */
function lastStep(
  commands: readonly XenGtCommand[],
  design: XenGtDesign = xenMap,
): { labels: string[]; broken: string[] } {
  const before = runSteps(commands.slice(0, -1), design).state;
  const command = commands.at(-1) as XenGtCommand;
  const { state: after, result } = design.step(before, command);
  const transition = { before, command, result, after };
  return {
    labels: classifyXenGtStep(design.config, transition),
    broken: design.invariants.filter((invariant) => invariant.check(transition) !== null).map((inv) => inv.name),
  };
}

describe('64K entries on XenGT: the mediator splits them into 4K maps through the backend', () => {
  test("a 64K table's used entry (frame masked to 64K) is two 4K maps, each a pool mapping of its own", () => {
    expect(ips64kStride(xenMap.config.gvt.layout)).toBe(2);
    // Entry naming gfn 3: the 64K page is gfns 2-3 (ADDR_64K_MASK).
    const { state, results } = runSteps(shadow64k(3));
    expect(results).toEqual(['ok', 'ok', 'ok']);
    const spt = state.vgpu?.spts[TABLE];
    expect(spt?.ips).toBe(true);
    expect(state.vgpu?.cache[2]).toMatchObject({ kref: 1, dmaAddr: POOL });
    expect(state.vgpu?.cache[3]).toMatchObject({ kref: 1, dmaAddr: POOL + 1 });
    expect(spt?.entries.slice(0, 3)).toEqual([
      { kind: 'dma', dmaAddr: POOL },
      { kind: 'dma', dmaAddr: POOL + 1 },
      { kind: 'scratch' },
    ]);
    expect(poolMappings(state)).toEqual([POOL, POOL + 1]);
    expect(lastStep(shadow64k(3))).toEqual({ labels: [SPLIT_64K], broken: [] });
  });

  test('the guest clearing the split entry gives back both maps', () => {
    const commands = [...shadow64k(3), pte(TABLE, 0, 3, { present: false })];
    const { state, results } = runSteps(commands);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, 2)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(state.vgpu?.cache).toEqual({});
    expect(poolMappings(state)).toEqual([]);
    expect(lastStep(commands)).toEqual({ labels: [RESPLIT_64K], broken: [] });
  });

  test("v6.12's removal of the used slot only (`release64K: () => 1`) on XenGT: the other map keeps its reference", () => {
    const usedSlotOnly = xenGtDesign({
      id: 'mine/xengt-64k-used-slot-only',
      backend: 'map',
      expected: 'violates',
      description: "v6.12's removal of a split 64K entry over XenGT's map backend",
      gvtHooks: { release64K: () => 1 },
    });
    const commands = [...shadow64k(3), pte(TABLE, 0, 3, { present: false })];
    const { state } = runSteps(commands, usedSlotOnly);
    expect(state.vgpu?.cache).toEqual({ 3: expect.objectContaining({ kref: 1 }) });
    expect(poolMappings(state)).toEqual([POOL + 1]);
    expect(lastStep(commands, usedSlotOnly).broken).toContain('cache-kref-matches-shadow-users');
  });

  test("a split failing part-way (a page past the first ballooned out): the default gives back its map; v6.12's `failedSplit64KReleases: () => 0` over the map backend leaks the old split's", () => {
    const keepsSlots = xenGtDesign({
      id: 'mine/xengt-64k-split-error-keeps-slots',
      backend: 'map',
      expected: 'violates',
      description: "v6.12's split_64KB_gtt_entry failing part-way over XenGT's map backend",
      gvtHooks: { failedSplit64KReleases: () => 0 },
    });
    // Split over gfns 0-1, then gfn 3 ballooned out and the entry rewritten to gfns 2-3: gfn 2 is
    // mapped into slot 0, gfn 3's map fails.
    const commands = [
      ...shadow64k(0),
      { kind: 'decreaseReservation', domid: GUEST, gfn: 3 } as XenGtCommand,
      pte(TABLE, 0, 2),
    ];
    const sound = runSteps(commands).state;
    expect(sound.vgpu?.spts[TABLE]?.entries.slice(0, 2)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(sound.vgpu?.cache).toEqual({});
    expect(lastStep(commands).broken).toEqual([]);
    const leaking = runSteps(commands, keepsSlots).state;
    expect(Object.keys(leaking.vgpu?.cache ?? {})).toEqual(['0', '2']);
    expect(lastStep(commands, keepsSlots).broken).toContain('cache-kref-matches-shadow-users');
  });
});
