/**
 * Exhaustive bounded exploration: breadth-first search over every command sequence up to a depth,
 * in the small scope a stack declares (`Design.explore`), on the same models, commands and
 * invariants that `check` samples at random.
 *
 * - Level by level: level d holds the distinct states first reached by d commands. Every state of
 *   level d-1 is stepped with each distinct concrete command its templates resolve to (in template
 *   order). An invariant still unbroken that depends on the transition (effect, atomicity,
 *   liveness: it reads `before`, the command or its result) is checked on every transition, as
 *   `runTrace` checks it, transitions into already-visited states included. A state-only one
 *   (it declares `Invariant.reads`) is checked once per distinct state, on the transition that
 *   first reaches it: every transition into that state gets the same verdict, and the first in
 *   breadth-first order is a shortest one (`everyTransition` checks everything everywhere). The
 *   initial state is checked first, as `runTrace` does.
 * - The first transition in breadth-first order that breaks an invariant gives that invariant's
 *   shortest counterexample (no shorter sequence in the scope breaks it). Its command path is
 *   rebuilt from compact parent records and replayed from the initial state by
 *   `describeCounterexample`, so it has the same shape as a `check` counterexample and replays
 *   through `runTrace` as is.
 * - States are deduplicated by the scope's canonical key (which applies the stack's symmetry
 *   reduction), stored as a 128-bit fingerprint of it in a table of typed arrays
 *   (`state-table.ts`: hash compaction, as TLC does): a collision, which would prune a state
 *   wrongly, has probability at most n²/2¹²⁹ for n states (1.5·10⁻²⁷ for a million).
 * - Memory: the visited fingerprints (40 to 80 bytes a state) and one parent record (parent index
 *   and the command) per distinct state, a few hundred bytes each; no state is kept, since the frontier's states are
 *   rebuilt from their records when expanded (one step each, plus one replay per parent).
 *   `maxStates` bounds it all: when a new distinct state would exceed it, the search stops with
 *   verdict `limit` (a violation already found is still reported, and is still the shortest:
 *   every shallower level was complete).
 * - Shards: `shard: i/n` owns the states whose fingerprint falls in the i-th of n parts (as the
 *   workers of a parallel search, `explore-parallel.ts`): it steps every state (to know which of
 *   its own it reaches first, and by which transition), but checks the invariants, and counts
 *   states and transitions, only on its own. The shards do not overlap: their states and
 *   transitions add up to the unsharded search's (when no shard stopped early: every invariant
 *   broken, the state limit), and `mergeExplorations` keeps each invariant's first counterexample
 *   in the breadth-first order (`firstAt`), the unsharded search's. What a shard saves is the
 *   checking; `workers` splits the stepping too.
 *
 * Deterministic: the same design and options give the same result (timings aside).
 */
import { describeCounterexample, describeCrash } from './check.js';
import type { Counterexample, CrashReport } from './check.js';
import { assertWellFormed } from './design.js';
import type { AnyDesign, Command, Design, Expectation, Footprint, Invariant, Transition } from './design.js';
import { crashOf, selectInvariants } from './execute.js';
import type { Crash, CrashSite } from './execute.js';
import type { Outcome } from './exit-codes.js';
import type { Shard } from './shard.js';
import { independent, intersect } from './partial-order.js';
import { exploreParallel } from './explore-parallel.js';
import { exploreFlat, flatApplies } from './explore-flat.js';
import { exploreFlatParallel } from './explore-flat-parallel.js';
import { pathReplay } from './explore-replay.js';
import { ownerOf, transitionId } from './explore-protocol.js';
import type { DesignSource } from './explore-protocol.js';
import { fingerprint128, sameFingerprint, StateTable } from './state-table.js';
import { sameJson, stableJson } from './stable-json.js';
import { scopeFingerprint, stableFingerprint } from './stable-fingerprint.js';

export { stableJson };
import type { Fingerprint } from './state-table.js';

/**
 * `holds`: no violation in any sequence up to the depth (a bounded proof in the scope).
 * `violated`, `crashed`: a shortest counterexample or crashing trace. `inconclusive`: the search
 * could not decide the design's expectation: the state limit cut it short, it was interrupted, or
 * a flawed design's declared breaks lie deeper than it looked.
 */
export type ExploreVerdict = 'holds' | 'violated' | 'crashed' | 'inconclusive';

export const DEFAULT_MAX_STATES = 1_000_000;

export interface ExploreProgress {
  /** The level being explored (1-based) and the depth bound. */
  readonly level: number;
  readonly depth: number;
  /** States of the previous level expanded so far, out of how many. */
  readonly expanded: number;
  readonly frontier: number;
  readonly states: number;
  readonly transitions: number;
}

