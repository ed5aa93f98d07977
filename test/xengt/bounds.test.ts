/**
 * Issue 18's bounds and round trip on the XenGT stack (`properties/xengt/invariants/bounds.ts`):
 * each can fail, on a hand-built state or a short trace, and holds on the sound design's.
 */
import { describe, expect, test } from 'vitest';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';
import { GRANT_TO_DOM2, MAP_HOST_AND_DEVICE, runSteps } from './run-steps.js';

const grant = GRANT_TO_DOM2;
const map = MAP_HOST_AND_DEVICE;

function invariant(design: XenGtDesign, name: string): XenGtDesign['invariants'][number] {
  const found = design.invariants.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`${design.id} has no ${name}`);
  return found;
}

function mutant(bug: string): XenGtDesign {
  const found = xenGtMutants.find((candidate) => candidate.id === `mutant/xen-map/${bug}`);
  if (found === undefined) throw new Error(`no mutant ${bug}`);
  return found;
}

/** The state after `edit` on a deep copy of the granted and mapped state. */
function edited(edit: (state: XenGtState) => void): XenGtState {
  const state = structuredClone(runSteps([grant, map]).state);
  edit(state);
  return state;
}

describe('XenGT counters-in-range', () => {
  const counters = invariant(xenMap, 'counters-in-range');
  const check = (after: XenGtState): string | undefined =>
    counters.check({ before: null, command: null, result: null, after })?.message;

  test('holds on a granted and mapped state', () => {
    expect(check(runSteps([grant, map]).state)).toBeUndefined();
  });

  test('a pin counter below zero, a pin counter past 128, a tot_pages below zero, a live DMA cache entry at kref 0', () => {
    expect(check(edited((state) => void (state.xen.domains[1]!.active[0]!.devw = -1)))).toBe(
      'd1 active entry 0 devw is -1, outside its range',
    );
    expect(check(edited((state) => void (state.xen.domains[1]!.active[0]!.hstw = 129)))).toBe(
      'd1 active entry 0 hstw is 129, outside its range',
    );
    expect(check(edited((state) => void (state.xen.domains[1]!.totPages = -1)))).toBe(
      'd1 tot_pages is -1, outside its range',
    );
    const cached = edited((state) => {
      state.vgpu!.cache['5'] = { gfn: 5, dmaAddr: 7, kref: 0 };
    });
    expect(check(cached)).toBe('DMA cache kref of gfn 5 is 0, outside its range');
  });
});

describe('XenGT round-trip-returns-everything (grant map, then unmap of its handle)', () => {
  const granted = runSteps([grant]).state;
  function verdict(design: XenGtDesign): string | undefined {
    const step = design.step(granted, map);
    expect(step.result.ok).toBe(true);
    return invariant(design, 'round-trip-returns-everything').check({
      before: granted,
      command: map,
      result: step.result,
      after: step.state,
    })?.message;
  }

  test('the sound map is undone by the unmap of its handle', () => {
    expect(verdict(xenMap)).toBeUndefined();
  });

  test('an unmap that leaves the pins, or the page references, does not give back what the map took', () => {
    expect(verdict(mutant('unmap-skips-pin-drop'))).toMatch(
      /^after dom2 unmap_grant_ref handle 0 host_addr 0 dev_bus_addr \d+, grant pins is 2 where it was 0/,
    );
    expect(verdict(mutant('unmap-skips-page-put'))).toMatch(
      /page references is \d+ where it was \d+ before the request$/,
    );
  });
});
