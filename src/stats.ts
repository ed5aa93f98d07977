/**
 * Run statistics: per command kind, how often it was generated, executed (accepted) and
 * rejected (by which error); per invariant, how many checks were made; the distribution of
 * sequence lengths. They show what a run actually explored — a kind that never executes is a
 * hole in the generators, not a pass.
 */
export interface RunStats {
  generated: Record<string, number>;
  executed: Record<string, number>;
  rejected: Record<string, Record<string, number>>;
  checks: Record<string, number>;
  lengths: number[];
  /** Reach labels (`Design.classify`): steps that reached each, and runs with at least one such step. */
  reachSteps: Record<string, number>;
  reachRuns: Record<string, number>;
}

export function createStats(): RunStats {
  return { generated: {}, executed: {}, rejected: {}, checks: {}, lengths: [], reachSteps: {}, reachRuns: {} };
}

export function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

export interface LengthSummary {
  readonly sequences: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly max: number;
  readonly mean: number;
  /** Sequences per length bucket of ten: `"0-9": 12, "10-19": 40, …`. */
  readonly histogram: Readonly<Record<string, number>>;
}

export function summarizeLengths(lengths: readonly number[]): LengthSummary {
  const sorted = [...lengths].sort((left, right) => left - right);
  const at = (fraction: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
  const histogram: Record<string, number> = {};
  for (const length of sorted) {
    const low = Math.floor(length / 10) * 10;
    bump(histogram, `${low}-${low + 9}`);
  }
  const total = sorted.reduce((sum, length) => sum + length, 0);
  return {
    sequences: sorted.length,
    min: sorted[0] ?? 0,
    median: at(0.5),
    p90: at(0.9),
    max: sorted[sorted.length - 1] ?? 0,
    mean: sorted.length === 0 ? 0 : Math.round((total / sorted.length) * 10) / 10,
    histogram,
  };
}

export interface ReachSummary {
  readonly label: string;
  readonly steps: number;
  readonly runs: number;
  /** Share of all runs that reached the label at least once, 0..1. */
  readonly shareOfRuns: number;
  /** Runs its floor requires at this budget (0 for a label the design does not declare). */
  readonly required: number;
}

/** The runs a label's floor requires at a budget of `runs` (`requiredReach` bound to a design). */
export type RequiredReach = (label: string, runs: number) => number;

/**
 * Each reach label with its step and run counts (labels listed in `reach` first, zero counts
 * included), and the runs its floor requires.
 */
export function summarizeReach(
  stats: RunStats,
  reach: readonly string[] = [],
  required: RequiredReach = () => 0,
): ReachSummary[] {
  const labels = [...reach, ...Object.keys(stats.reachSteps).filter((label) => !reach.includes(label))];
  const runs = stats.lengths.length;
  return labels.map((label) => {
    const reachedRuns = stats.reachRuns[label] ?? 0;
    return {
      label,
      steps: stats.reachSteps[label] ?? 0,
      runs: reachedRuns,
      shareOfRuns: runs === 0 ? 0 : Math.round((reachedRuns / runs) * 1000) / 1000,
      required: reach.includes(label) ? required(label, runs) : 0,
    };
  });
}

/** Stats as JSON: counts per kind and invariant, and the length summary instead of every length. */
export function statsJson(
  stats: RunStats,
  kinds: readonly string[],
  reach: readonly string[] = [],
  required?: RequiredReach,
): unknown {
  return {
    commands: Object.fromEntries(
      kinds.map((kind) => [
        kind,
        {
          generated: stats.generated[kind] ?? 0,
          executed: stats.executed[kind] ?? 0,
          rejected: stats.rejected[kind] ?? {},
        },
      ]),
    ),
    checks: stats.checks,
    lengths: summarizeLengths(stats.lengths),
    reach: summarizeReach(stats, reach, required),
  };
}

export function formatStats(
  stats: RunStats,
  kinds: readonly string[],
  reach: readonly string[] = [],
  required?: RequiredReach,
): string {
  const width = Math.max(...kinds.map((kind) => kind.length));
  const lines = [`  ${'command'.padEnd(width)}  generated  executed  rejected (by error)`];
  for (const kind of kinds) {
    const rejected = Object.entries(stats.rejected[kind] ?? {}).sort((left, right) => right[1] - left[1]);
    const rejectedTotal = rejected.reduce((sum, [, count]) => sum + count, 0);
    const detail = rejected.map(([error, count]) => `${error} ${count}`).join(', ');
    const never = (stats.executed[kind] ?? 0) === 0 ? '  ← never executed' : '';
    lines.push(
      `  ${kind.padEnd(width)}  ${String(stats.generated[kind] ?? 0).padStart(9)}  ${String(stats.executed[kind] ?? 0).padStart(8)}  ${String(rejectedTotal).padStart(8)}${detail === '' ? '' : ` (${detail})`}${never}`,
    );
  }
  const lengths = summarizeLengths(stats.lengths);
  lines.push(
    `  sequence length: min ${lengths.min}, median ${lengths.median}, p90 ${lengths.p90}, max ${lengths.max}, mean ${lengths.mean} over ${lengths.sequences} sequences`,
  );
  const checks = Object.entries(stats.checks);
  lines.push(`  invariant checks: ${checks.map(([name, count]) => `${name} ${count}`).join(', ')}`);
  const reached = summarizeReach(stats, reach, required);
  if (reached.length > 0) {
    lines.push('  reached:');
    for (const row of reached) {
      const percent = `${(row.shareOfRuns * 100).toFixed(1)}%`;
      const floor = row.required > 0 ? `, floor ${row.required}` : '';
      const mark = row.runs < row.required ? '  ← below its floor' : row.runs === 0 ? '  ← never reached' : '';
      lines.push(`    ${row.label}: ${row.steps} steps in ${row.runs} runs (${percent} of runs${floor})${mark}`);
    }
  }
  return lines.join('\n');
}

/** Command kinds that never executed successfully. */
export function neverExecuted(stats: RunStats, kinds: readonly string[]): string[] {
  return kinds.filter((kind) => (stats.executed[kind] ?? 0) === 0);
}