export interface ExploreOptions {
  /** Longest command sequence explored (≥ 1). */
  readonly depth: number;
  /** Most distinct states kept; default DEFAULT_MAX_STATES. */
  readonly maxStates?: number;
  /** Names of the invariants to check; all of the design's when absent. */
  readonly invariants?: readonly string[];
  /** Check and count only the states whose fingerprint falls in the i-th of n parts (`ownerOf`). */
  readonly shard?: Shard;
  /** Replaces the scope's canonical key (e.g. `canonicalJson`, to measure what the symmetry reduction saves). */
  readonly key?: (state: unknown) => string;
  /** Called now and then during the search (progress display). */
  readonly onProgress?: (progress: ExploreProgress) => void;
  /** Asked now and then: true stops the search with what it found (Ctrl-C); the result is then inconclusive. */
  readonly shouldStop?: () => boolean;
  /**
   * A wall-clock limit on the search, in milliseconds: past it the search stops as `shouldStop`
   * stops it (within a level; on workers the level cut is dropped whole) and reports what it
   * found, with `timeLimited` set. Every sequence of `depthReached` commands was explored; the
   * rest is undecided, so a search the limit cut short is never `holds`. With a depth bound as
   * large as the time allows (64), it measures how deep a scope gets in a given time.
   */
  readonly timeLimitMs?: number;
  /**
   * Partial-order reduction (`partial-order.ts`) where the scope declares footprints: independent
   * commands are not tried in both orders. Off by default: on the built-in scopes it skips a few
   * per cent of the transitions and the footprints cost more than that (bench: exploration).
   */
  readonly partialOrder?: boolean;
  /**
   * Check every invariant on every transition, revisits included. By default an invariant that
   * declares `reads` (its verdict depends on the state after the step alone) is checked once per
   * distinct state, when the search first reaches it: the same verdicts and shortest traces,
   * fewer checks. The reference for the tests that hold the two equal.
   */
  readonly everyTransition?: boolean;
  /**
   * Worker threads for a parallel search (`explore-parallel.ts`, on flat vectors
   * `explore-flat-parallel.ts` where the one-thread search would run flat): the same result as
   * the sequential search (1, the default), in less time on several cores.
   */
  readonly workers?: number;
  /** Where the workers load the design from; default the built-in registry by the design's id. */
  readonly designSource?: DesignSource;
  /**
   * Search the scope's flat integer vectors (`ExploreScope.flat`, `explore-flat.ts`) where it
   * gives them and the search asks nothing they cannot give (`flatApplies`): the same result,
   * faster. Default true; false searches the state objects (the reference), as `--no-flat`.
   */
  readonly flat?: boolean;
}

/** `C`: the design's concrete command, the type of every counterexample's steps. */
export interface ExploreResult<C = unknown> {
  readonly design: string;
  readonly stack: string;
  readonly expected: Expectation;
  /** The depth bound asked for. */
  readonly depth: number;
  /** Every sequence of at most this many commands was explored. */
  readonly depthReached: number;
  /** Distinct states visited (up to symmetry), the initial state included. */
  readonly states: number;
  /** Transitions stepped and checked (state × distinct concrete command). */
  readonly transitions: number;
  /** Partial-order reduction was applied (it was asked for and the scope declares footprints). */
  readonly partialOrder: boolean;
  /** Transitions not tried because an equivalent order was (partial-order reduction); 0 without it. */
  readonly slept: number;
  readonly elapsedMs: number;
  readonly verdict: ExploreVerdict;
  /**
   * The verdict is the expected one: `holds` for a sound design; for a flawed one, `violated` with
   * every invariant it declares in `breaks` broken.
   */
  readonly met: boolean;
  /** What the exploration comes to, for the exit status. */
  readonly outcome: Outcome;
  /** Every state reachable in the scope was visited before the depth bound: nothing deeper exists. */
  readonly exhausted: boolean;
  readonly limitReached: boolean;
  /** Stopped by a request to stop (Ctrl-C). */
  readonly interrupted: boolean;
  /** Stopped by `ExploreOptions.timeLimitMs` before the depth bound (never set with `interrupted`). */
  readonly timeLimited?: boolean;
  /** Why the search stopped short, or why it is not met or not conclusive, in words; null when neither. */
  readonly message: string | null;
  /** Declared breaks of a flawed design that no sequence in the search broke. */
  readonly missing: readonly string[];
  /** The shortest trace that made the design's code throw, when one did (the search stops there). */
  readonly crash: CrashReport<C> | null;
  readonly maxStates: number;
  readonly shard: Shard | null;
  /** The shortest counterexample of each broken invariant, in the design's invariant order. */
  readonly violations: readonly Counterexample<C>[];
  /**
   * Where in the breadth-first order each violation's transition lies (-1: the initial state),
   * by invariant: `mergeExplorations` keeps the earliest, as the unsharded search does.
   */
  readonly firstAt?: Readonly<Record<string, number>>;
  /**
   * What the search ran on: the design's state objects, or the scope's flat integer vectors
   * (`ExploreOptions.flat`); the same result either way.
   */
  readonly engine?: 'objects' | 'flat';
}

