/**
 * The explorer's fast path (issue 23): the breadth-first search of `exploreDesign`, on the flat
 * integer vectors a scope's encoder gives (`ExploreScope.flat`, `flat-scope.ts`) instead of state
 * objects, keys and fingerprints. The same search, moment for moment, so the same result:
 * - the initial state is the design's own (`design.init()`), checked with the design's own
 *   invariants as the object search checks it, once; the flat encoder takes over from there;
 * - level by level, each state's command positions in order: `FLAT_DUPLICATE` is no transition;
 *   `FLAT_SAME` is a transition back to the state (counted and checked, nothing looked up);
 *   `FLAT_CHANGED` is checked, then looked up, and a new state is checked once (the state-only
 *   invariants, those declaring `reads`, as the object search checks them at first arrival),
 *   then recorded; an invariant's first violation in this order is its shortest, with `at` the
 *   object search's `transitionId` (the record and the index among the state's distinct
 *   commands, not the template position);
 * - the state limit, progress cadence, stop requests, early stop once everything is broken,
 *   exhaustion and depth reached, as there; the result goes through `finishExploration`, which
 *   replays each counterexample through the object model.
 * What the object search keeps as fingerprints and rebuilds by replay, this keeps whole: every
 * vector in an arena (`flat-table.ts`), exact, with no replay to reach the frontier. Per
 * transition it allocates nothing: one scratch vector for the next state.
 *
 * The object model stays the reference. Before the result is built, the encoder is held to the
 * design on the search's first records (`auditFlat`: states, commands, steps and verdicts), and
 * each counterexample the flat search found is replayed through the design (`runTrace`): one
 * that does not break its invariant there, at that very step, is an encoding that disagrees with
 * the design. Either is reported as a throw of the scope's code (verdict `crashed`, never a wrong
 * trace nor `holds`), as is the initial state's vector judged otherwise than the initial state,
 * and any throw of the encoder. An encoding wrong only deeper that misses a violation altogether
 * is not caught here: the stack's tests hold the two searches equal.
 */
