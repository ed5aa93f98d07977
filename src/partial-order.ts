/**
 * Partial-order reduction for the explorer: sleep sets (Godefroid, "Partial-Order Methods for the
 * Verification of Concurrent Systems", 1996, ch. 5), one step deep, with independence read off
 * the footprints a stack declares (`ExploreScope.footprint`).
 *
 * From a state `s`, commands are tried in template order. A command `x` tried at `s` before `a`
 * and independent of `a` there is not tried again right after `a`: `s·a·x` is `s·x·a`, which the
 * search reaches through `x` first, with the same results and invariant verdicts (the footprint's
 * promise). So `x` sleeps in `s·a`: it is neither stepped nor checked there.
 *
 * Why it keeps every state and every shortest length in a breadth-first search, by induction on
 * the distance: a state `t` at distance k+1 whose shortest path ends with `x` pruned at `p = s·a`
 * is `s·x·a`. If `s·x` is at distance k, it is expanded at level k with a sleep set that is the
 * intersection over its shortest arrivals (the state-caching rule), one of which is `x` from `s`,
 * whose set holds only commands tried at `s` before `x` — not `a` — so `a` is stepped there and
 * `t` reached at level k+1; if `s·x` is nearer, so is `t`. The same argument, with the
 * footprint's promise on invariants, carries a violation on a pruned transition to one on a
 * transition taken, at no greater length. Sleep sets prune transitions, never states. (Sleepers
 * are not inherited down a path: with state matching in a breadth-first search, where a state
 * reached again by a longer path is not expanded again, inheriting them loses states.) A sleep set
 * names concrete commands, so a state reached again as a renaming of the one its record holds (a
 * symmetric key) sleeps on nothing. test/explore/partial-order.test.ts holds states, verdicts and
 * shortest lengths equal with and without the reduction; `footprintProblems` checks a scope's
 * footprints against their promise.
 */
import type { AnyDesign, Footprint, Step, Transition } from './design.js';
import { stableJson } from './explore.js';

/** Two resource names overlap when equal or when one is a part of the other (`a/b` is part of `a`). */
function overlap(left: string, right: string): boolean {
  // The empty name is the whole state.
  if (left === right || left === '' || right === '') return true;
  return left.length < right.length
    ? right.startsWith(left) && right[left.length] === '/'
    : left.startsWith(right) && left[right.length] === '/';
}

function touches(writes: readonly string[], other: readonly string[]): boolean {
  if (writes.length === 0 || other.length === 0) return false;
  for (const name of writes) for (const another of other) if (overlap(name, another)) return true;
  return false;
}

/**
 * Neither writes what the other reads or writes; an unknown footprint conflicts with everything.
 * Resource names are paths: `xen/domains/1` overlaps `xen/domains/1/p2m/3` and not `xen/domains/2`.
 */
export function independent(left: Footprint | null, right: Footprint | null): boolean {
  if (left === null || right === null) return false;
  return (
    !touches(left.writes, right.reads) && !touches(left.writes, right.writes) && !touches(right.writes, left.reads)
  );
}

/**
 * The commands (by canonical text) asleep in both sets: the state-caching rule, a state reached
 * twice sleeps only on what both paths allow.
 */
export function intersect(left: ReadonlySet<string>, right: ReadonlySet<string>): Set<string> {
  return new Set([...left].filter((text) => right.has(text)));
}

/** A pair a footprint calls independent that does not commute: the footprint is wrong there. */
export interface FootprintProblem {
  /** The commands leading to the state, from the initial state. */
  readonly path: readonly unknown[];
  readonly first: unknown;
  readonly second: unknown;
  /** What differs between the two orders, in words. */
  readonly problem: string;
}

/**
 * Checks a scope's footprints against their promise, on every state the scope reaches within
 * `depth` commands (breadth-first, deduplicated by the scope's key, at most `maxStates`): for
 * each pair of distinct concrete commands declared independent at a state, the scope offers each
 * after the other (templates resolve to it there: picks such as "the first granted ref" read the
 * state too), both orders give the same results and the same state (by the scope's key), and an
 * invariant broken by the second command's transition in one order (the transition the
 * reduction skips) is broken by one of the two transitions of the other order (which the search
 * takes). Returns the problems found (at most `limit`); none means the reduction is sound on
 * that part of the scope.
 */
