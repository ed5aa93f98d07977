/**
 * A user's own vIOMMU VMM, written against the package's entry point alone (`src/index.ts`): what
 * the VMM does with a trapped guest invalidation is a function of the trap returning the requests
 * it makes of the host, checked by the built-in invariants, and by the differential pair when the
 * variant only hurts the guest. The compiler checks it: the `@ts-expect-error` lines below fail
 * `tsc` (run by `npm test`) the day they stop being errors.
 */
import { describe, expect, test } from 'vitest';
import {
  checkDesign,
  replayGuestTable,
  syncAddressSpace,
  viommuDesign,
  viommuDifferentialDesign,
} from '../../src/index.js';
import type {
  ContextHandler,
  Design,
  InvalidationHandler,
  ViommuCommand,
  ViommuState,
  ViommuTemplate,
  VmmRequest,
} from '../../src/index.js';
import { expectNothingFound } from '../helpers.js';

/** A shadow VMM that replays the guest's whole table on every invalidation, whatever its range. */
const replayEverything: InvalidationHandler = (trap) => replayGuestTable({ ...trap, range: 'all' });

/** A shadow VMM that maps what the guest's table adds and never unmaps anything. */
const neverUnmaps: InvalidationHandler = (trap) =>
  replayGuestTable(trap).filter((request: VmmRequest) => request.kind !== 'unmapDma');

const sound: Design<ViommuState, ViommuCommand, ViommuTemplate> = viommuDesign({
  id: 'mine/replay-everything',
  mode: 'shadow',
  invalidation: replayEverything,
  world: { giovaPages: 6, ramPages: 6, frames: 10 },
  expected: 'holds',
  description: 'caching mode: the VMM replays the whole guest table on every trapped invalidation',
});

/** A shadow VMM that resyncs on a context-cache invalidation only what the new table maps: it never unmaps. */
const contextNeverUnmaps: ContextHandler = (trap) =>
  syncAddressSpace(trap).filter((request: VmmRequest) => request.kind !== 'unmapDma');

const lifecycle = viommuDesign({
  id: 'mine/context-never-unmaps',
  mode: 'shadow',
  context: contextNeverUnmaps,
  expected: 'violates',
  breaks: ['blocked-device-reaches-nothing', 'earlier-domain-unreachable'],
  description: "the VMM's context-cache resync maps the new domain's table and never unmaps the old one's",
});

const pair = viommuDifferentialDesign({
  id: 'mine/shadow-never-unmaps',
  shadow: { invalidation: neverUnmaps },
  expected: 'violates',
  breaks: ['shadow-and-nested-agree'],
  description: 'the shadow VMM maps what the guest adds and never unmaps what it removes',
});

/** Never called: what the compiler refuses about a VMM. */
export function refusedByTheCompiler(): void {
  // @ts-expect-error: a handler answers with requests, not with a new host
  const direct: InvalidationHandler = ({ state }) => state.host;
  // @ts-expect-error: a request the VMM cannot make (one MAP_DMA is one page, named by its GPA page)
  const request: VmmRequest = { kind: 'mapDma', iovaPage: 0, vaddrPage: 16, npages: 2 };
  // @ts-expect-error: a vIOMMU is shadow or nested
  viommuDesign({ id: 'x', mode: 'caching', expected: 'holds', description: 'x' });
  void [direct, request];
}

describe("a user's vIOMMU VMM, through the public API only", () => {
  test('a sound VMM written as a function, in a world of its own: nothing breaks', () => {
    expectNothingFound(checkDesign(sound, { seed: 3, runs: 100 }));
  });

  test('a VMM that only hurts the guest is caught by the differential pair', () => {
    const check = checkDesign(pair, { seed: 1, runs: 300, report: pair.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.met).toBe(true);
    // Map, unmap (the shadow VMM keeps its mapping), DMA: the nested device faults, the shadow one lands.
    expect(check.violations.map((found) => [found.invariant, found.length])).toEqual([['shadow-and-nested-agree', 3]]);
  });

  test("a VMM's own context-cache handler is judged by the lifecycle invariants", () => {
    const check = checkDesign(lifecycle, { seed: 1, runs: 100, report: lifecycle.breaks });
    expect(check.met).toBe(true);
    // Map, invalidate (shadowed), detach, invalidate the context: the device still reaches the page.
    expect(check.violations.map((found) => [found.invariant, found.length])).toEqual([
      ['blocked-device-reaches-nothing', 4],
      ['earlier-domain-unreachable', 4],
    ]);
  });
});
