/**
 * `check --shortest` (src/shortest.ts): the explore scope searched one step shallower than a
 * minimized counterexample. `xenpt/unmap-not-synced` frees a frame its HVM guest's IOMMU table
 * still maps by two gfn moves (3 steps with the DMA: the shape the minimizer cannot leave, since
 * it never changes a command's kind) or by one balloon-out (2 steps).
 */
import { describe, expect, test } from 'vitest';
import { xenPtUnmapNotSynced } from '../../properties/xenpt/designs.js';
import { searchShorter } from '../../src/shortest.js';
import { runTrace } from '../../src/execute.js';
import type { AnyDesign } from '../../src/design.js';

const design = xenPtUnmapNotSynced as unknown as AnyDesign;
const INVARIANT = 'no-dma-to-free-frame';

describe('searchShorter', () => {
  test('finds a shorter trace of another shape, which replays to the same violation', () => {
    const twoMoves = [
      { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 1 },
      { kind: 'moveGfn', domid: 1, idx: 2, gpfn: 1 },
      { kind: 'dma', device: 0, dfn: 0, write: false },
    ];
    expect(runTrace(design, twoMoves, { invariants: [INVARIANT] }).violations[0]?.afterStep).toBe(3);
    const search = searchShorter(design, INVARIANT, twoMoves.length);
    expect(search?.outcome).toBe('shorter');
    const shorter = search?.commands ?? [];
    expect(shorter.length).toBe(2);
    expect(runTrace(design, shorter, { invariants: [INVARIANT] }).violations[0]?.afterStep).toBe(2);
  });

  test('confirms a trace no shorter one exists for, and says when its budget ran out', () => {
    expect(searchShorter(design, INVARIANT, 2)?.outcome).toBe('confirmed');
    expect(searchShorter(design, INVARIANT, 3, 5)?.outcome).toBe('limit');
  });

  test('does nothing for a one-step trace or a design without a scope', () => {
    expect(searchShorter(design, INVARIANT, 1)).toBeNull();
    const unscoped: AnyDesign = Object.fromEntries(
      Object.entries(design).filter(([key]) => key !== 'explore'),
    ) as AnyDesign;
    expect(searchShorter(unscoped, INVARIANT, 3)).toBeNull();
  });
});
