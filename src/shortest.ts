/**
 * The last shrinking move, for designs with an explore scope: a breadth-first search of the scope,
 * one step shallower than the minimized counterexample, for a shorter trace breaking the same
 * invariant. The minimizer only removes steps and changes their values; it never changes a
 * command's kind, and some bugs have a shorter counterexample of another shape (an HVM guest's
 * two gfn moves that free a frame its IOMMU table still maps, where a balloon-out does it in one).
 * The search finds the shortest within the scope, or proves none shorter exists there.
 *
 * Bounded by a state budget: when the search reaches it first, the minimized trace stays, and the
 * counterexample says the search was cut short (`shortest: 'limit'`).
 */
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';

/** What the search did to one counterexample. */
export type ShortestOutcome =
  /** A shorter trace was found in the scope and replaces the minimized one. */
  | 'shorter'
  /** No shorter trace exists in the scope: the minimized one is as short as the scope allows. */
  | 'confirmed'
  /** The state budget ran out first: the minimized trace stays, unconfirmed. */
  | 'limit';

export interface ShortestSearch {
  readonly outcome: ShortestOutcome;
  /** The shorter trace's commands, when one was found. */
  readonly commands: readonly unknown[] | null;
  readonly states: number;
}

/** Default state budget of the search (`check --shortest`). */
export const SHORTEST_MAX_STATES = 20_000;

/**
 * Searches `design`'s scope for a trace shorter than `length` steps breaking `invariant`; null when
 * the design declares no scope or the trace has one step.
 */
export function searchShorter(
  design: AnyDesign,
  invariant: string,
  length: number,
  maxStates: number = SHORTEST_MAX_STATES,
): ShortestSearch | null {
  if (design.explore === undefined || length < 2) return null;
  const explored = exploreDesign(design, { depth: length - 1, invariants: [invariant], maxStates });
  const found = explored.violations.find((violation) => violation.invariant === invariant);
  if (found !== undefined && found.length < length) {
    return { outcome: 'shorter', commands: found.steps, states: explored.states };
  }
  const outcome = explored.limitReached || explored.interrupted ? 'limit' : 'confirmed';
  return { outcome, commands: null, states: explored.states };
}
