/**
 * Running a trace: resolve each template against the current state, step, check invariants.
 * Pure apart from time: the same design and templates give the same executed steps.
 */
import { firstDifference } from '../models/deep-equal.js';
import type { OpResult } from '../models/result.js';
import type { AnyDesign, Command, Design, Invariant, Violation } from './design.js';
import { bump } from './stats.js';
import type { RunStats } from './stats.js';

export interface ExecutedStep<C = unknown> {
  readonly command: C;
  readonly result: OpResult;
  /** Who ran the step (`Design.actorOf`), on a stack that says. */
  readonly actor?: string;
}

export interface FoundViolation {
  readonly invariant: string;
  readonly class: Invariant<unknown, unknown>['class'];
  /** 0 = the initial state; n = after step n (1-based). */
  readonly afterStep: number;
  readonly violation: Violation;
}

/** Where a design's own code threw: its initial state, a resolution, a step, or an invariant. */
export type CrashSite = 'init' | 'resolve' | 'step' | 'invariant' | 'classify';

/**
 * An exception thrown by the design's code while a trace ran. It is a finding, never a pass: the
 * run stops there, and the check reports it as `crashed`.
 */
export interface Crash {
  /** 0: in `init` or on the initial state; n: while running or checking step n (1-based). */
  readonly atStep: number;
  readonly site: CrashSite;
  /** The invariant that threw, when `site` is `invariant`. */
  readonly invariant: string | null;
  /** The error's constructor name (`TypeError`), or `thrown` for a thrown non-Error value. */
  readonly name: string;
  readonly message: string;
  readonly stack: string | null;
}

export interface TraceRun<C = unknown> {
  readonly steps: ExecutedStep<C>[];
  /** First violation of each checked invariant, in the order found. */
  readonly violations: FoundViolation[];
  /** The exception that ended the run, if one did; the steps before it are in `steps`. */
  readonly crash: Crash | null;
}

/** A crash as data, whatever was thrown. */
export function crashOf(thrown: unknown, atStep: number, site: CrashSite, invariant: string | null = null): Crash {
  if (thrown instanceof Error) {
    return { atStep, site, invariant, name: thrown.name, message: thrown.message, stack: thrown.stack ?? null };
  }
  let message: string;
  try {
    message = typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    message = Object.prototype.toString.call(thrown);
  }
  return { atStep, site, invariant, name: 'thrown', message, stack: null };
}

/** Two crashes are the same finding when the same kind of error comes from the same place. */
export function sameCrash(left: Crash, right: Crash): boolean {
  return left.site === right.site && left.invariant === right.invariant && left.name === right.name;
}

/** Where a crash happened, in words: `step 3 (invariant no-dma-to-free-frame)`. */
export function crashWhere(crash: Crash): string {
  const at = crash.atStep === 0 ? 'the initial state' : `step ${crash.atStep}`;
  const site = crash.site === 'invariant' ? `invariant ${crash.invariant ?? '?'}` : crash.site;
  return `${at} (${site})`;
}

export interface RunOptions {
  /** Names of the invariants to check; all of the design's when absent. */
  readonly invariants?: readonly string[];
  /** Stop at the first violation (the usual case). Otherwise run on and record each invariant's first. */
  readonly stopAtFirst?: boolean;
  /** Accumulates per-kind and per-invariant counts when given. */
  readonly stats?: RunStats;
  /**
   * Skip an invariant whose `reads` parts are unchanged by the step (default true). `false`
   * checks everything after every step: the differential test of the incremental checking.
   */
  readonly incremental?: boolean;
  /**
   * Purity guard: copy each state before its step and compare it after. A step that changed the
   * state it was given ends the run as a crash (`PurityError`, with the first path that changed).
   * The engine keeps each state as the next step's `before`, the atomicity invariant compares the
   * two, and explore keys on states: a step that writes through a shared reference corrupts them
   * all silently. Costs a deep copy per step: for tests and `--strict`.
   */
  readonly strict?: boolean;
  /** Told each reach label a step reached (`Design.classify`), with the step (1-based). */
  readonly onReach?: (label: string, step: number) => void;
}

/** Thrown by the purity guard (`RunOptions.strict`) when a step changed the state it was given. */
export class PurityError extends Error {
  constructor(change: string) {
    super(`step changed the state it was given: ${change}`);
    this.name = 'PurityError';
  }
}

/** True when both lists hold the same parts (the same objects, or equal primitives) in order. */
function sameParts(previous: readonly unknown[], current: readonly unknown[]): boolean {
  if (previous.length !== current.length) return false;
  for (let index = 0; index < current.length; index++) if (previous[index] !== current[index]) return false;
  return true;
}

export function selectInvariants(design: AnyDesign, names?: readonly string[]): Invariant<unknown, unknown>[] {
  const all = design.invariants as Invariant<unknown, unknown>[];
  if (names === undefined) return all;
  for (const name of names) {
    if (!all.some((invariant) => invariant.name === name)) {
      throw new Error(`design ${design.id} has no invariant named '${name}'`);
    }
  }
  return all.filter((invariant) => names.includes(invariant.name));
}

