/**
 * Putting the shards of one check back together. Shards that split a seed's runs (`--shard i/n`
 * with fewer seeds than shards) each hold part of the search; merged, they are the check the
 * unsharded run makes: the same runs, first failures, counterexamples (each from the shard that
 * met the failure first, which searched exactly the runs the unsharded search would have), crash,
 * statistics and verdict. The sharding test holds the two equal.
 */
import { decide, outcomeOf } from './check.js';
import type { DesignCheck } from './check.js';
import type { AnyDesign } from './design.js';
import { createStats } from './stats.js';
import type { RunStats } from './stats.js';

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
}

/**
 * Statistics of the shards as one: counts summed, and sequence lengths in run order (run k of the
 * check is the ⌊(k − 1)/n⌋-th run of shard ((k − 1) mod n) + 1).
 */
function mergeStats(parts: readonly DesignCheck[]): RunStats {
  const merged = createStats();
  for (const { stats } of parts) {
    addCounts(merged.generated, stats.generated);
    addCounts(merged.executed, stats.executed);
    for (const [kind, errors] of Object.entries(stats.rejected)) addCounts((merged.rejected[kind] ??= {}), errors);
    addCounts(merged.checks, stats.checks);
    addCounts(merged.reachSteps, stats.reachSteps);
    addCounts(merged.reachRuns, stats.reachRuns);
  }
  const byShard = new Map(parts.map((part) => [part.budget.shard?.index ?? 1, part.stats.lengths]));
  const count = parts[0]?.budget.shard?.count ?? 1;
  const longest = Math.max(0, ...parts.map((part) => part.stats.lengths.length));
  for (let position = 0; position < longest; position++) {
    for (let index = 1; index <= count; index++) {
      const length = byShard.get(index)?.[position];
      if (length !== undefined) merged.lengths.push(length);
    }
  }
  return merged;
}

function earliest<T extends { run: number }>(items: readonly (T | null)[]): T | null {
  let best: T | null = null;
  for (const item of items) if (item !== null && (best === null || item.run < best.run)) best = item;
  return best;
}

/** Merges the run shards of one design's check with one seed (every shard of it, each once). */
export function mergeChecks(design: AnyDesign, parts: readonly DesignCheck[]): DesignCheck {
  const [first] = parts;
  if (first === undefined) throw new Error('mergeChecks: no checks');
  for (const part of parts) {
    if (part.design !== design.id || part.seed !== first.seed || part.budget.runs !== first.budget.runs) {
      throw new Error('mergeChecks: the checks are not shards of one check (design, seed and runs differ)');
    }
  }
  const count = first.budget.shard?.count ?? 1;
  const indices = parts.map((part) => part.budget.shard?.index ?? 1).sort((left, right) => left - right);
  if (indices.length !== count || indices.some((index, position) => index !== position + 1)) {
    throw new Error(`mergeChecks: expected shards 1…${count} once each, got ${indices.join(', ')}`);
  }
  const brokenAt = new Map<string, number>();
  for (const part of parts) {
    for (const broken of part.brokenAt) {
      const known = brokenAt.get(broken.invariant);
      if (known === undefined || broken.run < known) brokenAt.set(broken.invariant, broken.run);
    }
  }
  // Each invariant's counterexample comes from the shard whose first failure is the check's first.
  const violations = design.invariants.flatMap((invariant) => {
    const run = brokenAt.get(invariant.name);
    const owner = parts.find((part) =>
      part.brokenAt.some((broken) => broken.invariant === invariant.name && broken.run === run),
    );
    const counterexample = owner?.violations.find((found) => found.invariant === invariant.name);
    return counterexample === undefined ? [] : [counterexample];
  });
  const crashedAt = earliest(parts.map((part) => part.crashedAt));
  const crashOwner = parts.find((part) => part.crashedAt !== null && part.crashedAt.run === crashedAt?.run);
  const cut = parts.find((part) => part.cutShort !== null);
  const cutShort = cut === undefined ? null : cut.cutShort;
  const runs = parts.reduce((sum, part) => sum + part.runs, 0);
  const stats = mergeStats(parts);
  const decided = decide(design, { runs, cutShort, brokenAt, crashedAt, stats });
  const firstFailure = earliest(parts.map((part) => part.firstFailure));
  return {
    ...first,
    ...decided,
    outcome: outcomeOf({ ...decided, expected: design.expected, cutShort }),
    runs,
    lastRun: Math.max(...parts.map((part) => part.lastRun)),
    budget: { ...first.budget, shard: null },
    elapsedMs: Math.max(...parts.map((part) => part.elapsedMs)),
    interrupted: parts.some((part) => part.interrupted),
    cutShort,
    firstFailure,
    brokenAt: design.invariants.flatMap((invariant) => {
      const run = brokenAt.get(invariant.name);
      return run === undefined ? [] : [{ invariant: invariant.name, run }];
    }),
    violations,
    crashedAt,
    crashedRuns: parts.reduce((sum, part) => sum + part.crashedRuns, 0),
    crash: crashOwner?.crash ?? null,
    stats,
  };
}