/** Where the design's code threw during the search (the search stops at the first throw). */
export interface Thrown {
  readonly record: number;
  /** The command (or, for `resolve`, the template) being tried from that record; null at the initial state. */
  readonly command: unknown;
  readonly hasCommand: boolean;
  readonly crash: Crash;
}

export interface Found {
  /** Record of the state the violating transition starts from (-1: the initial state itself broke it). */
  readonly parent: number;
  readonly command: unknown;
  /** The transition's place in the breadth-first order (`transitionId`; -1 at the initial state). */
  readonly at: number;
}

/** The most templates a state's commands are compared pairwise for (`DistinctCommands`). */
const PAIRWISE_LIMIT = 16;

/**
 * The distinct commands tried from one state: two templates that resolve to the same concrete
 * command (equal `stableJson`) are one transition. A state with few templates compares each
 * command with the earlier ones (`sameJson`: `stableJson`'s equality without the text); one with
 * more than `PAIRWISE_LIMIT` compares the fingerprints of their canonical forms
 * (`stableFingerprint`: equal exactly when `stableJson` is, but for a 2⁻¹²⁸ chance, as for
 * states), one walk per command, where the pairwise walk grows with the square of the templates
 * (issue 23). Per state, on the first states of each scope (`node dist/bench/dedup-cost.js`):
 * `xen/map`'s 69 templates 292 → 83 µs, `gvt/write-protect`'s 42 111 → 46, `vfio/type1`'s 33
 * 78 → 38, `iommu/lazy`'s 26 37 → 18; the anchor's 14, 10 against 9, but its whole search ran 5–8%
 * slower fingerprinting (three alternating runs: the fingerprints' arrays for the collector).
 */
export class DistinctCommands {
  private readonly commands: unknown[] = [];
  /** The fingerprints, when there are more templates than `PAIRWISE_LIMIT`. */
  private readonly prints: Fingerprint[] | null;

  constructor(templates: number) {
    this.prints = templates > PAIRWISE_LIMIT ? [] : null;
  }

  /** Whether `command` is new (and now remembered). */
  add(command: unknown): boolean {
    const prints = this.prints;
    if (prints === null) {
      const commands = this.commands;
      for (let index = 0; index < commands.length; index++) if (sameJson(commands[index], command)) return false;
      commands.push(command);
      return true;
    }
    const print = stableFingerprint(command);
    for (const earlier of prints) if (sameFingerprint(earlier, print)) return false;
    prints.push(print);
    return true;
  }
}

/** True when both lists hold the same parts (the same objects, or equal primitives) in order. */
function sameParts(previous: readonly unknown[], current: readonly unknown[]): boolean {
  if (previous.length !== current.length) return false;
  for (let index = 0; index < current.length; index++) if (previous[index] !== current[index]) return false;
  return true;
}

function limitMessage(maxStates: number, level: number): string {
  return `state limit ${maxStates} reached at depth ${level}; raise --max-states or lower --depth`;
}

