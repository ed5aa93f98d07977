/**
 * Issue 18 on the KVMGT stack: fault injection and the failure paths it reaches, unwound step by
 * step as Linux v6.12 does (kvmgt.c gvt_pin_guest_page, gvt_dma_map_page, __gvt_cache_add /
 * intel_gvt_dma_map_guest_page's err_unmap, kvmgt_page_track_add; gtt.c
 * ppgtt_populate_spt_by_guest_entry), and the vGPU's destroy and create over ranges the hardware
 * keeps (vgpu.c intel_gvt_destroy_vgpu, gtt.c intel_vgpu_init_gtt → intel_vgpu_reset_ggtt).
 */
import { describe, expect, test } from 'vitest';
import { deepEqual } from '../../models/deep-equal.js';
import { VGPU_DEVICE } from '../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import { kvmgtDesign } from '../../properties/kvmgt/design.js';
import {
  gvtWriteProtect,
  kvmgtCacheAddErrorKeepsMap,
  kvmgtDestroyKeepsGgtt,
  kvmgtDmaMapErrorKeepsPin,
  kvmgtNoGgttReset,
  kvmgtShippedPopulateUnwind,
  kvmgtTrackAddErrorKeepsRegistration,
  kvmgtUnmapCallback,
} from '../../properties/kvmgt/designs.js';
import type { KvmgtDesign } from '../../properties/kvmgt/design.js';

function run(design: KvmgtDesign, commands: readonly KvmgtCommand[]): { state: KvmgtState; last: unknown } {
  let state = design.init();
  let last: unknown = null;
  for (const command of commands) {
    const step = design.step(state, command);
    state = step.state;
    last = step.result;
  }
  return { state, last };
}

function pins(state: KvmgtState): Record<string, number> {
  return { ...(state.vfio.devices[VGPU_DEVICE]?.pins ?? {}) };
}

function broken(design: KvmgtDesign, before: KvmgtState, command: KvmgtCommand): string[] {
  const step = design.step(before, command);
  return design.invariants.flatMap((invariant) =>
    invariant.check({ before, command, result: step.result, after: step.state }) === null ? [] : [invariant.name],
  );
}

/** A directory at gfn 0 over a table at gfn 1 whose two leaves name gfns 2 and 3 (not yet mapped). */
const tables: KvmgtCommand[] = [
  { kind: 'guestWritePte', gfn: 1, index: 0, present: true, targetGfn: 2, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: 1, index: 1, present: true, targetGfn: 3, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: 0, index: 0, present: true, targetGfn: 1, sizeBytes: 8 },
];

