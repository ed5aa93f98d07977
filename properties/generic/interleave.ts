/**
 * What every stack with phased operations writes the same way: the `advance` command that runs
 * the next phase of an operation in flight, a start as the operation's own command with
 * `phased: true`, and the resolution of an advance's pick against what is in flight.
 */
import type { InterleavingSpace } from '../../src/design.js';
import type { FieldType } from './command-schema.js';
import { upTo } from './command-schema.js';

/** The kind of the scheduler's command: run the next phase of in-flight operation `op` (oldest first). */
export const ADVANCE = 'advance';

export interface AdvanceCommand {
  readonly kind: typeof ADVANCE;
  /** Index into the operations in flight, oldest first (a template holds a pick: any whole number). */
  readonly op: number;
}

/** The most operations a stack keeps in flight: an advance's index is below it. */
export const MAX_IN_FLIGHT = 64;

/** The schema of `advance`, to add to a stack's command schema. */
export const advanceSchema: Readonly<Record<typeof ADVANCE, Readonly<Record<string, FieldType>>>> = {
  [ADVANCE]: { op: upTo(MAX_IN_FLIGHT - 1, 'an index into the operations in flight') },
};

/** The field a phased kind's schema adds: `phased: true` starts the operation and leaves it in flight. */
export const phasedField: Readonly<Record<'phased', FieldType>> = { phased: 'optional boolean' };

/**
 * The interleaving space of a stack: its phased kinds and how many phases each has, and, for some
 * of them, the kinds that conflict with their windows (`InterleavingSpace.conflicts`).
 */
export function phasedSpace<T extends { readonly kind: string }>(
  phases: Readonly<Record<string, number>>,
  conflicts: Readonly<Record<string, readonly string[]>> = {},
): InterleavingSpace<T> {
  return {
    phases: (kind) => phases[kind] ?? 1,
    conflicts: (kind) => conflicts[kind] ?? [],
    start: (template) => ({ ...template, phased: true }),
    advance: (pick) => ({ kind: ADVANCE, op: pick }) as unknown as T,
  };
}

/**
 * The phases of the kinds a design preempts (`preempt`; all of them when absent): any other kind
 * runs whole. A design whose flaw is in one operation's window names that operation, so that a
 * sequence's few preemptions are not shared with windows the flaw does not change.
 */
export function preemptedPhases(
  phases: Readonly<Record<string, number>>,
  preempt: readonly string[] | undefined,
): Readonly<Record<string, number>> {
  if (preempt === undefined) return phases;
  return Object.fromEntries(Object.entries(phases).filter(([kind]) => preempt.includes(kind)));
}

/**
 * An advance's pick resolved against the `count` operations in flight: the pick itself when in
 * range, else taken modulo the count (a shrunk trace may have fewer in flight); with none in
 * flight the pick is kept and the step refuses it.
 */
export function resolveAdvance(command: AdvanceCommand, count: number): AdvanceCommand {
  if (count === 0 || command.op < count) return command;
  return { kind: ADVANCE, op: command.op % count };
}

/** True for a command that starts its operation and leaves it in flight. */
export function isPhasedStart(command: { readonly phased?: boolean }): boolean {
  return command.phased === true;
}
