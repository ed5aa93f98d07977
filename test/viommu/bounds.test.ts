/**
 * Bounds and round trips of the vIOMMU stack (docs/reference/viommu.md §7.8): `counters-in-range`
 * (the host's counters, the guest's and the VMM's) and `round-trip-returns-everything` (a shadow
 * mapping a guest invalidation created, undone by the guest's clear and the same invalidation)
 * hold on the sound designs' steps and fail where a counter leaves its range or the undo gives
 * back less. A few steps each: cheap enough for the default tier.
 */
import { describe, expect, it } from 'vitest';
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { ViommuDesign } from '../../properties/viommu/design.js';
import { viommuNested, viommuShadow } from '../../properties/viommu/designs.js';
import { viommuCounters } from '../../properties/viommu/bounds.js';
import { viommuMutants } from '../../properties/viommu/mutants.js';

const guestMap = (giovaPage: number, gpaPage: number): ViommuCommand => ({
  kind: 'guestMap',
  giovaPage,
  gpaPage,
  write: true,
});
const invalidateAll: ViommuCommand = {
  kind: 'guestInvalidate',
  granularity: 'domain',
  did: GUEST_DID,
  giovaPage: 0,
  mask: 0,
};
/** The guest maps two pages, then invalidates its domain: the shadow VMM maps both. */
const mapTwo = [guestMap(0, 1), guestMap(1, 2), invalidateAll];

function mutant(id: string): ViommuDesign {
  const found = viommuMutants.find((design) => design.id === id);
  if (found === undefined) throw new Error(`no mutant ${id}`);
  return found;
}

/** What `invariant` says after each of `commands` on `design` (null: holds). */
function verdicts(design: ViommuDesign, invariant: string, commands: readonly ViommuCommand[]) {
  const check = design.invariants.find((candidate) => candidate.name === invariant);
  if (check === undefined) throw new Error(`${design.id} has no ${invariant}`);
  let state: ViommuState = design.init();
  return commands.map((command) => {
    const before = state;
    const step = design.step(before, command);
    state = step.state;
    return check.check({ before, command, result: step.result, after: state })?.message ?? null;
  });
}

describe('counters-in-range in the vIOMMU stack', () => {
  it("lists the host's counters and the guest's, all in range on the sound designs' steps", () => {
    const names = viommuCounters(viommuShadow.init()).map((counter) => counter.name);
    expect(names).toEqual(
      expect.arrayContaining(['dma_avail', 'free page-table pages', 'trapped invalidations in flight']),
    );
    for (const design of [viommuShadow, viommuNested]) {
      expect(verdicts(design, 'counters-in-range', mapTwo)).toEqual([null, null, null]);
    }
  });

  it('fails on more pages ballooned out than guest RAM has', () => {
    const state = viommuShadow.init();
    const ballooned = Array.from({ length: state.guestRam.pages + 1 }, (_, page) => page);
    const check = viommuShadow.invariants.find((invariant) => invariant.name === 'counters-in-range');
    const after = { ...state, guest: { ...state.guest, ballooned } };
    expect(check?.check({ before: null, command: null, result: null, after })?.message).toBe(
      `GPA pages ballooned out is ${state.guestRam.pages + 1}, outside its range`,
    );
  });

  it("fails when the host's failed MAP_DMAs give their slots back twice (one page of RLIMIT_MEMLOCK)", () => {
    const design = mutant('mutant/viommu-shadow/map-unwind-returns-slot-twice');
    // Two refused MAP_DMAs, one accepted: dma_avail one above dma_entry_limit.
    const found = verdicts(design, 'counters-in-range', [
      guestMap(0, 1),
      guestMap(1, 2),
      guestMap(2, 3),
      invalidateAll,
    ]);
    expect(found[3]).toBe('dma_avail is 17, outside its range');
  });
});

describe('round-trip-returns-everything in the vIOMMU stack', () => {
  it("the guest's clear and invalidation give back what its map and invalidation took (shadow); nested creates nothing", () => {
    for (const design of [viommuShadow, viommuNested]) {
      expect(verdicts(design, 'round-trip-returns-everything', mapTwo)).toEqual([null, null, null]);
    }
  });

  it("fails when the host's UNMAP_DMA never unpins", () => {
    const found = verdicts(mutant('mutant/viommu-shadow/unmap-skips-unpin'), 'round-trip-returns-everything', mapTwo);
    expect(found[2]).toBe(
      'after guest clears GIOVA page 0 in its vIOMMU table, then guest clears GIOVA page 1 in its vIOMMU table, then guest invalidates all of DID 1, pin references is 2 where it was 0 before the request',
    );
  });
});