describe('KVMGT fault injection', () => {
  const design = kvmgtUnmapCallback;

  test('arming checks its point and count (EINVAL, nothing changed); clearing disarms', () => {
    const initial = design.init();
    for (const bad of [
      { kind: 'injectFault', point: 'alloc', nth: 1 },
      { kind: 'injectFault', point: 'pin', nth: 0 },
    ]) {
      const step = design.step(initial, bad as KvmgtCommand);
      expect(step.result).toMatchObject({ ok: false, error: 'EINVAL' });
      expect(step.state).toBe(initial);
    }
    const armed = design.step(initial, { kind: 'injectFault', point: 'dmaMap', nth: 2 }).state;
    expect(armed.fault).toEqual({ point: 'dmaMap', nth: 2 });
    expect(design.step(armed, { kind: 'clearFault' }).state.fault).toBeNull();
  });

  test.each(['pin', 'dmaMap', 'cacheAdd'] as const)(
    'a GGTT write whose %s fails: the entry goes to scratch, ENOMEM reported, no pin or mapping left',
    (point) => {
      const { state: armed } = run(design, [{ kind: 'injectFault', point, nth: 1 }]);
      const step = design.step(armed, {
        kind: 'ggttWrite',
        index: 2,
        gfn: 0,
        present: true,
        sizeBytes: 8,
        offsetBytes: 0,
      });
      expect(step.result).toMatchObject({ ok: true, detail: { shadow: 'scratch', mapError: 'ENOMEM' } });
      expect(step.state.vgpu?.ggttHost[2]).toEqual({ kind: 'scratch' });
      expect(step.state.vgpu?.cache[0]).toBeUndefined();
      expect(pins(step.state)[0]).toBeUndefined();
      // The old entry's page (gfn 4) was released; nothing of gfn 0 stays mapped.
      expect(step.state.hostDma.free).toContain(design.init().vgpu?.cache[4]?.dmaAddr);
    },
  );

  test.each([
    ['pin', 2, 'ENXIO'],
    ['dmaMap', 2, 'ENXIO'],
    ['cacheAdd', 2, 'ENXIO'],
    ['trackAdd', 2, 'EINVAL'],
  ] as const)(
    'a PPGTT creation whose %s #%i fails is refused %s and its unwind leaves the state as it was',
    (point, nth, errno) => {
      const { state: before } = run(design, [...tables, { kind: 'injectFault', point, nth }]);
      const step = design.step(before, { kind: 'ppgttCreate', rootGfn: 0 });
      expect(step.result).toMatchObject({ ok: false, error: errno });
      // The unwound state is the step's own (not the one it was given), and equal to it.
      expect(step.state).not.toBe(before);
      expect(deepEqual(step.state, before)).toBe(true);
      expect(broken(design, before, { kind: 'ppgttCreate', rootGfn: 0 })).toEqual([]);
    },
  );

  test('without a fault the same creation shadows both leaves', () => {
    const { state } = run(design, [...tables, { kind: 'ppgttCreate', rootGfn: 0 }]);
    expect(Object.keys(state.vgpu?.spts ?? {})).toEqual(['0', '1']);
    expect(pins(state)).toMatchObject({ 2: 1, 3: 1 });
  });

  test('flawed unwinds leave a pin nothing holds: the refused creation changed the state', () => {
    for (const [flawed, point] of [
      [kvmgtDmaMapErrorKeepsPin, 'dmaMap'],
      [kvmgtCacheAddErrorKeepsMap, 'cacheAdd'],
    ] as const) {
      const { state: before } = run(flawed, [...tables, { kind: 'injectFault', point, nth: 2 }]);
      const step = flawed.step(before, { kind: 'ppgttCreate', rootGfn: 0 });
      expect(step.result).toMatchObject({ ok: false, error: 'ENXIO' });
      expect(pins(step.state)).toEqual({ ...pins(before), 3: 1 });
      expect(broken(flawed, before, { kind: 'ppgttCreate', rootGfn: 0 })).toEqual(
        expect.arrayContaining(['vgpu-pins-held', 'failed-op-leaves-state-unchanged']),
      );
    }
  });

  test('an unwind that leaves the failed page track registered changes the vGPU (and the page can never be shadowed)', () => {
    const { state: before } = run(kvmgtTrackAddErrorKeepsRegistration, [
      ...tables,
      { kind: 'injectFault', point: 'trackAdd', nth: 1 },
    ]);
    const step = kvmgtTrackAddErrorKeepsRegistration.step(before, { kind: 'ppgttCreate', rootGfn: 0 });
    expect(step.result).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(step.state.vgpu?.tracked).toEqual([0]);
    expect(step.state.writeProtected).toEqual([]);
    const cleared = kvmgtTrackAddErrorKeepsRegistration.step(step.state, { kind: 'clearFault' }).state;
    expect(kvmgtTrackAddErrorKeepsRegistration.step(cleared, { kind: 'ppgttCreate', rootGfn: 0 }).result).toMatchObject(
      {
        ok: false,
        error: 'EEXIST',
      },
    );
    expect(broken(kvmgtTrackAddErrorKeepsRegistration, before, { kind: 'ppgttCreate', rootGfn: 0 })).toEqual(
      expect.arrayContaining(['shadowed-table-write-protected', 'failed-op-leaves-state-unchanged']),
    );
  });

  test('a population unwound by the model leaves the DMA pool in the order it found it (last entry first)', () => {
    // gvt/write-protect seed 2: a directory over two tables, the second's page track failing.
    const { state: before } = run(kvmgtUnmapCallback, [
      { kind: 'guestWritePte', gfn: 3, index: 1, present: true, targetGfn: 0, sizeBytes: 4 },
      { kind: 'guestWritePte', gfn: 0, index: 0, present: true, targetGfn: 3, sizeBytes: 4 },
      { kind: 'guestWritePte', gfn: 3, index: 0, present: true, targetGfn: 1, sizeBytes: 4 },
      { kind: 'guestWritePte', gfn: 0, index: 1, present: true, targetGfn: 1, sizeBytes: 4 },
      { kind: 'injectFault', point: 'trackAdd', nth: 3 },
    ]);
    const step = kvmgtUnmapCallback.step(before, { kind: 'ppgttCreate', rootGfn: 0 });
    expect(step.result).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(deepEqual(step.state, before)).toBe(true);
  });

  test("a pin's page fault-in is undone when an injected fault fails the command (as VFIO's runOp does)", () => {
    // gvt/write-protect seed 2: the VMM's unplug and plug leave gfn 5 not yet faulted in; the pin
    // faults it in, the DMA map fails, the pin is undone, and so is the fault-in.
    const refaulted: KvmgtCommand[] = [
      { kind: 'vmmUnplugRam', gfn: 4, npages: 2 },
      { kind: 'guestWritePte', gfn: 1, index: 0, present: true, targetGfn: 5, sizeBytes: 4 },
      { kind: 'vmmPlugRam', gfn: 4, npages: 2 },
      { kind: 'guestWritePte', gfn: 0, index: 0, present: true, targetGfn: 1, sizeBytes: 4 },
      { kind: 'injectFault', point: 'dmaMap', nth: 1 },
      // The guest's GGTT entry 3 cleared: gfn 5's DMA cache entry and pin go.
      { kind: 'ggttWrite', index: 3, gfn: 0, present: false, sizeBytes: 4, offsetBytes: 0 },
    ];
    const create: KvmgtCommand = { kind: 'ppgttCreate', rootGfn: 0 };
    const { state: before } = run(gvtWriteProtect, refaulted);
    const step = gvtWriteProtect.step(before, create);
    expect(step.result).toMatchObject({ ok: false, error: 'ENXIO' });
    expect(deepEqual(step.state, before)).toBe(true);
    // A design whose unwind keeps the pin keeps the frame faulted in too: its bug stays visible.
    const kept = run(kvmgtDmaMapErrorKeepsPin, [...refaulted, create]).state;
    expect(pins(kept)[5]).toBe(1);
  });

  test("the shipped populate unwind (ppgtt_free_spt) keeps the first leaf's DMA reference", () => {
    const { state: before } = run(kvmgtShippedPopulateUnwind, [
      ...tables,
      { kind: 'injectFault', point: 'pin', nth: 2 },
    ]);
    const step = kvmgtShippedPopulateUnwind.step(before, { kind: 'ppgttCreate', rootGfn: 0 });
    expect(step.result).toMatchObject({ ok: false, error: 'ENXIO' });
    expect(step.state.vgpu?.cache[2]?.kref).toBe(1);
    expect(step.state.vgpu?.spts).toEqual({});
    expect(broken(kvmgtShippedPopulateUnwind, before, { kind: 'ppgttCreate', rootGfn: 0 })).toEqual(
      expect.arrayContaining(['cache-kref-matches-shadow-users', 'failed-op-leaves-state-unchanged']),
    );
  });
});