/** The verdict, expectation and outcome of an exploration from what it found. */
export function judgeExploration(
  design: AnyDesign,
  found: {
    readonly broken: readonly string[];
    readonly crashed: boolean;
    readonly exhausted: boolean;
    readonly limitMessage: string | null;
    readonly interrupted: boolean;
    readonly depth: number;
  },
): Pick<ExploreResult, 'verdict' | 'met' | 'outcome' | 'missing'> & { readonly reason: string | null } {
  const flawed = design.expected === 'violates';
  const missing = flawed ? design.breaks.filter((name) => !found.broken.includes(name)) : [];
  if (found.crashed) return { verdict: 'crashed', met: false, outcome: 'crashed', missing, reason: null };
  const cut = found.interrupted ? 'interrupted' : found.limitMessage;
  const undecided = (why: string): string =>
    cut === null
      ? `${why} within depth ${found.depth}: it may lie deeper (raise --depth)`
      : `${why} before the search stopped (${cut})`;
  if (found.broken.length > 0) {
    if (!flawed) return { verdict: 'violated', met: false, outcome: 'unmet', missing, reason: null };
    if (missing.length === 0) return { verdict: 'violated', met: true, outcome: 'met', missing, reason: null };
    const why = `declared breaks not found: ${missing.join(', ')}`;
    // Exhausted: no state of the scope was left unvisited, so nothing deeper can break them.
    if (found.exhausted && cut === null)
      return { verdict: 'violated', met: false, outcome: 'unmet', missing, reason: `${why} in the whole scope` };
    return { verdict: 'violated', met: false, outcome: 'inconclusive', missing, reason: undecided(why) };
  }
  if (cut !== null) return { verdict: 'inconclusive', met: false, outcome: 'inconclusive', missing, reason: cut };
  if (!flawed) return { verdict: 'holds', met: true, outcome: 'met', missing, reason: null };
  if (found.exhausted) {
    return {
      verdict: 'holds',
      met: false,
      outcome: 'unmet',
      missing,
      reason: `no declared break found in the whole scope: ${missing.join(', ')}`,
    };
  }
  return {
    verdict: 'inconclusive',
    met: false,
    outcome: 'inconclusive',
    missing,
    reason: undecided(`no violation`),
  };
}

/**
 * What every search checks before it starts (the sequential one and the workers'): a well-formed
 * design with an explore scope, a depth of at least 1 and a state limit of at least 1 (default
 * DEFAULT_MAX_STATES). Throws an Error saying which does not hold.
 */
export function exploreScopeOf(
  design: AnyDesign,
  options: ExploreOptions,
): { scope: NonNullable<AnyDesign['explore']>; maxStates: number } {
  assertWellFormed(design);
  const scope = design.explore;
  if (scope === undefined) throw new Error(`design ${design.id} declares no explore scope`);
  if (!Number.isInteger(options.depth) || options.depth < 1) throw new Error('explore: depth must be at least 1');
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES;
  if (!Number.isInteger(maxStates) || maxStates < 1) throw new Error('explore: maxStates must be at least 1');
  return { scope, maxStates };
}

export function exploreDesign<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  options: ExploreOptions,
): ExploreResult<C> {
  if (options.timeLimitMs === undefined) return exploreUntimed(typed, options);
  const limitMs = options.timeLimitMs;
  if (!(limitMs > 0)) throw new Error('explore: timeLimitMs must be positive');
  const deadline = performance.now() + limitMs;
  const asked = options.shouldStop ?? ((): boolean => false);
  let stopAsked = false;
  let expired = false;
  const shouldStop = (): boolean => {
    if (stopAsked || expired) return true;
    stopAsked = asked();
    expired = !stopAsked && performance.now() >= deadline;
    return stopAsked || expired;
  };
  const result = exploreUntimed(typed, { ...options, shouldStop });
  // A stop the deadline asked for, not the user: the same findings, judged with the time limit as
  // the reason the search stopped short (inconclusive where nothing decided the expectation).
  if (!expired || !result.interrupted) return result;
  const cut = timeLimitMessage(limitMs, result.depthReached);
  const judged = judgeExploration(typed, {
    broken: result.violations.map((counterexample) => counterexample.invariant),
    crashed: result.verdict === 'crashed',
    exhausted: result.exhausted,
    limitMessage: result.limitReached && result.message !== null ? `${cut}; ${result.message}` : cut,
    interrupted: false,
    depth: options.depth,
  });
  return {
    ...result,
    verdict: judged.verdict,
    met: judged.met,
    outcome: judged.outcome,
    missing: judged.missing,
    interrupted: false,
    timeLimited: true,
    message: judged.reason ?? cut,
  };
}

function timeLimitMessage(limitMs: number, depthReached: number): string {
  const limit = limitMs >= 1000 ? `${Math.round(limitMs / 100) / 10} s` : `${Math.round(limitMs)} ms`;
  return `time limit ${limit} reached at depth ${depthReached + 1}; every sequence of ${depthReached} command${depthReached === 1 ? '' : 's'} explored`;
}

