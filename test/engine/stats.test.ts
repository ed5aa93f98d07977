/** Statistics of a default run: every command kind executes, and the counts add up. */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { DEFAULT_RUNS } from '../../src/cli.js';
import { formatStats, neverExecuted, statsJson, summarizeLengths, summarizeReach } from '../../src/stats.js';
import { soundDesignPerModel } from '../../src/design.js';
import { designs } from '../../properties/registry.js';
import { DEEP } from '../helpers.js';
import { ADVANCE } from '../../properties/generic/interleave.js';

/** Share of a default run's sequences that must reach each of a design's reach labels. */
const MIN_REACH_SHARE = 0.04;

/**
 * One design per stack and invariant set (its generators and world are every design's there),
 * and, in the deeper tier, every design that declares reach labels (they differ by configuration). A flawed design's
 * default run is the `check` of `npm run check`; its fixed-seed tests show it is caught.
 */
const subjects = [
  ...soundDesignPerModel(designs),
  // The other designs that declare reach labels: in the deeper tier (`npm run test:deep`).
  ...designs.filter((design) => DEEP && design.reach !== undefined && !soundDesignPerModel(designs).includes(design)),
];

/**
 * The seed of the 200-run check, 1 unless given: vfio/mixed's VFIO_SET_IOMMU succeeds only once
 * every group has left the container and one came back (9 runs in 1,000 at seed 1), which seed 1's
 * first 200 runs do not reach.
 */
const SEED: Readonly<Record<string, number>> = {
  'vfio/mixed': 2,
  // Since issue 21's aimed KVMGT generation (PPGTTs destroyed and faults armed more often), a 2M map
  // finding its first page cached at 4K is 2-3% of runs rather than 5%: seed 1's first 200 runs
  // reach it twice, one short of the scaled floor (seeds 2 to 4 meet it; 1,000 runs at seeds 1 to 3
  // reach it in 20 to 32). Seed 3 since the guest's stores grew to weight 44: seed 2's first 200
  // runs no longer execute a vgpuCreate (it succeeds only after a vgpuDestroy).
  'gvt/write-protect': 3,
};

