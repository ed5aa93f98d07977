/** Shrink quality: the shrunk lengths of the time-to-bug seeds against the shortest counterexample `exploreDesign` finds. */
import type { BenchSettings } from './bench-settings.js';
import type { TimeToBug } from './bench-time-to-bug.js';
import { median, round } from './bench-measure.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';

export interface ShrinkQualityRow {
  readonly invariant: string;
  /** Shortest counterexample in the explore scope within the depth bound; null: none found there. */
  readonly shortest: number | null;
  /** Shrunk lengths over the time-to-bug seeds that broke it. */
  readonly shrunk: {
    readonly seeds: number;
    readonly min: number;
    readonly median: number;
    readonly max: number;
  } | null;
  /** Seeds whose shrunk length equals the shortest. */
  readonly optimal: number;
}

export interface ShrinkQuality {
  readonly design: string;
  readonly stack: string;
  readonly depth: number;
  readonly maxStates: number;
  readonly depthReached: number;
  readonly states: number;
  readonly ms: number;
  readonly limitReached: boolean;
  readonly invariants: readonly ShrinkQualityRow[];
}

export function measureShrinkQuality(design: AnyDesign, settings: BenchSettings, timeToBug: TimeToBug): ShrinkQuality {
  const explored = exploreDesign(design, { depth: settings.shrinkDepth, maxStates: settings.shrinkMaxStates });
  const shrunkBy = new Map<string, number[]>();
  for (const row of timeToBug.perSeed) {
    for (const shrink of row.shrinks) {
      const lengths = shrunkBy.get(shrink.invariant) ?? [];
      lengths.push(shrink.length);
      shrunkBy.set(shrink.invariant, lengths);
    }
  }
  const invariants = design.invariants.flatMap((invariant): ShrinkQualityRow[] => {
    const shortest = explored.violations.find((counterexample) => counterexample.invariant === invariant.name);
    const lengths = shrunkBy.get(invariant.name) ?? [];
    if (shortest === undefined && lengths.length === 0) return [];
    return [
      {
        invariant: invariant.name,
        shortest: shortest?.length ?? null,
        shrunk:
          lengths.length === 0
            ? null
            : { seeds: lengths.length, min: Math.min(...lengths), median: median(lengths), max: Math.max(...lengths) },
        optimal: shortest === undefined ? 0 : lengths.filter((length) => length === shortest.length).length,
      },
    ];
  });
  return {
    design: design.id,
    stack: design.stack,
    depth: settings.shrinkDepth,
    maxStates: settings.shrinkMaxStates,
    depthReached: explored.depthReached,
    states: explored.states,
    ms: round(explored.elapsedMs),
    limitReached: explored.limitReached,
    invariants,
  };
}
