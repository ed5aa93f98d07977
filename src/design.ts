/**
 * The interfaces a design is written against. Built-in designs use exactly these; a user's
 * own design (a variant of a mechanism) implements the same and is checked the same way.
 */
import type { Arbitrary } from 'fast-check';
import type { OpResult } from '../models/result.js';
import type { GenerationOptions } from './generate.js';
import type { Holding } from './waits.js';
import type { Fingerprint } from './state-table.js';
import type { FlatScope } from './flat-scope.js';

/** A command is plain data with a `kind`. */
export interface Command {
  readonly kind: string;
}

export type Expectation = 'holds' | 'violates';
export const expectations: readonly Expectation[] = ['holds', 'violates'];

export type InvariantClass =
  | 'effect'
  | 'latent'
  | 'accounting'
  | 'teardown'
  | 'atomicity'
  | 'differential'
  /** Every wait ends: no operation waits for what it, or one waiting for it, holds (`waits.ts`). */
  | 'liveness';

/** One step as the invariants see it. At the initial state `before`, `command`, `result` are null. */
export interface Transition<S, C> {
  readonly before: S | null;
  readonly command: C | null;
  readonly result: OpResult | null;
  readonly after: S;
}

/** What an invariant reports: a sentence in domain words, and actual vs expected values. */
export interface Violation {
  readonly message: string;
  readonly actual: string;
  readonly expected: string;
}

/** A named predicate with one clause; `check` returns null when the clause holds. */
export interface Invariant<S, C> {
  readonly name: string;
  readonly class: InvariantClass;
  readonly description: string;
  check(transition: Transition<S, C>): Violation | null;
  /**
   * For an invariant whose verdict depends on `after` alone: the parts of the state it reads.
   * When each part is the very same object in the state before the step, the verdict is the one
   * already reached there (it held, or the invariant would no longer be checked), so the engine
   * skips the check. Only useful where steps share unchanged parts of the state. Declaring it
   * also says the verdict is the state's: `dmaprop explore` checks such an invariant once per
   * distinct state (when first reached), not on every transition into it.
   */
  reads?(state: S): readonly unknown[];
}

/** Command generators by kind. Templates may hold picks from live objects that `resolve` fixes. */
export interface CommandSpace<T> {
  readonly kinds: readonly string[];
  arbitrary(kind: string): Arbitrary<T>;
  /** Relative frequency of a kind among the enabled ones (default 1): teardown is rarer than use. */
  weight?(kind: string): number;
  /**
   * A kind whose real operation is a run of commands in a fixed order (a guest driver's function
   * that writes an entry, then issues the invalidations it owes, with no other driver call of the
   * same guest in between): its generator as runs, each command of which is still a step of its
   * own (other actors' commands are interleaved only by preemption and shrinking). `undefined`
   * for a kind generated one command at a time; a space without it generates as before.
   */
  run?(kind: string): Arbitrary<readonly T[]> | undefined;
  /**
   * Operations that take time: the stack models some commands as phases with other work able to
   * run in between (a DMA translated, then landing; an unmap clearing, invalidating, then
   * releasing). Generation then leaves a few operations of a sequence in flight after their first
   * phase and advances them later, among other commands (`generate.ts`).
   */
  readonly interleaving?: InterleavingSpace<T>;
}

/**
 * How a stack's phased operations are written as commands. A phased command started with
 * `start` runs its first phase and stays in flight; each `advance` runs the next phase of one
 * operation in flight. A command that is not started this way runs all its phases at once, as
 * an atomic command did: the phases with nothing in between.
 */
export interface InterleavingSpace<T> {
  /** How many phases an operation of this kind has (1: atomic, never left in flight). */
  phases(kind: string): number;
  /** The same operation as `template`, started and left in flight after its first phase. */
  start(template: T): T;
  /**
   * A template that advances an operation in flight by one phase: `pick` chooses among those in
   * flight, oldest first (resolved against the state when the step runs, like any pick).
   */
  advance(pick: number): T;
  /**
   * The kinds whose commands can change what a later phase of an operation of `kind` depends on
   * (a balloon-out of the gfn a trapped GGTT write translated; the guest's store into a batch
   * buffer between its audit and its copy). Generation then places a few such commands inside
   * some windows (`generate.ts`): a context switch matters only when what runs in it conflicts.
   */
  conflicts?(kind: string): readonly string[];
  /**
   * A conflicting command as a window holds it: the kind's generator aimed at what the operation
   * in flight uses (the guest's balloon-out of the page being translated, rather than any domain's
   * of any page). `CommandSpace.arbitrary` when absent or undefined for the kind.
   */
  windowArbitrary?(kind: string): Arbitrary<T> | undefined;
}

