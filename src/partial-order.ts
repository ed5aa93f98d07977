/**
 * Partial-order reduction for the explorer: sleep sets (Godefroid, "Partial-Order Methods for the
 * Verification of Concurrent Systems", 1996, ch. 5), with independence read off the footprints a
 * stack declares (`ExploreScope.footprint`).
 *
 * From a state `s`, commands are tried in template order. A command `b` tried at `s` before `a`
 * and independent of `a` there need not be tried again after `a`: `s·a·b` is `s·b·a`, which the
 * search reaches through `b` first, with the same results and the same invariant verdicts (the
 * footprint's promise). So `b` goes to sleep in `s·a`, and stays asleep down that path as long as
 * each command taken is independent of it. A sleeping command is neither stepped nor checked.
 *
 * Why it fits a breadth-first search with shortest counterexamples: every state is still visited,
 * at its least depth — sleep sets prune transitions, never states — and a transition pruned at
 * depth d has an equivalent one (the same command from an earlier state, judged alike) at depth
 * d − 1 or d, so each invariant's first violation keeps its length. States first reached at one
 * level by several parents get the intersection of their sleep sets before the level below is
 * expanded (the state-caching rule); a state reached again by a longer path is not re-expanded,
 * as the shorter paths already cover its futures. The meta-test (test/explore/partial-order.test.ts)
 * holds states, verdicts and shortest lengths equal with and without the reduction.
 */
import type { Footprint } from './design.js';

/** A command as the sleep sets hold it: its canonical text (its identity) and the command. */
export interface Sleeper {
  readonly text: string;
  readonly command: unknown;
}

function touches(writes: readonly string[], other: readonly string[]): boolean {
  if (writes.length === 0 || other.length === 0) return false;
  for (const name of writes) if (other.includes(name)) return true;
  return false;
}

/** Neither writes what the other reads or writes; an unknown footprint conflicts with everything. */
export function independent(left: Footprint | null, right: Footprint | null): boolean {
  if (left === null || right === null) return false;
  return (
    !touches(left.writes, right.reads) && !touches(left.writes, right.writes) && !touches(right.writes, left.reads)
  );
}

/** The sleepers of both sets (the state-caching rule: a state reached twice sleeps only on what both paths allow). */
export function intersect(left: readonly Sleeper[], right: readonly Sleeper[]): Sleeper[] {
  return left.filter((sleeper) => right.some((other) => other.text === sleeper.text));
}