function exploreUntimed<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  options: ExploreOptions,
): ExploreResult<C> {
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new Error('explore: workers must be at least 1');
  const design: AnyDesign = typed;
  const started = performance.now();
  if (workers > 1) {
    const source = options.designSource ?? { config: null };
    // The flat search on the workers where it applies (partial-order reduction is refused there).
    if (options.partialOrder !== true) {
      const { scope, maxStates } = exploreScopeOf(design, options);
      if (flatApplies(scope, options)) {
        const result = exploreFlatParallel(typed, scope, options, maxStates, started, source);
        if (result !== null) return result;
      }
    }
    return exploreParallel(typed, options, source);
  }
  const { scope, maxStates } = exploreScopeOf(design, options);
  if (flatApplies(scope, options)) {
    const result = exploreFlat(typed, scope, options, maxStates, started);
    if (result !== null) return result;
  }
  // The scope's fingerprint (`ExploreScope.fingerprint`), or the hash of the key the options give.
  const overridden = options.key;
  const print =
    overridden === undefined ? scopeFingerprint(scope) : (state: unknown) => fingerprint128(overridden(state));
  const invariants = selectInvariants(design, options.invariants);
  // The invariants still unbroken: those judged on each transition (they read `before`, the
  // command or its result), and the state-only ones (`reads` declared), judged once per distinct
  // state, when it is first reached (`ExploreOptions.everyTransition`).
  const everyTransition = options.everyTransition === true;
  let perTransition = invariants.filter((invariant) => everyTransition || invariant.reads === undefined);
  const stateOnly = invariants.filter((invariant) => !everyTransition && invariant.reads !== undefined);
  const statePending = stateOnly.map(() => true);
  let stateRemaining = stateOnly.length;
  const found = new Map<string, Found>();
  const stop = options.shouldStop ?? ((): boolean => false);
  const allFound = (): boolean => invariants.length > 0 && found.size === invariants.length;
  // Where the search is, so that an exception thrown by the design's code can be traced back to
  // the shortest path that throws it (breadth-first: the first throw is at the least depth).
  let site: CrashSite | 'scope' = 'init';
  let asking: string | null = null;
  let atRecord = -1;
  let atCommand: unknown = null;
  let hasCommand = false;
  // The transition being checked, as `transitionId` (-1: the initial state).
  let atTransition = -1;
  /** Checks `transition` against `unbroken`; returns those still unbroken (the same array when all hold). */
  const checkEach = (
    unbroken: Invariant<unknown, unknown>[],
    transition: Transition<unknown, unknown>,
    parent: number,
  ): Invariant<unknown, unknown>[] => {
    site = 'invariant';
    let kept = unbroken;
    for (const invariant of unbroken) {
      asking = invariant.name;
      if (invariant.check(transition) === null) continue;
      found.set(invariant.name, { parent, command: transition.command, at: atTransition });
      kept = kept.filter((other) => other !== invariant);
    }
    asking = null;
    return kept;
  };

  // What the state being expanded reads, for the state-only invariants: their `reads` parts and
  // the design's top-level `parts`, computed when a step from it first reaches a new state.
  const readsBefore: (readonly unknown[] | undefined)[] = stateOnly.map(() => undefined);
  let partsBefore: readonly unknown[] | undefined | null = null;
  /**
   * Checks a state first reached by `transition` against the state-only invariants still
   * unbroken. Each held at `transition.before` (checked when that state was first reached, the
   * very concrete state the search rebuilds), so one whose `reads` parts are the same objects in
   * both holds here too, as `runTrace`'s incremental check has it, and is not asked.
   */
  const checkState = (transition: Transition<unknown, unknown>, parent: number): void => {
    site = 'invariant';
    const { before, after } = transition;
    const top = before === null ? undefined : design.parts?.(after);
    if (top !== undefined) {
      partsBefore ??= design.parts?.(before) ?? [];
      if (sameParts(partsBefore, top)) return;
    }
    for (let index = 0; index < stateOnly.length; index++) {
      const invariant = stateOnly[index];
      if (invariant === undefined || statePending[index] !== true) continue;
      asking = invariant.name;
      if (before !== null && invariant.reads !== undefined) {
        const read = (readsBefore[index] ??= invariant.reads(before));
        if (sameParts(read, invariant.reads(after))) continue;
      }
      if (invariant.check(transition) === null) continue;
      found.set(invariant.name, { parent, command: transition.command, at: atTransition });
      statePending[index] = false;
      stateRemaining -= 1;
    }
    asking = null;
  };

  // Parent records, one per distinct state, in breadth-first order: record 0 is the initial state,
  // and the records of each level form one contiguous range.
  const parents: number[] = [-1];
  const via: unknown[] = [null];
  const pathTo = (record: number): unknown[] => {
    const path: unknown[] = [];
    for (let at = record; at > 0; at = parents[at] ?? 0) path.push(via[at]);
    return path.reverse();
  };
  let initial: unknown = null;
  // Every distinct state's key, by fingerprint, with its record (`state-table.ts`).
  const visited = new StateTable();
  // A shard (`--shard i/n`) owns the states whose fingerprint falls in its part (`ownerOf`, as the
  // workers of a parallel search): it counts them and the transitions from them, and checks the
  // invariants only there. It still steps every state, to know which of its own it reaches first.
  const shard = options.shard;
  const owns = (print: Fingerprint): boolean =>
    shard === undefined || ownerOf(print[3], shard.count) === shard.index - 1;
  const owned: boolean[] = [];
  let ownedStates = 0;
  let ownedTransitions = 0;
  // Partial-order reduction: the sleep set (commands by canonical text) of each record of the
  // level being expanded and of the level being discovered.
  const footprint = options.partialOrder === true ? scope.footprint?.bind(scope) : undefined;
  let sleeping = new Map<number, ReadonlySet<string>>();
  let nextSleeping = new Map<number, ReadonlySet<string>>();
  // The concrete state of each record's first arrival: a sleep set names concrete commands, which
  // mean the same only in the same concrete state (a symmetric key merges renamed states).
  let nextConcrete = new Map<number, Fingerprint>();
  let slept = 0;
  let levelStart = 0;
  let levelEnd = 1;
  let transitions = 0;
  let depthReached = 0;
  let limitAt: number | null = null;
  let exhausted = false;
  let interrupted = false;
  let thrown: Thrown | null = null;
  let scopeThrew: { message: string } | null = null;
  const report = (level: number, expanded: number): void =>
    options.onProgress?.({
      level,
      depth: options.depth,
      expanded,
      frontier: levelEnd - levelStart,
      states: visited.size,
      transitions,
    });

  try {
    initial = design.init();
    site = 'scope';
    const initialPrint = print(initial);
    visited.add(initialPrint, 0);
    owned.push(owns(initialPrint));
    if (owned[0] === true) ownedStates += 1;
    const start = { before: null, command: null, result: null, after: initial };
    if (owned[0] === true) {
      perTransition = checkEach(perTransition, start, -1);
      checkState(start, -1);
    }

    // Frontier states are not stored: each is rebuilt from its parent's state, itself replayed
    // (`pathReplay`) once for all its children (they are consecutive records).
    const replayTo = pathReplay(initial, parents, via, (state, command) => design.step(state, command).state);
    let cachedRecord = 0;
    let cachedState = initial;
    const stateOf = (record: number): unknown => {
      if (record === 0) return initial;
      const parent = parents[record] ?? 0;
      if (parent !== cachedRecord) {
        cachedState = replayTo(parent);
        cachedRecord = parent;
      }
      return design.step(cachedState, via[record]).state;
    };

    search: for (let level = 1; level <= options.depth && !allFound(); level++) {
      for (let record = levelStart; record < levelEnd; record++) {
        if (stop()) {
          interrupted = true;
          break search;
        }
        atRecord = record;
        const mine = owned[record] === true;
        hasCommand = false;
        site = 'step';
        const before = stateOf(record);
        readsBefore.fill(undefined);
        partsBefore = null;
        site = 'scope';
        const templates = scope.templates(before);
        const distinct = new DistinctCommands(templates.length);
        let position = 0;
        const asleep = sleeping.get(record);
        // The commands tried from this state so far, in order, with their footprints.
        const tried: { readonly text: string; readonly print: Footprint | null }[] = [];
        for (const template of templates) {
          site = 'resolve';
          atCommand = template;
          hasCommand = true;
          const command: unknown = design.resolve(before, template);
          if (!distinct.add(command)) continue;
          // Sleep sets name commands by their text: built only for partial-order reduction.
          const text = footprint === undefined ? '' : stableJson(command);
          atTransition = transitionId(record, position);
          position += 1;
          if (asleep?.has(text) === true) {
            slept += 1;
            continue;
          }
          atCommand = command;
          site = 'step';
          const { state: after, result } = design.step(before, command);
          transitions += 1;
          if (mine) ownedTransitions += 1;
          const transition = { before, command, result, after };
          if (mine && perTransition.length > 0) perTransition = checkEach(perTransition, transition, record);
          site = 'scope';
          // A step that returns the very state it was given (a refused request: nearly half the
          // transitions of the anchor) leads back to this record, whose fingerprint is known.
          const selfLoop = after === before;
          const afterPrint = selfLoop ? null : print(after);
          // A state-only verdict is the one reached at the state's first arrival: the first
          // transition into it in breadth-first order, so a shortest trace to it (a renaming of a
          // known state, which shares its key, gets the same verdicts: `ExploreScope.key`).
          const seenAt = afterPrint === null ? record : visited.find(afterPrint);
          const fresh = seenAt < 0;
          const ownsAfter = fresh && afterPrint !== null && owns(afterPrint);
          if (ownsAfter && stateRemaining > 0) {
            checkState(transition, record);
            site = 'scope';
          }
          let sleepers: Set<string> | null = null;
          if (footprint !== undefined) {
            const own = footprint(before, command, { state: after, result });
            sleepers = new Set(
              tried.filter((earlier) => independent(earlier.print, own)).map((earlier) => earlier.text),
            );
            tried.push({ text, print: own });
          }
          if (fresh && afterPrint !== null) {
            if (visited.size >= maxStates) {
              limitAt = level;
              break search;
            }
            visited.add(afterPrint, parents.length);
            owned.push(ownsAfter);
            if (ownsAfter) ownedStates += 1;
            parents.push(record);
            via.push(command);
            if (sleepers !== null && sleepers.size > 0) {
              nextConcrete.set(parents.length - 1, fingerprint128(stableJson(after)));
              nextSleeping.set(parents.length - 1, sleepers);
            }
          } else if (sleepers !== null) {
            // Reached again at the level being discovered: it sleeps only on what both paths allow
            // (nothing, if this path reached a renaming of the state the record holds).
            const known = nextSleeping.get(seenAt);
            const concrete = nextConcrete.get(seenAt);
            if (known !== undefined && concrete !== undefined) {
              const same = sleepers.size > 0 && sameFingerprint(concrete, fingerprint128(stableJson(after)));
              const both = same ? intersect(known, sleepers) : new Set<string>();
              if (both.size > 0) nextSleeping.set(seenAt, both);
              else nextSleeping.delete(seenAt);
            }
          }
          if (allFound()) break search;
          if ((transitions & 1023) === 0) report(level, record - levelStart);
        }
      }
      report(level, levelEnd - levelStart);
      depthReached = level;
      levelStart = levelEnd;
      levelEnd = parents.length;
      sleeping = nextSleeping;
      nextSleeping = new Map();
      nextConcrete = new Map();
      // Nothing new at this level: every longer sequence only revisits known states.
      if (levelStart === levelEnd) {
        depthReached = options.depth;
        exhausted = true;
        break;
      }
    }
  } catch (error) {
    const at = site as CrashSite | 'scope';
    if (at === 'scope') {
      // The scope's own code (templates, key) is not replayable through `runTrace`: reported, not shrunk.
      scopeThrew = { message: `the explore scope threw: ${(error as Error)?.message ?? String(error)}` };
    }
    const crash = crashOf(error, 0, at === 'scope' ? 'step' : at, at === 'invariant' ? asking : null);
    thrown = { record: atRecord, command: atCommand, hasCommand, crash };
  }

  return finishExploration(typed, options, {
    invariants,
    found,
    pathTo,
    thrown: thrown as Thrown | null,
    scopeThrew: scopeThrew as { message: string } | null,
    limitAt,
    exhausted,
    interrupted,
    depthReached,
    states: shard === undefined ? visited.size : ownedStates,
    transitions: shard === undefined ? transitions : ownedTransitions,
    partialOrder: footprint !== undefined,
    slept,
    maxStates,
    started,
  });
}

