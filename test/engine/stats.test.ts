/** Statistics of a default run: every command kind executes, and the counts add up. */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { DEFAULT_RUNS } from '../../src/cli.js';
import { neverExecuted, statsJson, summarizeLengths, summarizeReach } from '../../src/stats.js';
import { designs } from '../../properties/registry.js';

/** Share of a default run's sequences that must reach each of a design's reach labels. */
const MIN_REACH_SHARE = 0.04;

describe('statistics', () => {
  test.for(designs)(
    '$id: a default run meets the expectation, executes every command kind and reaches every reach label',
    (design) => {
      const check = checkDesign(design, { seed: 1, runs: DEFAULT_RUNS, report: [] });
      const stats = check.stats;
      expect(check.met, `${design.id} meets its expectation over a default run`).toBe(true);
      expect(neverExecuted(stats, design.commands.kinds)).toEqual([]);
      // A non-trivial share: tens of runs out of a default thousand reach each state worth reaching.
      const required = design.reach ?? [];
      const rare = summarizeReach(stats, required).filter(
        (row) => required.includes(row.label) && row.shareOfRuns < MIN_REACH_SHARE,
      );
      expect(rare).toEqual([]);
    },
  );

  test('generated = executed + rejected per kind, and every invariant is checked after every step', () => {
    const design = designs[0]!;
    const { stats } = checkDesign(design, { seed: 2, runs: 200 });
    let steps = 0;
    for (const kind of design.commands.kinds) {
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
});