/** An operation in flight, as a stack reports it: who runs it, what it is, the phase it is at. */
export interface InFlight {
  readonly actor: string;
  readonly kind: string;
  /** The next phase to run, in the real code's words ("translate", "access"). */
  readonly phase: string;
}

export interface Step<S> {
  readonly state: S;
  readonly result: OpResult;
}

/**
 * A design: a stack configured one way, with the verdict it is expected to get.
 * `C` is the concrete command; `T` is what generators produce (a concrete command must also be
 * a valid template, resolving to itself).
 */
export interface Design<S, C extends T, T extends Command = C> {
  readonly id: string;
  readonly stack: string;
  readonly expected: Expectation;
  readonly description: string;
  /** For a flawed design: the invariants it is known to break (documentation and meta-tests). */
  readonly breaks: readonly string[];
  init(): S;
  step(state: S, command: C): Step<S>;
  resolve(state: S, template: T): C;
  readonly commands: CommandSpace<T>;
  readonly invariants: readonly Invariant<S, C>[];
  /**
   * Generation defaults of this design, over the harness's (`defaultGeneration`); a check's own
   * options override them. A stack whose counterexamples are short and whose steps are costly may
   * generate shorter sequences.
   */
  readonly generation?: Partial<GenerationOptions>;
  /** One line for a command in a report; JSON when absent. */
  formatCommand?(command: C): string;
  /** Checks a command read from a file (its kind is already known): the first bad field, or null. */
  validateCommand?(command: Readonly<Record<string, unknown>>): CommandProblem | null;
  /** The state that matters around one step, for `dmaprop replay`: a few lines in domain words. */
  explainStep?(transition: Transition<S, C>): string[];
  /** The small scope `dmaprop explore` enumerates exhaustively; a design without one is not explored. */
  readonly explore?: ExploreScope<S, T>;
  /**
   * The few top-level parts that every invariant's `reads` draws from. When each is the very
   * same object after a step as before it, so is every part any `reads` returns, and the engine
   * skips all those invariants with one comparison instead of asking each (a refused request,
   * on a stack that shares what a step did not change). The incremental test checks the claim.
   */
  parts?(state: S): readonly unknown[];
  /**
   * Reach statistics: the states worth reaching that a step reached ("map crosses a leaf-table
   * boundary"), as labels out of `reach`. `--stats` counts them per step and per run, so a label
   * no run reaches shows a hole in the generators.
   */
  classify?(transition: Transition<S, C>): readonly string[];
  /**
   * Who runs a step, in the real system's words: a guest vCPU, the VMM, a device, a timer, the
   * hypervisor, the toolstack. Reports show a counterexample as lanes, one per actor.
   */
  actorOf?(state: S, command: C): string;
  /** The operations in flight in a state, oldest first (what `advance` picks among). */
  inflight?(state: S): readonly InFlight[];
  /**
   * What each operation in flight holds between its phases and what its next phase must take
   * (`waits.ts`): with `OpResult.blocked`, how `no-operation-waits-forever` tells a wait that ends
   * from one that never does.
   */
  holdings?(state: S): readonly Holding[];
  /** Every label `classify` can return, in report order. */
  readonly reach?: readonly string[];
  /**
   * Each label's floor: how many runs in 1,000 must reach it (1 for a label of `reach` not named
   * here). A check of R runs requires ⌊floor × R / 1000⌋ of them; a label below that leaves the
   * check inconclusive, as a command kind never executed does: the generators did not take the
   * search where the stack's bugs live, so "holds" would be a verdict by omission.
   */
  readonly reachFloors?: Readonly<Record<string, number>>;
}

/**
 * A small scope for exhaustive breadth-first exploration (`dmaprop explore`): the commands to try
 * from each state, and a canonical key that identifies states up to the stack's symmetries.
 * A stack declares only this; the explorer is generic.
 */