/** What a search (sequential or parallel) found, for `finishExploration`. */
export interface SearchFindings {
  readonly invariants: readonly Invariant<unknown, unknown>[];
  readonly found: ReadonlyMap<string, Found>;
  /** The commands from the initial state to a record. */
  readonly pathTo: (record: number) => unknown[];
  readonly thrown: Thrown | null;
  readonly scopeThrew: { readonly message: string } | null;
  readonly limitAt: number | null;
  readonly exhausted: boolean;
  readonly interrupted: boolean;
  readonly depthReached: number;
  readonly states: number;
  readonly transitions: number;
  readonly partialOrder: boolean;
  readonly slept: number;
  readonly maxStates: number;
  readonly started: number;
  /** What the search ran on; `objects` when absent. */
  readonly engine?: 'objects' | 'flat';
}

/** The result of a search: each shortest counterexample and the crash replayed, the verdict judged. */
export function finishExploration<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  options: ExploreOptions,
  findings: SearchFindings,
): ExploreResult<C> {
  const design: AnyDesign = typed;
  const { invariants, found, pathTo, scopeThrew, limitAt, exhausted, interrupted, depthReached, maxStates } = findings;
  const violations: Counterexample[] = [];
  for (const invariant of invariants) {
    const hit = found.get(invariant.name);
    if (hit === undefined) continue;
    const steps = hit.parent < 0 ? [] : [...pathTo(hit.parent), hit.command];
    violations.push(
      describeCounterexample(design, invariant.name, steps, {
        replay: { seed: 0, path: null },
        foundLength: steps.length,
        shrunkLength: steps.length,
        shrinks: 0,
        minimizeAttempts: 0,
      }),
    );
  }
  let crash: CrashReport | null = null;
  const threw = findings.thrown;
  if (threw !== null && scopeThrew === null) {
    const steps = threw.record < 0 ? [] : [...pathTo(threw.record), ...(threw.hasCommand ? [threw.command] : [])];
    const provenance = {
      replay: { seed: 0, path: null },
      foundLength: steps.length,
      shrunkLength: steps.length,
      shrinks: 0,
      minimizeAttempts: 0,
    };
    try {
      crash = describeCrash(design, threw.crash, steps, provenance);
    } catch {
      // Not reproduced by a replay from the initial state (the design's code is not deterministic).
      crash = {
        crash: { ...threw.crash, atStep: steps.length },
        length: steps.length,
        steps,
        executed: [],
        ...provenance,
      };
    }
  }
  const limitReached = limitAt !== null;
  const limitText = limitAt === null ? null : limitMessage(maxStates, limitAt);
  const judged = judgeExploration(design, {
    broken: violations.map((counterexample) => counterexample.invariant),
    crashed: threw !== null,
    exhausted,
    limitMessage: limitText,
    interrupted,
    depth: options.depth,
  });
  return {
    design: design.id,
    stack: design.stack,
    expected: design.expected,
    depth: options.depth,
    depthReached,
    states: findings.states,
    transitions: findings.transitions,
    partialOrder: findings.partialOrder,
    slept: findings.slept,
    elapsedMs: performance.now() - findings.started,
    verdict: judged.verdict,
    met: judged.met,
    outcome: judged.outcome,
    exhausted,
    limitReached,
    interrupted,
    message: scopeThrew?.message ?? judged.reason ?? limitText,
    missing: judged.missing,
    // The commands are the design's own, resolved by it: `C` at run time.
    crash: crash as CrashReport<C> | null,
    maxStates,
    shard: options.shard ?? null,
    violations: violations as Counterexample<C>[],
    firstAt: Object.fromEntries([...found].map(([name, hit]) => [name, hit.at])),
    engine: findings.engine ?? 'objects',
  };
}

