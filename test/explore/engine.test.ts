/** The explorer itself: shortest counterexamples, exhaustion, the state limit, shards, determinism. */
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { exploreDesign, mergeExplorations, stableJson } from '../../src/explore.js';
import type { ExploreResult } from '../../src/explore.js';
import { canonicalJson } from '../../src/corpus-entry.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';
import { counterDesign } from './counter-design.js';

const lengths = (result: ExploreResult): Record<string, number> =>
  Object.fromEntries(result.violations.map((found) => [found.invariant, found.length]));

const withoutTime = (result: ExploreResult): unknown => ({ ...result, elapsedMs: 0 });

describe('explore on a toy stack', () => {
  const counter = counterDesign();

  test('the first violating transition in breadth-first order gives each invariant its shortest trace', () => {
    const result = exploreDesign(counter, { depth: 4 });
    expect(result.verdict).toBe('violated');
    expect(result.met).toBe(true);
    expect(lengths(result)).toEqual({ 'below-three': 2, 'no-add-two-from-one': 2, 'starts-above-zero': 0 });
    const [belowThree, noTwo, initial] = result.violations;
    expect(belowThree!.steps).toEqual([
      { kind: 'add', by: 1 },
      { kind: 'add', by: 2 },
    ]);
    expect(noTwo!.class).toBe('effect');
    expect(initial!.steps).toEqual([]);
    expect(initial!.violation.message).toBe('n = 0');
  });

  test('a state space exhausted before the depth bound holds at every depth', () => {
    const sound = counterDesign({ expected: 'holds' });
    const result = exploreDesign(sound, { depth: 10 });
    expect(result).toMatchObject({ verdict: 'holds', met: true, depthReached: 10, states: 5, limitReached: false });
    // 5 states, each stepped once with each of the 3 commands; level 3 finds nothing new.
    expect(result.transitions).toBe(15);
  });

  test('the key decides what is the same state: without the reduction, more states', () => {
    const sound = counterDesign({ expected: 'holds' });
    const reduced = exploreDesign(sound, { depth: 10 });
    const plain = exploreDesign(sound, { depth: 10, key: stableJson });
    expect(plain.states).toBe(15);
    expect(plain.states).toBeGreaterThan(reduced.states);
    expect(plain.verdict).toBe(reduced.verdict);
  });

  test('the state limit stops the search with a clear message; verdict inconclusive', () => {
    const result = exploreDesign(counterDesign({ expected: 'holds' }), { depth: 5, maxStates: 3 });
    expect(result).toMatchObject({
      verdict: 'inconclusive',
      outcome: 'inconclusive',
      met: false,
      limitReached: true,
      states: 3,
      depthReached: 1,
    });
    expect(result.message).toBe('state limit 3 reached at depth 2; raise --max-states or lower --depth');
  });

  test('violations found before the limit are still reported, and still the shortest', () => {
    const result = exploreDesign(counter, { depth: 5, maxStates: 3 });
    expect(result).toMatchObject({ verdict: 'violated', met: true, limitReached: true, depthReached: 1 });
    expect(result.message).toBe('state limit 3 reached at depth 2; raise --max-states or lower --depth');
    expect(lengths(result)).toEqual({ 'below-three': 2, 'no-add-two-from-one': 2, 'starts-above-zero': 0 });
  });

  test('invariants can be selected; the search stops once each is broken', () => {
    const result = exploreDesign(counter, { depth: 20, invariants: ['below-three'] });
    expect(lengths(result)).toEqual({ 'below-three': 2 });
    expect(result.depthReached).toBe(1);
    expect(() => exploreDesign(counter, { depth: 2, invariants: ['nope'] })).toThrow("no invariant named 'nope'");
  });

  test('a design without a scope, or a depth below 1, is refused', () => {
    expect(() => exploreDesign(counterDesign({ explore: false }), { depth: 2 })).toThrow('declares no explore scope');
    expect(() => exploreDesign(counter, { depth: 0 })).toThrow('depth must be at least 1');
  });

  test('shards split the states by hash; merged, they are the whole search', () => {
    const whole = exploreDesign(counter, { depth: 4 });
    const shards = [1, 2].map((index) => exploreDesign(counter, { depth: 4, shard: { index, count: 2 } }));
    // The states do not overlap: each shard counts its own, and the counts add up.
    expect(shards.map((shard) => shard.states > 0)).toEqual([true, true]);
    expect(shards.reduce((sum, shard) => sum + shard.states, 0)).toBe(whole.states);
    expect(shards.reduce((sum, shard) => sum + shard.transitions, 0)).toBe(whole.transitions);
    const merged = mergeExplorations(counter, shards);
    expect(lengths(merged)).toEqual(lengths(whole));
    expect(merged.violations.map((found) => found.steps)).toEqual(whole.violations.map((found) => found.steps));
  });
});

describe('explore on XenGT', () => {
  test('xen/lookup: the XenGT lookup race and its root cause, shortest, replayable, in check shape', () => {
    const race = [
      'no-dma-to-foreign-frame',
      'no-dma-to-free-frame',
      'shadow-frame-owned-by-guest',
      'shadow-frame-held-by-backend',
    ];
    const result = exploreDesign(xenLookup, { depth: 4, invariants: race });
    expect(result.verdict).toBe('violated');
    expect(lengths(result)).toEqual({
      'no-dma-to-foreign-frame': 4,
      'no-dma-to-free-frame': 3,
      'shadow-frame-owned-by-guest': 2,
      'shadow-frame-held-by-backend': 1,
    });
    for (const found of result.violations) {
      const replay = runTrace(xenLookup, found.steps, { invariants: [found.invariant] });
      expect(replay.steps).toEqual(found.executed);
      expect(replay.violations[0]?.afterStep).toBe(found.length);
    }
    expect(result.violations[0]!.steps.map((step) => (step as { kind: string }).kind)).toEqual([
      'gttWrite',
      'decreaseReservation',
      'populatePhysmap',
      'gpuDma',
    ]);
  });

  test('two explorations agree', () => {
    const first = exploreDesign(xenLookup, { depth: 2 });
    const second = exploreDesign(xenLookup, { depth: 2 });
    expect(withoutTime(second)).toEqual(withoutTime(first));
    expect(first.states).toBeGreaterThan(1);
  });

  test('the state limit on a real stack', () => {
    const result = exploreDesign(xenMap, { depth: 3, maxStates: 50 });
    expect(result).toMatchObject({ verdict: 'inconclusive', met: false, states: 50, depthReached: 1 });
    expect(result.message).toBe('state limit 50 reached at depth 2; raise --max-states or lower --depth');
  });

  test('xen/lookup in three shards: the unsharded counts and counterexamples', () => {
    const whole = exploreDesign(xenLookup, { depth: 2 });
    const shards = [1, 2, 3].map((index) => exploreDesign(xenLookup, { depth: 2, shard: { index, count: 3 } }));
    const merged = mergeExplorations(xenLookup, shards);
    expect(lengths(merged)).toEqual(lengths(whole));
    expect(merged.violations.map((found) => found.steps)).toEqual(whole.violations.map((found) => found.steps));
    expect(merged.states).toBe(whole.states);
    expect(merged.transitions).toBe(whole.transitions);
  });

  test('stableJson is canonicalJson', () => {
    const value = { b: [1, { d: null, c: 'x' }], a: true, e: { z: 1, y: [] } };
    expect(stableJson(value)).toBe(canonicalJson(value));
    expect(stableJson(xenMap.init())).toBe(canonicalJson(xenMap.init()));
  });
});