import type { AnyDesign, Command, Design, ExploreScope, Invariant, Transition } from './design.js';
import { crashOf, runTrace, selectInvariants } from './execute.js';
import type { CrashSite } from './execute.js';
import { finishExploration } from './explore.js';
import type { ExploreOptions, ExploreResult, Found, SearchFindings, Thrown } from './explore.js';
import { transitionId } from './explore-protocol.js';
import { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from './flat-scope.js';
import type { FlatScope } from './flat-scope.js';
import { FlatStateTable } from './flat-table.js';
import { auditFlat } from './explore-flat-audit.js';

/** The most command positions: a position is stored in 16 bits, as `transitionId` counts them. */
const MAX_COMMANDS = 1 << 16;
/** The most invariants a mask holds. */
const MAX_INVARIANTS = 31;

/**
 * Whether the options let the search run on the scope's flat encoding: it has one, the options
 * do not turn it off, and they ask nothing it cannot give (a shard, partial-order reduction on a
 * scope with footprints, a key of their own, every invariant on every transition), on one thread
 * (`exploreFlat`) or on workers (`explore-flat-parallel.ts`). The invariants are checked once the
 * encoder is made (`FlatRun.begin`).
 */
export function flatApplies<S, T>(scope: ExploreScope<S, T>, options: ExploreOptions): boolean {
  return (
    scope.flat !== undefined &&
    options.flat !== false &&
    options.shard === undefined &&
    (options.partialOrder !== true || scope.footprint === undefined) &&
    options.key === undefined &&
    options.everyTransition !== true
  );
}

/** An invariant the flat search checks, with its bit in the encoder's masks. */
export interface Masked {
  readonly name: string;
  readonly bit: number;
}

/** What the search had done when it stopped, for `finishExploration`. */
export type FlatSearch = Pick<
  SearchFindings,
  'limitAt' | 'exhausted' | 'interrupted' | 'depthReached' | 'states' | 'transitions'
>;

/**
 * One flat search's start and end, shared by the one-thread search (`exploreFlat`) and the
 * parallel one (`explore-flat-parallel.ts`): the encoder made and its shape checked, the
 * invariants split as the object search splits them, the initial state checked with the design's
 * own invariants and its vector with the encoder's (`begin`); the audit and the replay of each
 * counterexample before the result (`end`).
 */
export class FlatRun<S, C extends T, T extends Command = C> {
  readonly design: AnyDesign;
  readonly invariants: readonly Invariant<unknown, unknown>[];
  readonly found = new Map<string, Found>();
  thrown: Thrown | null = null;
  scopeThrew: { message: string } | null = null;
  /** Set by `begin` when it returns 'ready'. */
  flat!: FlatScope<T>;
  initial!: Int32Array;
  perTransition: readonly Masked[] = [];
  stateOnly: readonly Masked[] = [];
  /** The invariants still unbroken once the initial state is checked, as masks. */
  transitionMask = 0;
  stateMask = 0;

  private readonly typed: Design<S, C, T>;
  private readonly scope: ExploreScope<S, T>;
  private readonly options: ExploreOptions;
  private readonly maxStates: number;
  private readonly started: number;

  constructor(
    typed: Design<S, C, T>,
    scope: ExploreScope<S, T>,
    options: ExploreOptions,
    maxStates: number,
    started: number,
  ) {
    this.typed = typed;
    this.scope = scope;
    this.options = options;
    this.maxStates = maxStates;
    this.started = started;
    this.design = typed;
    this.invariants = selectInvariants(this.design, options.invariants);
  }

  allFound(): boolean {
    return this.invariants.length > 0 && this.found.size === this.invariants.length;
  }

  /** Records a throw of the scope's code (the encoder's) at `record`: the search's crash. */
  scopeThrow(error: unknown, record: number): void {
    const text = (error as Error)?.message ?? String(error);
    this.scopeThrew = { message: error instanceof FlatDisagreement ? text : `the explore scope threw: ${text}` };
    this.thrown = { record, command: null, hasCommand: false, crash: crashOf(error, 0, 'step', null) };
  }

  finish(pathTo: (record: number) => unknown[], search: FlatSearch): ExploreResult<C> {
    return finishExploration(this.typed, this.options, {
      invariants: this.invariants,
      found: this.found,
      pathTo,
      thrown: this.thrown,
      scopeThrew: this.scopeThrew,
      ...search,
      partialOrder: false,
      slept: 0,
      maxStates: this.maxStates,
      started: this.started,
      engine: 'flat',
    });
  }

  /**
   * The encoder made and the initial state checked: 'ready' to search; null when the encoder
   * does not decide every invariant asked for (the caller then searches objects); else the
   * result of a search that stopped before its first step.
   */
  begin(): 'ready' | ExploreResult<C> | null {
    const { design, invariants, found } = this;
    // A search that stopped before its first step (`states`: the initial state's, if there was one).
    const nothing = (states: number): FlatSearch => ({
      limitAt: null,
      exhausted: false,
      interrupted: false,
      depthReached: 0,
      states,
      transitions: 0,
    });
    try {
      const made = this.scope.flat?.();
      if (made === undefined) return null;
      this.flat = made;
      const decided = made.invariants;
      if (invariants.some((invariant) => !decided.includes(invariant.name))) return null;
      shapeProblem(made);
    } catch (error) {
      this.scopeThrow(error, -1);
      return this.finish(() => [], nothing(0));
    }
    const flat = this.flat;
    const masked = (invariant: Invariant<unknown, unknown>): Masked => ({
      name: invariant.name,
      bit: 1 << flat.invariants.indexOf(invariant.name),
    });
    // The object search's split (`exploreDesign`): state-only invariants declare `reads`.
    this.perTransition = invariants.filter((invariant) => invariant.reads === undefined).map(masked);
    this.stateOnly = invariants.filter((invariant) => invariant.reads !== undefined).map(masked);

    // The initial state, as the object search checks it: the design's invariants on the design's
    // state (a throw there is the design's, replayed as a crash).
    let site: CrashSite | 'scope' = 'init';
    let asking: string | null = null;
    try {
      const initial: unknown = design.init();
      const start: Transition<unknown, unknown> = { before: null, command: null, result: null, after: initial };
      site = 'invariant';
      for (const group of [this.perTransition, this.stateOnly]) {
        for (const { name } of group) {
          const invariant = invariants.find((known) => known.name === name);
          asking = name;
          if (invariant?.check(start) !== null) found.set(name, { parent: -1, command: null, at: -1 });
        }
      }
      asking = null;
    } catch (error) {
      const crash = crashOf(error, 0, site, site === 'invariant' ? asking : null);
      this.thrown = { record: -1, command: null, hasCommand: false, crash };
      return this.finish(() => [], nothing(site === 'init' ? 0 : 1));
    }
    this.transitionMask = bitsOf(this.perTransition.filter(({ name }) => !found.has(name)));
    this.stateMask = bitsOf(this.stateOnly.filter(({ name }) => !found.has(name)));

    let made = false;
    try {
      const initial = new Int32Array(Math.max(flat.width, 1));
      flat.init(initial);
      made = true;
      this.initial = initial;
      // The encoder judges the initial vector as the design judged the initial state.
      const initialMask = flat.checkState(initial, 0) & bitsOf(this.stateOnly);
      let expected = 0;
      for (const { name, bit } of this.stateOnly) if (found.has(name)) expected |= bit;
      if (initialMask !== expected) {
        throw new FlatDisagreement(
          `the flat encoding disagrees with the design at the initial state: it finds ${maskNames(this.stateOnly, initialMask)} broken, the design ${maskNames(this.stateOnly, expected)}`,
        );
      }
    } catch (error) {
      this.scopeThrow(error, 0);
      return this.finish(() => [], nothing(made ? 1 : 0));
    }
    return 'ready';
  }

  /**
   * The result, once the encoder is held to the design: on the first records of `table` (the
   * search's, or a prefix of it), `expanded` of them expanded in full (`auditFlat`), and on each
   * counterexample found (`disagreement`). `atRecord`: where a disagreement is reported.
   */
  end(
    table: FlatStateTable,
    expanded: number,
    atRecord: number,
    pathTo: (record: number) => unknown[],
    search: FlatSearch,
  ): ExploreResult<C> {
    if (this.scopeThrew === null) {
      let audited: string | null;
      try {
        audited = auditFlat(this.design, this.scope, this.flat, table, this.invariants, expanded);
      } catch (error) {
        // The design's code or the encoder's: either way the two could not be held to each other.
        audited = `checking the flat encoding against the design, the code threw: ${(error as Error)?.message ?? String(error)}`;
      }
      if (audited !== null) this.scopeThrow(new FlatDisagreement(audited), atRecord);
    }
    const wrong = disagreement(this.design, this.found, pathTo);
    if (wrong !== null && this.scopeThrew === null) this.scopeThrow(new FlatDisagreement(wrong), atRecord);
    return this.finish(pathTo, search);
  }
}

/**
 * The search of `exploreDesign` on the scope's flat encoding (see the file's comment), or null
 * when the encoder does not decide every invariant asked for (the caller then searches objects).
 * `started`: when the search began (`performance.now()`), for the elapsed time.
 */
export function exploreFlat<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  scope: ExploreScope<S, T>,
  options: ExploreOptions,
  maxStates: number,
  started: number,
): ExploreResult<C> | null {
  const run = new FlatRun(typed, scope, options, maxStates, started);
  const begun = run.begin();
  if (begun !== 'ready') return begun;
  const { flat, found, perTransition, stateOnly } = run;
  const { width, commands } = flat;
  let { transitionMask, stateMask } = run;
  const stop = options.shouldStop ?? ((): boolean => false);

  const table = new FlatStateTable(width, flat.wordBits);
  // The vector of the record being expanded, and one for a record read aside (a path, a verdict).
  const parentVector = new Int32Array(Math.max(width, 1));
  const spare = new Int32Array(Math.max(width, 1));
  const pathTo = (record: number): unknown[] => {
    const path: unknown[] = [];
    const { parents, positions } = table;
    for (let at = record; at > 0; at = parents[at] ?? 0) {
      path.push(flat.command(table.vector(parents[at] ?? 0, spare), 0, positions[at] ?? 0));
    }
    return path.reverse();
  };

  const out = new Int32Array(Math.max(width, 1));
  let levelStart = 0;
  let levelEnd = 1;
  let transitions = 0;
  let depthReached = 0;
  let limitAt: number | null = null;
  let exhausted = false;
  let interrupted = false;
  let atRecord = 0;
  // Records expanded in full (`auditFlat` checks the first of them).
  let expandedRecords = 0;
  const report = (level: number, expanded: number): void =>
    options.onProgress?.({
      level,
      depth: options.depth,
      expanded,
      frontier: levelEnd - levelStart,
      states: table.size,
      transitions,
    });
  /** Notes the invariants of `group` whose bits `broken` sets, in the design's order (`found`'s order). */
  const note = (group: readonly Masked[], broken: number, parent: number, position: number, at: number): void => {
    for (const { name, bit } of group) {
      if ((broken & bit) === 0) continue;
      found.set(name, { parent, command: flat.command(table.vector(parent, spare), 0, position), at });
    }
  };

  table.find(run.initial);
  table.add(-1, 0);
  try {
    search: for (let level = 1; level <= options.depth && !run.allFound(); level++) {
      for (let at = levelStart; at < levelEnd; at++) {
        if (stop()) {
          interrupted = true;
          break search;
        }
        atRecord = at;
        // The record's vector, unpacked where the encoder reads it (`FlatStateTable.vector`).
        const states = table.vector(at, parentVector);
        let distinct = 0;
        for (let position = 0; position < commands; position++) {
          const status = flat.step(states, 0, position, out);
          if (status === FLAT_DUPLICATE) continue;
          const id = transitionId(at, distinct);
          distinct += 1;
          transitions += 1;
          if (transitionMask !== 0) {
            const broken = flat.checkTransition(states, 0, position, out, status) & transitionMask;
            if (broken !== 0) {
              note(perTransition, broken, at, position, id);
              transitionMask &= ~broken;
            }
          }
          if (status === FLAT_CHANGED) {
            if (table.find(out) < 0) {
              // A state-only verdict is reached once, at the state's first arrival (a shortest trace).
              if (stateMask !== 0) {
                const broken = flat.checkState(out, 0) & stateMask;
                if (broken !== 0) {
                  note(stateOnly, broken, at, position, id);
                  stateMask &= ~broken;
                }
              }
              if (table.size >= maxStates) {
                limitAt = level;
                break search;
              }
              table.add(at, position);
            }
          } else if (status !== FLAT_SAME) {
            throw new Error(`flat step returned ${String(status)} at command position ${position}`);
          }
          if (run.allFound()) break search;
          if ((transitions & 1023) === 0) report(level, at - levelStart);
        }
        expandedRecords = at + 1;
      }
      report(level, levelEnd - levelStart);
      depthReached = level;
      levelStart = levelEnd;
      levelEnd = table.size;
      // Nothing new at this level: every longer sequence only revisits known states.
      if (levelStart === levelEnd) {
        depthReached = options.depth;
        exhausted = true;
        break;
      }
    }
  } catch (error) {
    run.scopeThrow(error, atRecord);
  }
  return run.end(table, expandedRecords, atRecord, pathTo, {
    limitAt,
    exhausted,
    interrupted,
    depthReached,
    states: table.size,
    transitions,
  });
}