/**
 * Merges the explorations of the shards of one search: the first counterexample per invariant in
 * the breadth-first order (`firstAt`; the shortest, the first shard's on a tie, without it),
 * states and transitions summed (each shard counts its own), the smallest depth reached, the
 * longest time.
 */
export function mergeExplorations(design: AnyDesign, results: readonly ExploreResult[]): ExploreResult {
  const [first] = results;
  if (first === undefined) throw new Error('mergeExplorations: no results');
  const shortest = new Map<string, { counterexample: Counterexample; at: number }>();
  for (const result of results) {
    for (const counterexample of result.violations) {
      const known = shortest.get(counterexample.invariant);
      const at = result.firstAt?.[counterexample.invariant] ?? Infinity;
      if (
        known === undefined ||
        counterexample.length < known.counterexample.length ||
        (counterexample.length === known.counterexample.length && at < known.at)
      )
        shortest.set(counterexample.invariant, { counterexample, at });
    }
  }
  const violations = design.invariants.flatMap((invariant) => {
    const counterexample = shortest.get(invariant.name)?.counterexample;
    return counterexample === undefined ? [] : [counterexample];
  });
  const limited = results.find((result) => result.limitReached);
  const crashed = results.find((result) => result.crash !== null || result.verdict === 'crashed');
  const judged = judgeExploration(design, {
    broken: violations.map((counterexample) => counterexample.invariant),
    crashed: crashed !== undefined,
    exhausted: results.every((result) => result.exhausted),
    limitMessage: limited?.message ?? null,
    interrupted: results.some((result) => result.interrupted),
    depth: first.depth,
  });
  return {
    ...first,
    depthReached: Math.min(...results.map((result) => result.depthReached)),
    states: results.reduce((sum, result) => sum + result.states, 0),
    transitions: results.reduce((sum, result) => sum + result.transitions, 0),
    slept: results.reduce((sum, result) => sum + result.slept, 0),
    elapsedMs: Math.max(...results.map((result) => result.elapsedMs)),
    verdict: judged.verdict,
    met: judged.met,
    outcome: judged.outcome,
    missing: judged.missing,
    exhausted: results.every((result) => result.exhausted),
    limitReached: limited !== undefined,
    interrupted: results.some((result) => result.interrupted),
    message: judged.reason ?? limited?.message ?? null,
    crash: crashed?.crash ?? null,
    shard: null,
    violations,
    firstAt: Object.fromEntries([...shortest].map(([name, known]) => [name, known.at])),
  };
}
