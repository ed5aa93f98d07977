/**
 * Exploration: `exploreDesign` states and transitions per second on a stack's sound design, per
 * wall and per CPU second, on one thread and on two workers (`explore-parallel.ts`: the same
 * states and transitions; CPU time is every thread's, so the two show what the split costs).
 */
import type { BenchSettings } from './bench-settings.js';
import { perSecond, round } from './bench-measure.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';
import type { ExploreResult } from './explore.js';

export interface Exploration {
  readonly stack: string;
  readonly design: string;
  readonly depth: number;
  readonly maxStates: number;
  readonly depthReached: number;
  readonly limitReached: boolean;
  readonly states: number;
  readonly transitions: number;
  readonly ms: number;
  readonly statesPerSec: number;
  readonly transitionsPerSec: number;
  /** CPU time of the search (one thread); absent from results of older benches. */
  readonly cpuMs?: number;
  readonly statesPerCpuSec?: number;
  /** The same search on two worker threads (not in a quick run): the same states and transitions, the time it took. */
  readonly withWorkers?: {
    readonly workers: number;
    readonly states: number;
    readonly transitions: number;
    readonly ms: number;
    readonly cpuMs: number;
  };
  /** The same search with partial-order reduction, where the scope declares footprints: what it saves. */
  readonly withReduction: {
    readonly states: number;
    readonly transitions: number;
    readonly slept: number;
    readonly ms: number;
  } | null;
}

export function measureExploration(design: AnyDesign, settings: BenchSettings): Exploration {
  const options = { depth: settings.exploreDepth, maxStates: settings.exploreMaxStates };
  const cpu = (run: () => ExploreResult): { result: ExploreResult; cpuMs: number } => {
    const start = process.cpuUsage();
    const result = run();
    const used = process.cpuUsage(start);
    return { result, cpuMs: round((used.user + used.system) / 1000) };
  };
  const { result: explored, cpuMs } = cpu(() => exploreDesign(design, options));
  const workers = 2;
  // Not in a quick run: starting the workers (each loads the registry) would be most of its time.
  const parallel = settings.mode === 'quick' ? null : cpu(() => exploreDesign(design, { ...options, workers }));
  const reduced =
    design.explore?.footprint === undefined ? null : exploreDesign(design, { ...options, partialOrder: true });
  return {
    stack: design.stack,
    design: design.id,
    depth: settings.exploreDepth,
    maxStates: settings.exploreMaxStates,
    depthReached: explored.depthReached,
    limitReached: explored.limitReached,
    states: explored.states,
    transitions: explored.transitions,
    ms: round(explored.elapsedMs),
    statesPerSec: Math.round(perSecond(explored.states, explored.elapsedMs)),
    transitionsPerSec: Math.round(perSecond(explored.transitions, explored.elapsedMs)),
    cpuMs,
    statesPerCpuSec: Math.round(perSecond(explored.states, cpuMs)),
    ...(parallel === null
      ? {}
      : {
          withWorkers: {
            workers,
            states: parallel.result.states,
            transitions: parallel.result.transitions,
            ms: round(parallel.result.elapsedMs),
            cpuMs: parallel.cpuMs,
          },
        }),
    withReduction:
      reduced === null
        ? null
        : {
            states: reduced.states,
            transitions: reduced.transitions,
            slept: reduced.slept,
            ms: round(reduced.elapsedMs),
          },
  };
}