/** The flat encoding judged otherwise than the design: reported as the scope's throw, in these words. */
export class FlatDisagreement extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlatDisagreement';
  }
}

/** Throws when the encoder's shape is not one the search can use. */
export function shapeProblem(flat: FlatScope<unknown>): void {
  const { width, commands, invariants } = flat;
  if (!Number.isInteger(width) || width < 0) throw new Error(`flat width ${width} is not a count`);
  if (!Number.isInteger(commands) || commands < 0 || commands > MAX_COMMANDS) {
    throw new Error(`flat commands ${commands} is not a count up to ${MAX_COMMANDS}`);
  }
  if (invariants.length > MAX_INVARIANTS) throw new Error(`flat encoding names more than ${MAX_INVARIANTS} invariants`);
  if (new Set(invariants).size !== invariants.length) throw new Error('flat encoding names an invariant twice');
}

export function bitsOf(group: readonly Masked[]): number {
  let mask = 0;
  for (const { bit } of group) mask |= bit;
  return mask;
}

function maskNames(group: readonly Masked[], mask: number): string {
  const names = group.filter(({ bit }) => (mask & bit) !== 0).map(({ name }) => name);
  return names.length === 0 ? 'none' : names.join(', ');
}

/**
 * Replays each counterexample the flat search found through the design: one that does not break
 * its invariant there at its last step (the encoding disagrees with the design: its trace would
 * be a wrong one) is dropped from `found`, and the first such is said in words; null when every
 * one replays. The initial state's verdicts are the design's own.
 */
function disagreement(
  design: AnyDesign,
  found: Map<string, Found>,
  pathTo: (record: number) => unknown[],
): string | null {
  let first: string | null = null;
  for (const [name, hit] of [...found]) {
    if (hit.parent < 0) continue;
    let problem: string | null;
    let length = 0;
    try {
      const steps = [...pathTo(hit.parent), hit.command];
      length = steps.length;
      const run = runTrace(design, steps, { invariants: [name] });
      problem =
        run.crash !== null
          ? `the design's code throws at step ${run.crash.atStep}`
          : run.violations.length === 0
            ? 'it holds'
            : run.steps.length !== length
              ? `it breaks at step ${run.steps.length}`
              : null;
    } catch (error) {
      problem = `the flat encoding's command threw: ${(error as Error)?.message ?? String(error)}`;
    }
    if (problem === null) continue;
    found.delete(name);
    first ??= `the flat encoding disagrees with the design: it finds ${name} broken by a trace of ${length} steps, but replayed through the design ${problem} (explore without the flat encoding: --no-flat)`;
  }
  return first;
}
