/**
 * XenGT's GGTT writes in 4-byte halves, through the mediator's emulation (Linux v6.12 `gtt.c`
 * `emulate_ggtt_mmio_write`; docs/reference/gvt-kvmgt.md §4.3): the access size must be 4 or 8
 * (-EINVAL), the first half of an entry waits in the partial-PTE list with the host entry at
 * scratch and the backend asked for nothing, the other half completes the entry and the backend
 * maps the page, the same half again only updates the guest's copy; and the flawed hook that
 * shadows a half-written entry, caught by the generic shadow invariant.
 */
import { describe, expect, test } from 'vitest';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtState } from '../../models/xengt/types.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtDesign } from '../../properties/xengt/design.js';
import { xenGtShadowsHalfWrittenGgtt } from '../../properties/xengt/ggtt-designs.js';
import { runSteps } from './run-steps.js';

const POOL = xenMap.config.mappingPoolBaseGfn;
type GttWrite = Extract<XenGtCommand, { kind: 'gttWrite' }>;

/** The guest's gfn 0, written into GTT entry 0 (the vGPU's first aperture entry). */
const half = (offsetBytes: number, gfn = 0, sizeBytes = 4): GttWrite => ({
  kind: 'gttWrite',
  entry: 0,
  gfn,
  present: true,
  sizeBytes,
  offsetBytes,
});
const whole: GttWrite = { kind: 'gttWrite', entry: 0, gfn: 0, present: true };

function poolMappings(state: XenGtState): number {
  return Object.values(state.xen.domains[xenMap.config.backendDomid]?.p2m ?? {}).filter(
    (entry) => entry.type === 'map_foreign',
  ).length;
}

describe('a GGTT entry written in two 4-byte halves', () => {
  test('the first half: the guest copy is written, the host entry stays scratch, the backend maps nothing', () => {
    const { state, results } = runSteps([half(0)]);
    expect(results).toEqual(['ok']);
    expect(state.vgpu?.ggttGuest[0]).toEqual({ present: true, gfn: 0 });
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.ggttPartial).toEqual({ 0: 0 });
    expect(state.vgpu?.cache).toEqual({});
    expect(poolMappings(state)).toBe(0);
  });

  test.for([
    ['low dword first', 0, 4],
    ['high dword first', 4, 0],
  ] as const)('%s: the other half completes the entry and the backend maps the page', ([, first, second]) => {
    const { state, results } = runSteps([half(first), half(second)]);
    expect(results).toEqual(['ok', 'ok']);
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'dma', dmaAddr: POOL });
    expect(state.vgpu?.ggttPartial).toEqual({});
    expect(state.vgpu?.cache[0]).toEqual({ gfn: 0, dmaAddr: POOL, kref: 1 });
    expect(poolMappings(state)).toBe(1);
  });

  test('the same half again only updates the guest copy (the partial-PTE list entry is rewritten)', () => {
    const { state } = runSteps([half(0), half(0, 1)]);
    expect(state.vgpu?.ggttGuest[0]).toEqual({ present: true, gfn: 1 });
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.ggttPartial).toEqual({ 0: 0 });
    expect(poolMappings(state)).toBe(0);
  });

  test("a first half over a whole entry releases the old host entry's mapping (ggtt_invalidate_pte)", () => {
    const { state } = runSteps([whole, half(0, 1)]);
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.cache).toEqual({});
    expect(poolMappings(state)).toBe(0);
  });

  test('a phased first half has no window (it asks the backend for nothing): done at once', () => {
    const { state, results } = runSteps([{ ...half(0), phased: true }]);
    expect(results).toEqual(['ok']);
    expect(state.inflight).toEqual([]);
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.ggttPartial).toEqual({ 0: 0 });
  });

  test('a phased second half: the backend maps the page in the first phase, the shadow entry in the next', () => {
    const started = runSteps([half(0), { ...half(4), phased: true }]);
    expect(started.state.inflight).toHaveLength(1);
    expect(started.state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    const { state, results } = runSteps([half(0), { ...half(4), phased: true }, { kind: 'advance', op: 0 }]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'dma', dmaAddr: POOL });
    expect(state.vgpu?.ggttPartial).toEqual({});
  });

  test('a write outside the vGPU ranges is ignored, whole or half (returns 0)', () => {
    const outside = xenMap.config.gvt.layout.ggttEntries;
    const { state, results } = runSteps([{ ...half(0), entry: outside }]);
    expect(results).toEqual(['ok']);
    expect(state.vgpu?.ggttPartial).toEqual({});
  });
});

describe('refused accesses (-EINVAL, state unchanged)', () => {
  test.for([
    ['a 2-byte access', 2, 0],
    ['a 1-byte access', 1, 0],
    ['an 8-byte access at offset 4', 8, 4],
    ['a 4-byte access at offset 2', 4, 2],
  ] as const)('%s', ([, sizeBytes, offsetBytes]) => {
    const before = xenMap.init();
    const step = xenMap.step(before, half(offsetBytes, 0, sizeBytes));
    expect(step.result.error).toBe('EINVAL');
    expect(step.state).toBe(before);
  });

  test('an access size no MMIO write has is refused by the command schema', () => {
    expect(xenMap.validateCommand?.({ ...half(0, 0, 9) })).not.toBeNull();
    expect(xenMap.validateCommand?.({ ...half(0, 0, 4) })).toBeNull();
  });
});

describe('the hook: shadowing a half-written entry', () => {
  test('the flawed design shadows the first half at once, and shadow-matches-guest-entry says so', () => {
    const design = xenGtShadowsHalfWrittenGgtt;
    const before = design.init();
    const step = design.step(before, half(0));
    expect(step.state.vgpu?.ggttHost[0]).toEqual({ kind: 'dma', dmaAddr: POOL });
    const invariant = design.invariants.find((candidate) => candidate.name === 'shadow-matches-guest-entry');
    const violation = invariant?.check({ before, command: half(0), result: step.result, after: step.state });
    expect(violation?.expected).toBe('scratch (half written)');
  });

  test("a user's hook sees the half and may shadow only some: here the high dwords", () => {
    const seen: unknown[] = [];
    const design = xenGtDesign({
      id: 'mine/high-halves',
      backend: 'map',
      expected: 'violates',
      description: 'test',
      gvtHooks: {
        shadowHalfWritten: (written) => {
          seen.push(written);
          return written.offsetBytes === 4;
        },
      },
    });
    expect(runSteps([half(0)], design).state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(runSteps([half(4)], design).state.vgpu?.ggttHost[0]).toEqual({ kind: 'dma', dmaAddr: POOL });
    expect(seen[0]).toEqual({ index: 0, offsetBytes: 0, entry: { present: true, gfn: 0 } });
  });

  test('the sound design holds the same first half at scratch', () => {
    const before = xenMap.init();
    const step = xenMap.step(before, half(0));
    const invariant = xenMap.invariants.find((candidate) => candidate.name === 'shadow-matches-guest-entry');
    expect(invariant?.check({ before, command: half(0), result: step.result, after: step.state })).toBeNull();
  });
});
