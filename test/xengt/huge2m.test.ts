/**
 * 2M PPGTT entries through the XenGT stack (issue 21; docs/reference/xen.md §2.9b): XenGT's host
 * refuses a 2M DMA map (its trees never map one: `is_2MB_gtt_possible` splits every 2M entry), so
 * `split_2MB_gtt_entry` maps the 2M page's pages 4K, each through the backend; a page that cannot be
 * mapped fails the split with the map's errno, and the pages before it give back what they took
 * (v6.12's `err:`) — or keep it, as every XenGT tree's `ppgtt_invalidate_spt(spt)` did
 * (`xengt/2m-split-error-leaks`), caught by the generic invariants.
 */
import { describe, expect, test } from 'vitest';
import { soundGvtHooks } from '../../models/gvt/config.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { XENGT_2M_ERRNO, xenGtHost } from '../../models/xengt/host.js';
import { SPLIT_2M, SPLIT_2M_FAILED } from '../../properties/gvt/reach.js';
import { xenGtDesign } from '../../properties/xengt/design.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGt2mSplitErrorLeaks } from '../../properties/xengt/huge2m-designs.js';
import { classifyXenGtStep } from '../../properties/xengt/reach.js';
import { pde2m } from '../models/gvt/pde2m.js';
import { poolMappings, runSteps } from './run-steps.js';

const ROOT = 0;
const GUEST = xenMap.config.guestDomid;
const POOL = xenMap.config.mappingPoolBaseGfn;

const create: XenGtCommand = { kind: 'ppgttCreate', rootGfn: ROOT };
const balloonOut = (gfn: number): XenGtCommand => ({ kind: 'decreaseReservation', domid: GUEST, gfn });

/** The invariants the last of `commands` breaks, checked on its whole transition. */
function brokenByLast(design: XenGtDesign, commands: readonly XenGtCommand[]): string[] {
  const before = runSteps(commands.slice(0, -1), design).state;
  const command = commands.at(-1) as XenGtCommand;
  const { state: after, result } = design.step(before, command);
  return design.invariants
    .filter((invariant) => invariant.check({ before, command, result, after }) !== null)
    .map((invariant) => invariant.name);
}

function labelsOfLast(commands: readonly XenGtCommand[]): string[] {
  const before = runSteps(commands.slice(0, -1)).state;
  const command = commands.at(-1) as XenGtCommand;
  const { state: after, result } = xenMap.step(before, command);
  return classifyXenGtStep(xenMap.config, { before, command, result, after });
}

describe('2M entries on XenGT: the host refuses the 2M map, the mediator splits', () => {
  test('a 2M DMA map is refused (EINVAL) and the backend asked for nothing', () => {
    const state = xenMap.init();
    const xen = state.xen;
    expect(xenGtHost(xenMap.config).dmaMap(state, 0, 4)).toEqual({ ok: false, errno: XENGT_2M_ERRNO });
    expect(XENGT_2M_ERRNO).toBe('EINVAL');
    expect(state.xen).toBe(xen);
  });

  test("a 2M entry over the guest's RAM is split: four 4K maps, each a pool mapping of its own", () => {
    const { state, results } = runSteps([pde2m(2), create]);
    expect(results).toEqual(['ok', 'ok']);
    const pde = state.vgpu?.spts[ROOT]?.entries[0];
    expect(pde?.kind).toBe('split2m');
    for (const gfn of [0, 1, 2, 3]) expect(state.vgpu?.cache[gfn]).toMatchObject({ kref: 1 });
    expect(poolMappings(state)).toEqual([POOL, POOL + 1, POOL + 2, POOL + 3]);
    expect(labelsOfLast([pde2m(2), create])).toContain(SPLIT_2M);
    expect(brokenByLast(xenMap, [pde2m(2), create])).toEqual([]);
  });

  test("a page ballooned out fails the split part-way: the map's errno, and what the pages before it took given back", () => {
    const before = runSteps([pde2m(2), balloonOut(2)]).state;
    const { state, results } = runSteps([pde2m(2), balloonOut(2), create]);
    // The backend's gmfn_foreign map of gfn 2 (no longer the guest's RAM) is refused, and the
    // split returns that errno (v6.12 `return ret`), as does the PPGTT's creation.
    expect(results).toEqual(['ok', 'ok', 'EINVAL']);
    expect(state.vgpu?.spts).toEqual({});
    expect(state.vgpu?.cache).toEqual({});
    expect(poolMappings(state)).toEqual([]);
    expect(state.xen.memory).toEqual(before.xen.memory);
    expect(state.writeProtected).toEqual(before.writeProtected);
    expect(brokenByLast(xenMap, [pde2m(2), balloonOut(2), create])).toEqual([]);
  });

  test('a trapped store of the 2M entry fails the same way: its slot stays scratch, nothing held', () => {
    const commands = [create, balloonOut(2), pde2m(2)];
    const { state, results } = runSteps(commands);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.vgpu?.spts[ROOT]?.entries[0]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.cache).toEqual({});
    expect(poolMappings(state)).toEqual([]);
    expect(labelsOfLast(commands)).toContain(SPLIT_2M_FAILED);
    expect(brokenByLast(xenMap, commands)).toEqual([]);
  });

  test('the hook is asked with the failure; the default gives back every map the split took (v6.12)', () => {
    const asked: unknown[] = [];
    const spying = xenGtDesign({
      id: 'mine/split-spy',
      backend: 'map',
      expected: 'holds',
      description: 'the sound unwind, recording what the hook is asked',
      gvtHooks: { failedSplit2MReleases: (failure) => (asked.push(failure), failure.mapped) },
    });
    runSteps([pde2m(2), balloonOut(2), create], spying);
    const failure = { sptGfn: ROOT, index: 0, baseGfn: 0, pages: 4, mapped: 2, errno: 'EINVAL' };
    expect(asked).toEqual([failure]);
    expect(soundGvtHooks.failedSplit2MReleases(failure)).toBe(2);
  });
});

describe('xengt/2m-split-error-leaks: the unwind of every XenGT tree, caught by the generic invariants', () => {
  test('the maps taken before the failing page keep their references and the backend its mappings', () => {
    const commands = [pde2m(2), balloonOut(2), create];
    const { state, results } = runSteps(commands, xenGt2mSplitErrorLeaks);
    expect(results).toEqual(['ok', 'ok', 'EINVAL']);
    expect(state.vgpu?.spts).toEqual({});
    expect(state.vgpu?.cache).toEqual({
      0: { gfn: 0, dmaAddr: POOL, kref: 1 },
      1: { gfn: 1, dmaAddr: POOL + 1, kref: 1 },
    });
    expect(poolMappings(state)).toEqual([POOL, POOL + 1]);
    expect(brokenByLast(xenGt2mSplitErrorLeaks, commands)).toEqual([
      'cache-kref-matches-shadow-users',
      'failed-op-leaves-state-unchanged',
    ]);
  });
});