describe('statistics', () => {
  test.for(subjects)(
    '$id: a default run meets the expectation, executes every command kind and reaches every reach label',
    (design) => {
      // A default run (1,000 runs: 1.5 to 3.5 s a design) is the deeper tier's; here 200 of them,
      // which execute every kind and reach every label too (the mediated driver's rarest kind,
      // VFIO_SET_IOMMU after every group left, within 200 runs at seed 1 but not at seeds 5 to 7).
      const runs = DEEP ? DEFAULT_RUNS : 200;
      const check = checkDesign(design, { seed: runs === DEFAULT_RUNS ? 1 : (SEED[design.id] ?? 1), runs, report: [] });
      const stats = check.stats;
      expect(check.met, `${design.id} meets its expectation over a default run`).toBe(true);
      expect(neverExecuted(stats, design.commands.kinds)).toEqual([]);
      // Each label with a floor meets it (the check is inconclusive otherwise); one without, a
      // non-trivial share: tens of runs out of a default thousand reach each state worth reaching.
      // Floors are a sound design's: a flawed design's run ends at its first violation, so one
      // that breaks every few runs reaches less (and its verdict, caught, does not rest on them).
      if (design.expected === 'violates') return;
      expect(check.unreached).toEqual([]);
      const required = (design.reach ?? []).filter((label) => design.reachFloors?.[label] === undefined);
      const rare = summarizeReach(stats, required).filter(
        (row) => required.includes(row.label) && row.shareOfRuns < MIN_REACH_SHARE,
      );
      expect(rare).toEqual([]);
    },
  );

  test('generated = executed + rejected per kind, and every invariant is checked after every step', () => {
    const design = designs[0]!;
    const { stats } = checkDesign(design, { seed: 2, runs: 50 });
    let steps = 0;
    // The scheduler's advances are generated too (a design whose operations take time).
    const kinds = [...design.commands.kinds, ...(design.commands.interleaving === undefined ? [] : [ADVANCE])];
    for (const kind of kinds) {
      const rejected = Object.values(stats.rejected[kind] ?? {}).reduce((sum, count) => sum + count, 0);
      expect(stats.generated[kind] ?? 0).toBe((stats.executed[kind] ?? 0) + rejected);
      steps += stats.generated[kind] ?? 0;
    }
    expect(steps).toBe(stats.lengths.reduce((sum, length) => sum + length, 0));
    // A sound design breaks nothing, so each invariant saw the initial state and every step.
    for (const invariant of design.invariants) expect(stats.checks[invariant.name]).toBe(steps + stats.lengths.length);
  });

  test('length summary', () => {
    expect(summarizeLengths([1, 5, 12, 40, 99])).toEqual({
      sequences: 5,
      min: 1,
      median: 12,
      p90: 99,
      max: 99,
      mean: 31.4,
      histogram: { '0-9': 2, '10-19': 1, '40-49': 1, '90-99': 1 },
    });
  });

  test('JSON lists every kind, executed or not', () => {
    const json = statsJson(
      {
        generated: { a: 2 },
        executed: { a: 1 },
        rejected: { a: { EINVAL: 1 } },
        checks: {},
        lengths: [2],
        reachSteps: {},
        reachRuns: {},
      },
      ['a', 'b'],
    );
    expect((json as { commands: unknown }).commands).toEqual({
      a: { generated: 2, executed: 1, rejected: { EINVAL: 1 } },
      b: { generated: 0, executed: 0, rejected: {} },
    });
  });

  test('reach: steps and runs per label, declared labels first and listed even when never reached', () => {
    const stats = {
      generated: { a: 3 },
      executed: { a: 3 },
      rejected: {},
      checks: {},
      lengths: [1, 1, 1, 1],
      reachSteps: { 'crosses a table': 3, extra: 1 },
      reachRuns: { 'crosses a table': 2, extra: 1 },
    };
    expect(summarizeReach(stats, ['never', 'crosses a table'])).toEqual([
      { label: 'never', steps: 0, runs: 0, shareOfRuns: 0, required: 0 },
      { label: 'crosses a table', steps: 3, runs: 2, shareOfRuns: 0.5, required: 0 },
      { label: 'extra', steps: 1, runs: 1, shareOfRuns: 0.25, required: 0 },
    ]);
    // With floors: the runs each declared label's floor requires, and the labels below theirs marked.
    const floors = formatStats(stats, ['a'], ['never', 'crosses a table'], (label) => (label === 'never' ? 1 : 2));
    expect(floors).toContain('never: 0 steps in 0 runs (0.0% of runs, floor 1)  ← below its floor');
    expect(floors).toContain('crosses a table: 3 steps in 2 runs (50.0% of runs, floor 2)\n');
    expect(floors).toContain('extra: 1 steps in 1 runs (25.0% of runs)');
    const text = formatStats(stats, ['a'], ['never', 'crosses a table']);
    expect(text).toContain('never: 0 steps in 0 runs (0.0% of runs)  ← never reached');
    expect(text).toContain('crosses a table: 3 steps in 2 runs (50.0% of runs)');
    expect((statsJson(stats, ['a'], ['never']) as { reach: unknown[] }).reach).toHaveLength(3);
  });

  test('a design that classifies steps gets its reach counted by checkDesign', () => {
    const design = designs.find((candidate) => candidate.id === 'iommu/lazy-held')!;
    const { stats } = checkDesign(design, { seed: 3, runs: 100, report: [] });
    const runsReaching = Object.values(stats.reachRuns);
    expect(runsReaching.length).toBeGreaterThan(0);
    for (const [label, runs] of Object.entries(stats.reachRuns)) {
      expect(runs, label).toBeLessThanOrEqual(stats.lengths.length);
      expect(stats.reachSteps[label], label).toBeGreaterThanOrEqual(runs);
    }
  });
});