export function runTrace<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  templates: readonly T[],
  options: RunOptions = {},
): TraceRun<C> {
  // Inside, the state and commands are data the engine hands on; the signature checks the caller.
  const design: AnyDesign = typed;
  const invariants = selectInvariants(design, options.invariants);
  const stopAtFirst = options.stopAtFirst ?? true;
  const incremental = options.incremental ?? true;
  const strict = options.strict ?? false;
  const steps: ExecutedStep[] = [];
  const violations: FoundViolation[] = [];
  // Invariants still looked for, by index into `invariants` (arrays: this loop runs for every
  // invariant after every step, and is the harness's own hot path).
  const pending = invariants.map(() => true);
  let remaining = invariants.length;
  const stats = options.stats;
  if (stats !== undefined) {
    stats.lengths.push(templates.length);
    for (const template of templates) bump(stats.generated, (template as { kind: string }).kind);
  }

  // The parts each invariant read of the last state: this step's `before` (so `reads` runs once
  // per state, not twice).
  const partsRead: (readonly unknown[] | undefined)[] = invariants.map(() => undefined);
  // The design's top-level parts of the last state (`Design.parts`).
  let topParts: readonly unknown[] | undefined;
  // After a step that left the top-level parts alone only these can fail: the invariants that
  // declare no reads (they look at the step's result, or at everything).
  const unread = invariants.flatMap((invariant, index) =>
    incremental && invariant.reads !== undefined ? [] : [index],
  );
  let crash: Crash | null = null;
  // The invariant being asked (`reads` or `check`) when one throws, for the crash report.
  let asking: string | null = null;
  const checkAll = (transition: Parameters<Invariant<unknown, unknown>['check']>[0], afterStep: number): boolean => {
    const top = incremental ? design.parts?.(transition.after) : undefined;
    const untouched =
      top !== undefined && topParts !== undefined && transition.before !== null && sameParts(topParts, top);
    topParts = top;
    if (untouched && stats !== undefined) {
      // Skipped, but they hold on this state as they did on the last: counted as checked.
      invariants.forEach((invariant, index) => {
        if (invariant.reads !== undefined && pending[index] === true) bump(stats.checks, invariant.name);
      });
    }
    const count = untouched ? unread.length : invariants.length;
    for (let position = 0; position < count; position++) {
      const index = untouched ? (unread[position] ?? -1) : position;
      const invariant = invariants[index];
      if (invariant === undefined || pending[index] !== true) continue;
      if (stats !== undefined) bump(stats.checks, invariant.name);
      asking = invariant.name;
      if (incremental && invariant.reads !== undefined) {
        const previous = partsRead[index];
        const current = invariant.reads(transition.after);
        partsRead[index] = current;
        // Unchanged: every part it reads is the one it read, and passed, after the last step.
        if (previous !== undefined && transition.before !== null && sameParts(previous, current)) continue;
      }
      const violation = invariant.check(transition);
      if (violation === null) continue;
      violations.push({ invariant: invariant.name, class: invariant.class, afterStep, violation });
      pending[index] = false;
      remaining -= 1;
      if (stopAtFirst) return true;
    }
    // With every checked invariant already broken there is nothing left to look for.
    return invariants.length > 0 && remaining === 0;
  };

  const reachedThisRun = new Set<string>();
  const countReach = (): void => {
    if (stats !== undefined) for (const label of reachedThisRun) bump(stats.reachRuns, label);
  };
  // The design's code may throw anywhere; `site` says where it was when it did.
  let site: CrashSite = 'init';
  let state: unknown;
  try {
    state = design.init();
    site = 'invariant';
    if (checkAll({ before: null, command: null, result: null, after: state }, 0)) {
      return { steps: steps as ExecutedStep<C>[], violations, crash };
    }
    for (const template of templates) {
      site = 'resolve';
      const command: unknown = design.resolve(state, template);
      site = 'step';
      const actor = design.actorOf?.(state, command);
      const snapshot: unknown = strict ? structuredClone(state) : undefined;
      const { state: after, result } = design.step(state, command);
      if (strict) {
        const change = firstDifference(snapshot, state);
        if (change !== null) throw new PurityError(change);
      }
      steps.push(actor === undefined ? { command, result } : { command, result, actor });
      if (stats !== undefined) {
        const kind = (command as { kind: string }).kind;
        if (result.ok) bump(stats.executed, kind);
        else bump((stats.rejected[kind] ??= {}), String(result.error));
      }
      const transition = { before: state, command, result, after };
      if ((stats !== undefined || options.onReach !== undefined) && design.classify !== undefined) {
        site = 'classify';
        for (const label of design.classify(transition)) {
          if (stats !== undefined) bump(stats.reachSteps, label);
          reachedThisRun.add(label);
          options.onReach?.(label, steps.length);
        }
      }
      site = 'invariant';
      asking = null;
      const stop = checkAll(transition, steps.length);
      state = after;
      if (stop) break;
    }
  } catch (thrown) {
    // `resolve` and `step` throw before their step is recorded; the rest after.
    const atStep = site === 'init' ? 0 : site === 'resolve' || site === 'step' ? steps.length + 1 : steps.length;
    crash = crashOf(thrown, atStep, site, site === 'invariant' ? asking : null);
  }
  countReach();
  return { steps: steps as ExecutedStep<C>[], violations, crash };
}

/** True when the trace crashes as `crash` did (the same kind of error from the same place). */
export function crashesLike<S, C extends T, T extends Command = C>(
  design: Design<S, C, T>,
  commands: readonly T[],
  crash: Crash,
): boolean {
  const invariants = crash.invariant === null ? [] : [crash.invariant];
  const found = runTrace(design, commands, {
    invariants,
    stopAtFirst: false,
    strict: crash.name === 'PurityError',
  }).crash;
  return found !== null && sameCrash(found, crash);
}

/** True when `invariant` is violated somewhere along the trace. */
export function violates<S, C extends T, T extends Command = C>(
  design: Design<S, C, T>,
  commands: readonly T[],
  invariant: string,
): boolean {
  return runTrace(design, commands, { invariants: [invariant] }).violations.length > 0;
}