export interface ExploreScope<S, T> {
  /** What the scope covers and what it leaves out, in a sentence or two (shown by the CLI). */
  readonly description: string;
  /**
   * The finite list of command templates tried from `state`, in a fixed order (the search order).
   * Templates may hold picks: the explorer resolves each with `design.resolve` and steps each
   * distinct concrete command once.
   */
  templates(state: S): readonly T[];
  /**
   * A canonical key of `state`. Equal keys must mean equivalent states: equal up to a symmetry of
   * the stack (a renaming of interchangeable identities under which the step function, the
   * templates and every invariant's verdict are unchanged), or differing only in what none of
   * them reads. The more equivalent states share a key, the fewer states the search visits.
   */
  key(state: S): string;
  /**
   * The 128-bit fingerprint the explorer stores for `state`, where it is cheaper than hashing `key`:
   * equal for states with equal keys, and different (but with probability about 2⁻¹²⁸) for the
   * others. A scope whose key is `stableJson(view)` gives `stableFingerprint(view)`
   * (src/stable-fingerprint.ts), which walks the view once and builds no text. Absent: the
   * fingerprint of `key(state)`.
   */
  fingerprint?(state: S): Fingerprint;
  /**
   * What `command` touches at `state`, for partial-order reduction (`ExploreOptions.partialOrder`);
   * null: it may touch anything. `step` is what the command did from `state` (the explorer has run
   * it already), so what it wrote can be read off it (`changedPaths` in properties/generic/footprint.ts). Two commands whose footprints do not conflict at a state (neither
   * writes what the other reads or writes) are independent there, and the explorer does not try
   * them in both orders. The stack promises, for such a pair run from that state in either order:
   * the scope offers each after the other (so `reads` covers what the templates' picks read), the
   * same results, the same state, and an invariant broken by the second command in one order
   * is broken by one of the two in the other — so `reads` names what the transition invariants
   * (effect, atomicity) read to judge the command, not only what the step reads (the owner of the
   * frame a DMA lands in). `footprintProblems` checks the promise on a scope's reachable states. Resource names are the stack's own,
   * as paths: `frames/7` overlaps `frames` and `frames/7/owner`, not `frames/8`. Without it, every pair is dependent.
   */
  footprint?(state: S, command: T, step: Step<S>): Footprint | null;
  /**
   * The scope's states as flat integer vectors (`flat-scope.ts`), for the explorer's fast path
   * (`explore-flat.ts`): a fresh encoder for one search. The explorer takes it when the search
   * asks nothing the encoding cannot give (one thread, no shard, no partial-order reduction, no
   * key of the options' own, only invariants it decides) unless `ExploreOptions.flat` is false;
   * the result is the object search's, states, transitions, verdicts and counterexamples alike.
   */
  flat?(): FlatScope<T>;
}

/** What a command reads and writes at a state, by resource name (see `ExploreScope.footprint`). */
export interface Footprint {
  readonly reads: readonly string[];
  readonly writes: readonly string[];
}

/** A field of a command that is not what its kind requires. */
export interface CommandProblem {
  readonly field: string;
  readonly problem: string;
}

// Designs of different stacks live in one registry; their type parameters are erased there.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDesign = Design<any, any, any>;

/**
 * What is wrong with a design's declaration, in words: a flawed design must name the invariants it
 * breaks (its expectation is met only when each of them is broken), each must be one of its
 * invariants, and a sound design breaks none. Empty when the declaration is well formed.
 */
export function designProblems(design: AnyDesign): string[] {
  const problems: string[] = [];
  const names = new Set(design.invariants.map((invariant: Invariant<unknown, unknown>) => invariant.name));
  if (!expectations.includes(design.expected)) {
    problems.push(`${design.id}: expected must be "holds" or "violates", got ${JSON.stringify(design.expected)}`);
  }
  if (design.expected === 'violates' && design.breaks.length === 0) {
    problems.push(`${design.id}: a flawed design must declare the invariants it breaks (breaks is empty)`);
  }
  if (design.expected === 'holds' && design.breaks.length > 0) {
    problems.push(`${design.id}: a sound design breaks nothing, but breaks lists ${design.breaks.join(', ')}`);
  }
  for (const name of design.breaks) {
    if (!names.has(name)) problems.push(`${design.id}: breaks names '${name}', which is not one of its invariants`);
  }
  if (names.size !== design.invariants.length) problems.push(`${design.id}: two invariants share a name`);
  return problems;
}

/** A design whose declaration is malformed (`designProblems`): the check cannot mean anything. */
export class DesignError extends Error {
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'DesignError';
  }
}

/** Throws a `DesignError` naming every problem of the design's declaration. */
export function assertWellFormed(design: AnyDesign): void {
  const problems = designProblems(design);
  if (problems.length > 0) throw new DesignError(problems);
}

/** Designs of one stack that check the same invariants are built on the same models: one key for them. */
export function modelKey(design: AnyDesign): string {
  return `${design.stack}:${design.invariants.map((invariant: Invariant<unknown, unknown>) => invariant.name).join(',')}`;
}

/**
 * The first sound design of each stack and invariant set, in registry order: the baseline that
 * flawed variants on the same models are compared with, and the one the benchmark measures.
 */
export function soundDesignPerModel(designs: readonly AnyDesign[]): AnyDesign[] {
  const byModel = new Map<string, AnyDesign>();
  for (const design of designs) {
    if (design.expected === 'holds' && !byModel.has(modelKey(design))) byModel.set(modelKey(design), design);
  }
  return [...byModel.values()];
}
