/** Exploration: `exploreDesign` states and transitions per second on a stack's sound design. */
import type { BenchSettings } from './bench-settings.js';
import { perSecond, round } from './bench-measure.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';

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
  const explored = exploreDesign(design, options);
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
