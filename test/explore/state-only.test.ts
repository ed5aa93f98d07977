/**
 * State-only invariants (those that declare `reads`) are checked once per distinct state, when the
 * search first reaches it; the others on every transition. Checked against `everyTransition`,
 * which checks every invariant on every transition as the explorer used to: the same verdicts,
 * the same shortest traces, the same states and transitions.
 */
import { describe, expect, test } from 'vitest';
import { DEEP } from '../helpers.js';
import type { Invariant } from '../../src/design.js';
import { canonicalJson } from '../../src/corpus-entry.js';
import { exploreDesign, stableJson } from '../../src/explore.js';
import type { ExploreResult } from '../../src/explore.js';
import { findDesign } from '../../properties/registry.js';
import { counterDesign } from './counter-design.js';
import type { Counter, CounterCommand } from './counter-design.js';

const withoutTime = (result: ExploreResult): unknown => ({ ...result, elapsedMs: 0 });

/** A state-only invariant that counts how often it is asked, and never fails. */
function counted(): { invariant: Invariant<Counter, CounterCommand>; calls: () => number } {
  let calls = 0;
  return {
    invariant: {
      name: 'at-most-four',
      class: 'accounting',
      description: 'the counter never passes its cap',
      reads: (state) => [state.n],
      check: ({ after }) => {
        calls += 1;
        return after.n <= 4 ? null : { message: `n = ${after.n}`, actual: String(after.n), expected: '≤ 4' };
      },
    },
    calls: () => calls,
  };
}

/** Breaks only on a transition into a state already visited: reset from 2 (back to 0). */
const noResetFromTwo: Invariant<Counter, CounterCommand> = {
  name: 'no-reset-from-two',
  class: 'effect',
  description: 'nobody resets a counter at 2 (a property of the transition: 0 is the initial state)',
  check: ({ before, command }) =>
    before?.n === 2 && command?.kind === 'reset'
      ? { message: 'reset at 2', actual: 'reset at 2', expected: 'anything else' }
      : null,
};

/** Breaks on a state: reached first by add 1, add 2 (depth 2), also by add 2, add 1. */
const belowThree: Invariant<Counter, CounterCommand> = {
  name: 'below-three',
  class: 'latent',
  description: 'the counter stays below 3',
  reads: (state) => [state.n],
  check: ({ after }) => (after.n < 3 ? null : { message: `n = ${after.n}`, actual: String(after.n), expected: '< 3' }),
};

describe('state-only invariants on a toy stack', () => {
  test('a state-only invariant is asked once per distinct state; with everyTransition, on every transition', () => {
    const once = counted();
    const sound = { ...counterDesign({ expected: 'holds' }), invariants: [once.invariant] };
    const result = exploreDesign(sound, { depth: 10 });
    expect(result.states).toBe(5);
    expect(once.calls()).toBe(result.states);
    const every = counted();
    const reference = exploreDesign({ ...sound, invariants: [every.invariant] }, { depth: 10, everyTransition: true });
    expect(every.calls()).toBe(reference.transitions + 1);
    expect(withoutTime(result)).toEqual(withoutTime(reference));
  });

  test('an invariant reading before is still checked on a transition into a known state', () => {
    const flawed = {
      ...counterDesign(),
      breaks: ['no-reset-from-two', 'below-three'],
      invariants: [noResetFromTwo, belowThree],
    };
    const result = exploreDesign(flawed, { depth: 3 });
    expect(result.verdict).toBe('violated');
    expect(result.met).toBe(true);
    const [reset, three] = result.violations;
    expect(reset?.steps).toEqual([{ kind: 'add', by: 2 }, { kind: 'reset' }]);
    expect(three?.steps).toEqual([
      { kind: 'add', by: 1 },
      { kind: 'add', by: 2 },
    ]);
    expect(withoutTime(result)).toEqual(withoutTime(exploreDesign(flawed, { depth: 3, everyTransition: true })));
  });
});

// Flawed designs of several stacks, at depths where some of their counterexamples lie (state-only
// and transition invariants both): checked once per state or on every transition, the
// explorations are equal.
const cases: readonly { readonly id: string; readonly depth: number }[] = [
  { id: 'xen/lookup', depth: 2 },
  { id: 'vfio/noiommu', depth: 2 },
  { id: 'mdev/ignores-unmap', depth: 3 },
  { id: 'kvmgt/ignores-unmap', depth: 2 },
  { id: 'gvt/no-write-protect', depth: 2 },
  { id: 'viommu/te-on-keeps-no-dmar', depth: 2 },
  // The dearest (2 to 4 s) in the deeper tier only.
  ...(DEEP ? [{ id: 'xenpt/shared-scratch', depth: 2 }] : []),
  { id: 'iommufd/access-ignores-unmap', depth: 3 },
];

describe('once per state and on every transition: the same explorations', () => {
  test.for(cases)('$id to depth $depth', ({ id, depth }) => {
    const design = findDesign(id);
    if (design === undefined) throw new Error(`no design ${id}`);
    const once = exploreDesign(design, { depth });
    const every = exploreDesign(design, { depth, everyTransition: true });
    expect(once.violations.length).toBeGreaterThan(0);
    expect(withoutTime(once)).toEqual(withoutTime(every));
  });
});

/**
 * The text stableJson gave before it was written for speed: keys in default sort order (by UTF-16
 * code units, so "10" before "9", unlike canonicalJson). Explore keys built on it must not change.
 */
function reference(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return 'null';
  if (Array.isArray(value)) {
    const items: unknown[] = value;
    return `[${items.map((item) => (item === undefined || typeof item === 'function' ? 'null' : reference(item))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const fields = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined && typeof record[key] !== 'function')
    .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`);
  return `{${fields.join(',')}}`;
}

describe('stableJson, the text of several stacks explore keys, is the text it was', () => {
  test('on awkward values: unsorted, numeric and quoted keys, undefined, functions, non-finite numbers', () => {
    const values: unknown[] = [
      { b: 1, a: { 10: 'x', 9: 'y', 2: null }, 'key "quoted"': [undefined, () => 1, Number.NaN, -0, 1.5] },
      { z: undefined, y: () => 2, x: Infinity, w: [[], {}], v: 'é\n' },
      [
        { c: 1, b: 2, a: 3 },
        { a: 3, b: 2, c: 1 },
      ],
    ];
    for (const value of values) expect(stableJson(value)).toBe(reference(value));
    expect(stableJson({ b: 1, a: [true, null] })).toBe(canonicalJson({ b: 1, a: [true, null] }));
  });

  test.for(['iommu/lazy', 'viommu/shadow'])('on the states %s reaches in two steps', (id) => {
    const design = findDesign(id);
    if (design?.explore === undefined) throw new Error(`no scope for ${id}`);
    const states: unknown[] = [];
    exploreDesign(design, {
      depth: 2,
      key: (state) => {
        if (states.length < 200) states.push(state);
        return stableJson(state);
      },
    });
    expect(states.length).toBeGreaterThan(10);
    for (const state of states) expect(stableJson(state)).toBe(reference(state));
  });
});
