/**
 * Feedback-guided generation (`src/guidance.ts`): what a pilot teaches, and that a guided check is
 * still a pure function of its seed and budget — replayable, shardable, its pilot the unguided runs.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { checkDesign, counterexampleFor } from '../../src/check.js';
import type { CheckOptions, DesignCheck } from '../../src/check.js';
import { violates } from '../../src/execute.js';
import { MOST_SEEDS, PILOT_RUNS, SwitchingArbitrary, guidedArbitrary, learnGuidance } from '../../src/guidance.js';
import type { PilotRun } from '../../src/guidance.js';
import { mergeChecks } from '../../src/merge.js';
import { replayCommand } from '../../src/replay-command.js';

/** A pilot run that met each situation at the step given, with commands `c1`, `c2`, … */
function pilotRun(firstAt: Record<string, number>, length = 5): PilotRun {
  return { firstAt, templates: Array.from({ length }, (_, index) => ({ kind: `c${index + 1}` })) };
}

describe('what a pilot teaches', () => {
  test('each rare situation, rarest first, seeds the commands of the first run that met it, up to its step', () => {
    const common = Array.from({ length: 95 }, () => pilotRun({ 'map ok': 1 }));
    const pilot = [
      ...common,
      pilotRun({ 'map ok': 1, 'unmap EBUSY': 3 }),
      pilotRun({ 'map ok': 1, 'unmap EBUSY': 2, 'crosses a table': 4 }),
      ...Array.from({ length: 3 }, () => pilotRun({ 'map ok': 1 })),
    ];
    const guidance = learnGuidance(pilot);
    expect(guidance.pilotRuns).toBe(100);
    // `map ok` is in every run: not rare. The rarest first; a seed is the first run's prefix.
    expect(guidance.targets).toEqual(['crosses a table', 'unmap EBUSY']);
    expect(guidance.seeds).toEqual([
      [{ kind: 'c1' }, { kind: 'c2' }, { kind: 'c3' }, { kind: 'c4' }],
      [{ kind: 'c1' }, { kind: 'c2' }, { kind: 'c3' }],
    ]);
  });

  test('situations met at the same step of the same run share a seed; at most 16 seeds', () => {
    const shared = learnGuidance([pilotRun({ a: 2, b: 2 }), ...Array.from({ length: 19 }, () => pilotRun({}))]);
    expect(shared.targets).toEqual(['a']);
    const many = learnGuidance(
      Array.from({ length: 40 }, (_, index) => pilotRun({ [`s${index}`]: 1 + (index % 5) }, 6)),
    );
    expect(many.seeds).toHaveLength(MOST_SEEDS);
    expect(learnGuidance(Array.from({ length: 10 }, () => pilotRun({ a: 1 })))).toEqual({
      pilotRuns: 10,
      targets: [],
      seeds: [],
    });
  });

  test('after the pilot, half of the runs start from a seed, cut to the longest sequence', () => {
    const guidance = { pilotRuns: 1, targets: ['t'], seeds: [[{ kind: 'seed' }, { kind: 'seed' }]] };
    const fresh = fc.array(fc.constant<{ kind: string }>({ kind: 'fresh' }), { minLength: 1, maxLength: 3 });
    const traces = fc.sample(guidedArbitrary(fresh, guidance, 4), { seed: 3, numRuns: 200 });
    const seeded = traces.filter((trace) => trace[0]?.kind === 'seed');
    expect(seeded.length).toBeGreaterThan(50);
    expect(seeded.length).toBeLessThan(150);
    for (const trace of traces) expect(trace.length).toBeLessThanOrEqual(4);
  });

  test('the switching arbitrary generates its first values with the first arbitrary and shrinks each with its own', () => {
    const switching = new SwitchingArbitrary(fc.constant(-1), 3, () => fc.integer({ min: 10, max: 20 }));
    const values = fc.sample(switching, { seed: 1, numRuns: 6 });
    expect(values.slice(0, 3)).toEqual([-1, -1, -1]);
    for (const value of values.slice(3)) expect(value).toBeGreaterThanOrEqual(10);
    const failing = fc.check(
      fc.property(new SwitchingArbitrary(fc.constant(-1), 3, () => fc.integer({ min: 10, max: 20 })), (n) => n < 15),
      { seed: 1, numRuns: 50 },
    );
    expect(failing.counterexample).toEqual([15]);
  });
});

/** What a check decided and found, without timings. */
function comparable(check: DesignCheck): unknown {
  return {
    verdict: check.verdict,
    brokenAt: check.brokenAt,
    steps: check.violations.map((found) => [
      found.invariant,
      found.steps.map((step) => (step as { command: unknown }).command),
    ]),
    generated: check.stats.generated,
    reachRuns: check.stats.reachRuns,
    guidance: check.guidance,
  };
}

describe('a guided check', () => {
  const design = designs.find((candidate) => candidate.id === 'kvmgt/ignores-unmap')!;
  const options: CheckOptions = { seed: 5, runs: PILOT_RUNS + 60, guided: true, minimize: false };
  const guided = checkDesign(design, options);

  test('learns from its pilot, is the same check from the same seed, and replays with --guided', () => {
    expect(guided.guidance?.pilotRuns).toBe(PILOT_RUNS);
    expect(guided.budget.guided).toBe(true);
    expect(comparable(checkDesign(design, options))).toEqual(comparable(guided));
    expect(replayCommand(guided).command).toContain('--guided');
    // Its counterexamples replay, each from the guided search at its run.
    expect(guided.violations.length).toBeGreaterThan(0);
    for (const found of guided.violations) expect(violates(design, found.steps, found.invariant)).toBe(true);
  });

  test('its pilot is the unguided check; what follows is generated differently', () => {
    const pilotOnly = { seed: 5, runs: PILOT_RUNS, minimize: false };
    const guidedPilot = checkDesign(design, { ...pilotOnly, guided: true });
    expect(guidedPilot.guidance).toBeNull();
    expect(comparable(guidedPilot)).toEqual(comparable(checkDesign(design, pilotOnly)));
    const unguided = checkDesign(design, { ...options, guided: false });
    expect(unguided.stats.generated).not.toEqual(guided.stats.generated);
  });

  test('shards learn the same guidance and merge into the whole', () => {
    const parts = [1, 2].map((index) => checkDesign(design, { ...options, shard: { index, count: 2 } }));
    for (const part of parts) expect(part.guidance).toEqual(guided.guidance);
    expect(comparable(mergeChecks(design, parts))).toEqual(comparable(guided));
  });

  test('a counterexample search given the learned guidance finds the run the check found', () => {
    const [first] = guided.brokenAt;
    expect(first).toBeDefined();
    const found = counterexampleFor(design, first!.invariant, {
      ...options,
      runs: first!.run,
      guidance: guided.guidance!,
    });
    expect(found).not.toBeNull();
  });
});
