/** The settings of a `dmaprop bench` run: full (the dashboard) or quick (the same measurements with tiny budgets). */
import { freshSeed } from './seed.js';

/** What one bench run measures and how much. */
export interface BenchSettings {
  readonly mode: 'full' | 'quick';
  /** Sequences generated per stack for the throughput comparison. */
  readonly sequences: number;
  /** Timed repetitions of the checked and raw passes (the median is reported). */
  readonly repetitions: number;
  /** Seed of the throughput sequences and of the end-to-end check. */
  readonly generationSeed: number;
  /** `checkDesign` runs of the end-to-end throughput figure. */
  readonly endToEndRuns: number;
  /** Seeds of the time-to-bug searches (fresh unless given). */
  readonly seeds: readonly number[];
  /** `checkDesign` runs per seed. */
  readonly runs: number;
  readonly exploreDepth: number;
  readonly exploreMaxStates: number;
  readonly shrinkDepth: number;
  readonly shrinkMaxStates: number;
  /** Spawn `npm test` and `npm run check`. */
  readonly suite: boolean;
}

export interface BenchSettingsOverrides {
  readonly seed?: number;
  readonly seedCount?: number;
  readonly runs?: number;
  readonly suite?: boolean;
}

/** Full mode: the dashboard. Quick mode: the same measurements with tiny budgets, for tests. */
export function benchSettings(quick: boolean, overrides: BenchSettingsOverrides = {}): BenchSettings {
  const seedCount = overrides.seedCount ?? (quick ? 3 : 20);
  const base = overrides.seed;
  const seeds =
    base === undefined
      ? freshSeeds(seedCount)
      : Array.from({ length: seedCount }, (_, index) => (base + index) % 2 ** 31);
  const common = { seeds, generationSeed: 20_250_101 };
  if (quick) {
    return {
      mode: 'quick',
      sequences: 40,
      repetitions: 1,
      endToEndRuns: 40,
      runs: overrides.runs ?? 100,
      exploreDepth: 2,
      exploreMaxStates: 300,
      shrinkDepth: 3,
      shrinkMaxStates: 2000,
      suite: false,
      ...common,
    };
  }
  return {
    mode: 'full',
    sequences: 1000,
    repetitions: 5,
    endToEndRuns: 1000,
    runs: overrides.runs ?? 1000,
    exploreDepth: 6,
    exploreMaxStates: 20_000,
    // Deep enough for the longest counterexample any scope holds (the vIOMMU shadow's 8 steps);
    // the state cap bounds the wider scopes.
    shrinkDepth: 8,
    shrinkMaxStates: 50_000,
    suite: overrides.suite ?? true,
    ...common,
  };
}

function freshSeeds(count: number): number[] {
  const seeds = new Set<number>();
  while (seeds.size < count) seeds.add(freshSeed());
  return [...seeds];
}