export function footprintProblems(
  design: AnyDesign,
  options: { readonly depth: number; readonly maxStates?: number; readonly limit?: number },
): FootprintProblem[] {
  const scope = design.explore;
  if (scope?.footprint === undefined) return [];
  const maxStates = options.maxStates ?? 2_000;
  const limit = options.limit ?? 5;
  const problems: FootprintProblem[] = [];
  const verdicts = (transition: Transition<unknown, unknown>): string =>
    design.invariants.map((invariant) => (invariant.check(transition) === null ? '.' : 'x')).join('');
  /** The concrete commands the scope offers at a state, by text. */
  const offered = (state: unknown): Map<string, unknown> => {
    const commands = new Map<string, unknown>();
    for (const template of scope.templates(state)) {
      const command: unknown = design.resolve(state, template);
      commands.set(stableJson(command), command);
    }
    return commands;
  };
  const seen = new Set<string>();
  let frontier: { state: unknown; path: unknown[] }[] = [{ state: design.init(), path: [] }];
  seen.add(scope.key(frontier[0]?.state));
  for (let level = 0; level <= options.depth && problems.length < limit; level++) {
    const next: typeof frontier = [];
    for (const { state, path } of frontier) {
      const moves: Move[] = [...offered(state)].map(([text, command]) => {
        const step = design.step(state, command);
        return { text, command, step, print: scope.footprint?.(state, command, step) ?? null, offers: null };
      });
      const offersAfter = (move: Move): ReadonlyMap<string, unknown> => (move.offers ??= offered(move.step.state));
      for (const [i, first] of moves.entries()) {
        for (const second of moves.slice(i + 1)) {
          if (problems.length >= limit || !independent(first.print, second.print)) continue;
          // The search takes the other order only if the scope offers the other command after each.
          const problem =
            !offersAfter(first).has(second.text) || !offersAfter(second).has(first.text)
              ? 'the scope does not offer one of them after the other'
              : commuteProblem(design, state, first, second, verdicts);
          if (problem !== null) problems.push({ path, first: first.command, second: second.command, problem });
        }
      }
      if (level === options.depth) continue;
      for (const move of moves) {
        const key = scope.key(move.step.state);
        if (seen.has(key) || seen.size >= maxStates) continue;
        seen.add(key);
        next.push({ state: move.step.state, path: [...path, move.command] });
      }
    }
    frontier = next;
  }
  return problems;
}

/** A command tried from a state: what it did there, its footprint, and what the scope offers after it. */
interface Move {
  readonly text: string;
  readonly command: unknown;
  readonly step: Step<unknown>;
  readonly print: Footprint | null;
  offers: ReadonlyMap<string, unknown> | null;
}

function commuteProblem(
  design: AnyDesign,
  state: unknown,
  first: Move,
  second: Move,
  verdicts: (transition: Transition<unknown, unknown>) => string,
): string | null {
  const run = (one: Move, two: Move) => {
    const b = design.step(one.step.state, two.command);
    return {
      results: [stableJson(one.step.result), stableJson(b.result)],
      verdicts: [
        verdicts({ before: state, command: one.command, result: one.step.result, after: one.step.state }),
        verdicts({ before: one.step.state, command: two.command, result: b.result, after: b.state }),
      ],
      key: design.explore?.key(b.state) ?? '',
    };
  };
  const forward = run(first, second);
  const backward = run(second, first);
  if (forward.results[0] !== backward.results[1] || forward.results[1] !== backward.results[0])
    return 'a command answers differently in the other order';
  if (forward.key !== backward.key) return 'the two orders end in different states';
  // The second command's transition is the one the reduction skips: what breaks there must break
  // on one of the two transitions of the other order, which the search does take.
  const covered = (skipped: string, other: readonly string[]): boolean =>
    [...skipped].every((mark, index) => mark === '.' || other.some((verdict) => verdict[index] === 'x'));
  if (!covered(forward.verdicts[1] ?? '', backward.verdicts) || !covered(backward.verdicts[1] ?? '', forward.verdicts))
    return 'an invariant broken by the second command in one order is not broken in the other';
  return null;
}
