/**
 * Waits that never end (`src/waits.ts`, `properties/generic/waits.ts`): a wait on an operation that
 * can go on ends; one on itself (a self-deadlock), on a cycle of holders, or on operations caught
 * in one, never does — and the generic invariant reports it as a violation, not a refusal.
 */
import { describe, expect, it } from 'vitest';
import { deadlocks, describeCycle, waitsForever } from '../../src/waits.js';
import type { Holding } from '../../src/waits.js';
import { noOperationWaitsForever } from '../../properties/generic/waits.js';

const unmap: Holding = { actor: 'VMM', kind: 'unmapDma', holds: ['iommu->lock'], needs: 'the vGPU lock' };
const write: Holding = { actor: 'guest vCPU0', kind: 'ggttWrite', holds: ['the vGPU lock'], needs: 'iommu->lock' };
const idle: Holding = { actor: 'guest vCPU0', kind: 'ggttWrite', holds: ['the vGPU lock'], needs: null };

describe('waitsForever', () => {
  it('a wait on an operation that can go on ends', () => {
    expect(waitsForever(unmap, [idle])).toBeNull();
    expect(waitsForever({ ...unmap, needs: 'nobody holds this' }, [idle])).toBeNull();
  });

  it('a self-deadlock: the waiter holds what it waits for', () => {
    const self: Holding = { actor: 'VMM', kind: 'unmapDma', holds: ['iommu->lock'], needs: 'iommu->lock' };
    const cycle = waitsForever(self, [idle]);
    expect(cycle?.chain).toEqual([self]);
    expect(describeCycle(cycle!)).toBe('VMM (unmapDma) waits for iommu->lock, which it holds itself');
  });

  it('a cycle of two: each holds what the other needs', () => {
    const cycle = waitsForever(unmap, [write]);
    expect(cycle).toEqual({ chain: [unmap, write], closesAt: 0 });
    expect(describeCycle(cycle!)).toBe(
      'VMM (unmapDma) waits for the vGPU lock, held by guest vCPU0 (ggttWrite); guest vCPU0 (ggttWrite) waits for iommu->lock, held by VMM (unmapDma)',
    );
    expect(deadlocks([write, unmap])).toHaveLength(1);
    expect(deadlocks([idle, unmap])).toEqual([]);
  });

  it('a wait on operations caught in a cycle never ends either', () => {
    const waiter: Holding = { actor: 'device 0', kind: 'deviceDma', holds: [], needs: 'the vGPU lock' };
    expect(waitsForever(waiter, [unmap, write])?.closesAt).toBe(1);
  });
});

describe('no-operation-waits-forever', () => {
  type State = { readonly holdings: readonly Holding[] };
  const invariant = noOperationWaitsForever<State, { kind: string }>({
    holdings: (state) => state.holdings,
    actorOf: () => 'VMM',
  });
  const step = (holdings: readonly Holding[], holds: readonly string[], waitsFor: string) => ({
    before: { holdings },
    command: { kind: 'unmapDma' },
    result: { ok: false, error: 'EBUSY', blocked: { waitsFor, holds } },
    after: { holdings },
  });

  it('holds for a wait that ends, and reports one that never does', () => {
    expect(invariant.check(step([idle], [], 'the vGPU lock'))).toBeNull();
    expect(invariant.check(step([write], ['iommu->lock'], 'the vGPU lock'))?.message).toBe(
      'waits forever: VMM (unmapDma) waits for the vGPU lock, held by guest vCPU0 (ggttWrite); guest vCPU0 (ggttWrite) waits for iommu->lock, held by VMM (unmapDma)',
    );
    expect(
      invariant.check({ before: null, command: null, result: null, after: { holdings: [write, unmap] } }),
    ).not.toBeNull();
  });
});
