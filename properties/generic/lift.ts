/**
 * Lifting an invariant of one model onto a stack that holds that model's state as a part: the
 * composed stack keeps every rule of its parts. The command is handed through unchanged, since the
 * lifted invariants read the state and the result only; `reads` follows the part.
 */
import type { Invariant } from '../../src/design.js';

/**
 * `stateOnly`: the verdict depends on the part's state after the step alone (the invariant may
 * then be skipped when the step left the part untouched).
 */
export function liftInvariant<S, C, T, D>(
  invariant: Invariant<T, D>,
  part: (state: S) => T,
  stateOnly = false,
): Invariant<S, C> {
  const reads = invariant.reads;
  return {
    ...(reads !== undefined
      ? { reads: (state: S) => reads(part(state)) }
      : stateOnly
        ? { reads: (state: S) => [part(state)] }
        : {}),
    name: invariant.name,
    class: invariant.class,
    description: invariant.description,
    check: ({ before, command, result, after }) =>
      invariant.check({
        before: before === null ? null : part(before),
        // The lifted invariants never read the command; the stack's own commands are not the part's.
        command: command as unknown as D | null,
        result,
        after: part(after),
      }),
  };
}
