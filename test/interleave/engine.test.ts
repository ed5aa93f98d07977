/**
 * The engine with operations that take time: generation leaves a few operations in flight and
 * advances them later (few preemptions, whatever the sequence's length), shrinking keeps only the
 * context switches a bug needs, reports show who ran each step, and the explorer finds the
 * shortest interleaving.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import { exploreDesign } from '../../src/explore.js';
import { preempt } from '../../src/generate.js';
import { formatDesignCheck } from '../../src/report.js';
import { phasedSpace } from '../../properties/generic/interleave.js';
import { lockedCounter, unlockedCounter } from './toy.js';
import type { CounterCommand } from './toy.js';

const add = (cpu: number): CounterCommand => ({ kind: 'add', cpu, by: 1 });
const space = phasedSpace<CounterCommand>({ add: 2 });

describe('preempt', () => {
  test('a preempted operation is started and advanced after its delay, with its place among those in flight', () => {
    const sequence = [add(0), add(1), add(0), add(1)];
    expect(preempt(sequence, space, [{ which: 0, delays: [2] }])).toEqual([
      { ...add(0), phased: true },
      add(1),
      add(0),
      { kind: 'advance', op: 0 },
      add(1),
    ]);
    // Two in flight at once: the second's advance names its place after the first has left.
    expect(
      preempt(sequence, space, [
        { which: 0, delays: [1] },
        { which: 1, delays: [2] },
      ]),
    ).toEqual([
      { ...add(0), phased: true },
      { ...add(1), phased: true },
      { kind: 'advance', op: 0 },
      add(0),
      add(1),
      { kind: 'advance', op: 0 },
    ]);
  });

  test('no preemption leaves the sequence as it was; a delay past the end advances at the end', () => {
    expect(preempt([add(0)], space, [])).toEqual([add(0)]);
    expect(preempt([add(0), add(1)], space, [{ which: 1, delays: [5] }])).toEqual([
      add(0),
      { ...add(1), phased: true },
      { kind: 'advance', op: 0 },
    ]);
  });
});

describe('aimed preemptions (race-directed)', () => {
  type Mixed = CounterCommand | { readonly kind: 'read'; readonly cpu: number };
  const read = (cpu: number): Mixed => ({ kind: 'read', cpu });
  const mixed = phasedSpace<Mixed>({ add: 2 }, { add: ['read'] });

  test('an aimed preemption picks an operation of its kind and runs its window commands right after the first phase', () => {
    const sequence: Mixed[] = [read(1), add(0), read(1), add(1)];
    // `which` counts among the adds only: the second add.
    expect(preempt(sequence, mixed, [{ kind: 'add', which: 1, delays: [1], window: [read(0), read(1)] }])).toEqual([
      read(1),
      add(0),
      read(1),
      { ...add(1), phased: true },
      read(0),
      read(1),
      { kind: 'advance', op: 0 },
    ]);
  });

  test('an aimed preemption whose kind the sequence lacks is dropped, window and all', () => {
    expect(preempt([read(0), read(1)], mixed, [{ kind: 'add', which: 0, delays: [1], window: [read(2)] }])).toEqual([
      read(0),
      read(1),
    ]);
  });

  test('the space reports conflicts per kind, none for a kind it does not list', () => {
    expect(mixed.conflicts?.('add')).toEqual(['read']);
    expect(mixed.conflicts?.('read')).toEqual([]);
  });
});

describe('checking interleavings', () => {
  test('a lost update needs one context switch: found, shrunk to it, shown as lanes', () => {
    const check = checkDesign(unlockedCounter, { seed: 3, runs: 300 });
    expect(check).toMatchObject({ verdict: 'violated', met: true });
    const [found] = check.violations;
    // Start an add, let the other CPU add, then finish the first: three steps, one in flight.
    expect(found!.length).toBe(3);
    expect(found!.steps.map((command) => command.kind)).toEqual(['add', 'add', 'advance']);
    expect(found!.steps.filter((command) => command.kind === 'add' && command.phased === true)).toHaveLength(1);
    const actors = found!.executed.map((step) => step.actor);
    expect(new Set(actors).size).toBe(2);
    expect(actors[0]).toBe(actors[2]);
    const report = formatDesignCheck(check, unlockedCounter);
    expect(report).toContain('as lanes:');
    expect(report).toMatch(/cpu[01] +│ cpu[01]/);
    expect(runTrace(unlockedCounter, found!.steps, { invariants: ['no-lost-update'] }).violations).toHaveLength(1);
  });

  test('with every operation atomic the same design holds: the bug lives in the window', () => {
    expect(checkDesign(unlockedCounter, { seed: 3, runs: 300, generation: { preemptions: 0 } }).verdict).toBe('holds');
  });

  test('the locked add holds under interleaving', () => {
    expect(checkDesign(lockedCounter, { seed: 3, runs: 1000 })).toMatchObject({ verdict: 'holds', met: true });
  });
});

describe('exploring interleavings', () => {
  test('the explorer finds the shortest interleaving; the locked add holds to depth 5', () => {
    const found = exploreDesign(unlockedCounter, { depth: 4 });
    expect(found.violations.map((counterexample) => counterexample.length)).toEqual([3]);
    expect(exploreDesign(lockedCounter, { depth: 5 })).toMatchObject({ verdict: 'holds' });
  });
});
