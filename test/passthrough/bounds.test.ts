/**
 * Bounds and round trips of the passthrough stack over VT-d (docs/reference/vtd.md §3.11): each of
 * `counters-in-range` and `round-trip-returns-everything` holds on the sound design's steps and
 * fails where a counter leaves its range or an unmap gives back less than its map took. A few
 * steps each: cheap enough for the default tier.
 */
import { describe, expect, it } from 'vitest';
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import type { PassthroughDesign } from '../../properties/passthrough/design.js';
import { iommuLazyHeld, iommuStrict } from '../../properties/passthrough/designs.js';
import { passthroughCounters } from '../../properties/passthrough/invariants/bounds.js';
import { passthroughMutants } from '../../properties/passthrough/mutants.js';
import { RAM_VADDR_PAGE } from '../../properties/vfio/world.js';

const map = (iovaPage: number, npages: number): PassthroughCommand => ({
  kind: 'mapDma',
  ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage, npages }),
});

function mutant(id: string): PassthroughDesign {
  const found = passthroughMutants.find((design) => design.id === id);
  if (found === undefined) throw new Error(`no mutant ${id}`);
  return found;
}

/** Runs `commands` on `design` and returns what `invariant` says after each step (null: holds). */
function verdicts(design: PassthroughDesign, invariant: string, commands: readonly PassthroughCommand[]) {
  const check = design.invariants.find((candidate) => candidate.name === invariant);
  if (check === undefined) throw new Error(`${design.id} has no ${invariant}`);
  let state = design.init();
  return commands.map((command) => {
    const before = state;
    const step = design.step(before, command);
    state = step.state;
    return { ok: step.result.ok, violation: check.check({ before, command, result: step.result, after: state }) };
  });
}

describe('counters-in-range over VT-d', () => {
  it("lists VFIO's counters and the VT-d model's, all in range at rest", () => {
    const names = passthroughCounters(iommuStrict.init()).map((counter) => counter.name);
    expect(names).toEqual(
      expect.arrayContaining(['locked_vm', 'dma_avail', 'free page-table pages', 'DIDs in use', 'IOTLB entries']),
    );
    expect(verdicts(iommuStrict, 'counters-in-range', [map(510, 4)])).toEqual([{ ok: true, violation: null }]);
  });

  it('fails on an IOTLB holding more entries than its capacity', () => {
    const state: PassthroughState = iommuStrict.init();
    const entry = { kind: 'not-present', domainId: 1, pasid: null, iovaPage: 0 } as const;
    const over = Array.from({ length: state.iommu.caps.iotlbEntries + 1 }, () => entry);
    const check = iommuStrict.invariants.find((invariant) => invariant.name === 'counters-in-range');
    const after = { ...state, iommu: { ...state.iommu, iotlb: over } };
    expect(check?.check({ before: null, command: null, result: null, after })?.message).toBe(
      'IOTLB entries is 9, outside its range',
    );
  });

  it("fails when a failed MAP_DMA's unwind gives its slot back twice (dma_avail above dma_entry_limit)", () => {
    const design = mutant('mutant/iommu-strict/map-unwind-returns-slot-twice');
    const [armed, failed] = verdicts(design, 'counters-in-range', [
      { kind: 'injectFault', point: 'pin', nth: 2 },
      map(0, 2),
    ]);
    expect(armed?.violation).toBeNull();
    expect(failed?.ok).toBe(false);
    expect(failed?.violation?.message).toMatch(/^dma_avail is \d+, outside its range$/);
  });
});

describe('round-trip-returns-everything over VT-d', () => {
  it('an UNMAP_DMA right after MAP_DMA gives everything back, in strict and lazy-held mode', () => {
    for (const design of [iommuStrict, iommuLazyHeld]) {
      expect(verdicts(design, 'round-trip-returns-everything', [map(510, 4)])).toEqual([{ ok: true, violation: null }]);
    }
  });

  it('fails when UNMAP_DMA never unpins', () => {
    const [mapped] = verdicts(mutant('mutant/iommu-strict/unmap-skips-unpin'), 'round-trip-returns-everything', [
      map(0, 2),
    ]);
    expect(mapped?.violation?.message).toMatch(/pin references is \d+ where it was \d+ before the request$/);
  });

  it('fails when the unmap stops at the end of the first last-level table', () => {
    const design = mutant('mutant/iommu-strict/unmap-stops-at-table-boundary');
    const [mapped] = verdicts(design, 'round-trip-returns-everything', [map(510, 4)]);
    expect(mapped?.ok).toBe(true);
    expect(mapped?.violation?.message).toMatch(/IOVA pages the VT-d page tables translate is 2 where it was 0/);
  });
});
