/**
 * Issue 18's bounds and round trip on the KVMGT stack (`properties/kvmgt/invariants/bounds.ts`):
 * each can fail, on a hand-built state or a short trace, and holds on the sound design's.
 */
import { describe, expect, test } from 'vitest';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import { type1Backend } from '../../models/vfio/state.js';
import type { KvmgtDesign } from '../../properties/kvmgt/design.js';
import { kvmgtUnmapCallback } from '../../properties/kvmgt/designs.js';
import { kvmgtMutants } from '../../properties/kvmgt/mutants.js';

const design = kvmgtUnmapCallback;
const unmap: KvmgtCommand = { kind: 'vmmUnmapRam', gfn: 0, npages: 2 };
const remap: KvmgtCommand = { kind: 'vmmMapRam', gfn: 0, npages: 2 };
const ggttWrite = (gfn: number): KvmgtCommand => ({
  kind: 'ggttWrite',
  index: 2,
  gfn,
  present: true,
  sizeBytes: 8,
  offsetBytes: 0,
});

function invariant(of: KvmgtDesign, name: string): KvmgtDesign['invariants'][number] {
  const found = of.invariants.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`${of.id} has no ${name}`);
  return found;
}

function mutant(bug: string): KvmgtDesign {
  const found = kvmgtMutants.find((candidate) => candidate.id === `mutant/kvmgt/${bug}`);
  if (found === undefined) throw new Error(`no mutant ${bug}`);
  return found;
}

function run(of: KvmgtDesign, commands: readonly KvmgtCommand[]): KvmgtState {
  let state = of.init();
  for (const command of commands) {
    const step = of.step(state, command);
    expect(step.result.ok, `${command.kind} ${String(step.result.error)}`).toBe(true);
    state = step.state;
  }
  return state;
}

describe('KVMGT counters-in-range', () => {
  const check = (after: KvmgtState): string | undefined =>
    invariant(design, 'counters-in-range').check({ before: null, command: null, result: null, after })?.message;

  test("holds with a page mapped for the GPU; VFIO's and the mediator's counters out of range are reported", () => {
    const mapped = run(design, [ggttWrite(0)]);
    expect(check(mapped)).toBeUndefined();
    const slots = structuredClone(mapped);
    type1Backend(slots.vfio)!.dmaAvail = -1;
    expect(check(slots)).toMatch(/^dma_avail is -1, outside its range$/);
    const kref = structuredClone(mapped);
    kref.vgpu!.cache['0']!.kref = 0;
    expect(check(kref)).toBe('DMA cache kref of gfn 0 is 0, outside its range');
  });

  test('a GGTT rewrite that drops the DMA reference without release leaves a cached entry at kref 0', () => {
    const flawed = mutant('ggtt-replace-skips-release');
    const before = run(flawed, [ggttWrite(0)]);
    const step = flawed.step(before, ggttWrite(1));
    const found = invariant(flawed, 'counters-in-range').check({
      before,
      command: ggttWrite(1),
      result: step.result,
      after: step.state,
    });
    expect(found?.message).toBe('DMA cache kref of gfn 0 is 0, outside its range');
  });
});

describe("KVMGT round-trip-returns-everything (the VMM's RAM map, then its unmap)", () => {
  function verdict(of: KvmgtDesign): string | undefined {
    const before = run(of, [unmap]);
    const step = of.step(before, remap);
    expect(step.result.ok).toBe(true);
    return invariant(of, 'round-trip-returns-everything').check({
      before,
      command: remap,
      result: step.result,
      after: step.state,
    })?.message;
  }

  test('the sound map is undone by UNMAP_DMA of the same range', () => {
    expect(verdict(design)).toBeUndefined();
  });

  test('an UNMAP_DMA that keeps its dma_entry_limit slot does not give back what the map took', () => {
    expect(verdict(mutant('unmap-leaks-dma-slot'))).toMatch(/, dma_avail is \d+ where it was \d+ before the request$/);
  });
});