describe('KVMGT vGPU destroy and create over the same GGTT ranges', () => {
  const recreate: KvmgtCommand[] = [{ kind: 'vgpuDestroy' }, { kind: 'vgpuCreate' }];

  test('v6.12: destroy resets the ranges to scratch, create starts from scratch with an empty cache', () => {
    const design = kvmgtUnmapCallback;
    const { state: destroyed } = run(design, [recreate[0] as KvmgtCommand]);
    expect(destroyed.vgpu).toBeNull();
    expect(destroyed.releasedGgtt).toBeNull();
    expect(pins(destroyed)).toEqual({});
    const { state } = run(design, recreate);
    expect(state.vgpu?.ggttHost.every((pte) => pte.kind === 'scratch')).toBe(true);
    expect(state.vgpu?.cache).toEqual({});
  });

  test('a destroy that keeps the entries leaves the freed range reaching unmapped DMA addresses', () => {
    const before = kvmgtDestroyKeepsGgtt.init();
    const { state } = run(kvmgtDestroyKeepsGgtt, [{ kind: 'vgpuDestroy' }]);
    const kept = [2, 3, 4, 5].map((index) => state.releasedGgtt?.[index]);
    expect(kept).toEqual([2, 3, 4, 5].map((index) => before.vgpu?.ggttHost[index]));
    for (const pte of kept) if (pte?.kind === 'dma') expect(state.hostDma.map[pte.dmaAddr]).toBeUndefined();
    expect(broken(kvmgtDestroyKeepsGgtt, before, { kind: 'vgpuDestroy' })).toEqual(['unowned-ggtt-reaches-scratch']);
    // The next create resets them (commit d650ac06).
    expect(run(kvmgtDestroyKeepsGgtt, recreate).state.vgpu?.ggttHost.every((pte) => pte.kind === 'scratch')).toBe(true);
  });

  test('without either reset the next vGPU inherits the earlier one’s translations', () => {
    const { state: destroyed } = run(kvmgtNoGgttReset, [{ kind: 'vgpuDestroy' }]);
    const { state } = run(kvmgtNoGgttReset, recreate);
    expect(state.vgpu?.ggttHost[2]).toEqual(destroyed.releasedGgtt?.[2]);
    expect(state.vgpu?.ggttHost[2]?.kind).toBe('dma');
    expect(state.vgpu?.cache).toEqual({});
    expect(broken(kvmgtNoGgttReset, destroyed, { kind: 'vgpuCreate' })).toContain('shadow-dma-addr-cached');
  });

  test('an unknown lifecycle or unwind choice is refused by the factory', () => {
    const base = { id: 'test/x', expected: 'holds', description: 'x' } as const;
    expect(() => kvmgtDesign({ ...base, lifecycle: { destroy: 'forget' as 'keep-ggtt' } })).toThrow(
      /lifecycle.destroy/,
    );
    expect(() => kvmgtDesign({ ...base, unwind: { populate: 'x' as 'free-spt' } })).toThrow(/unwind.populate/);
  });
});
