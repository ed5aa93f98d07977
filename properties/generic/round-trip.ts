/**
 * Round trips, for any stack: whatever a request set up can be taken down again, with everything
 * it took given back. After each accepted request that creates something (a mapping, a grant
 * mapping), the stack's inverse request (an unmap) runs on a copy of the state; it must be
 * accepted, and the quantities the stack names (pins, charges, free entries) must be back where
 * they were before the request. The copy is thrown away: the run goes on from the real state.
 */
import type { OpResult } from '../../models/result.js';
import type { Invariant, Transition } from '../../src/design.js';

export interface RoundTrip<S, C> {
  /**
   * The request that undoes the step (or the requests, in order: a guest clears its entries, then
   * invalidates), or null when the step created nothing to undo.
   */
  inverse(transition: Transition<S, C> & { readonly before: S; readonly command: C }): C | readonly C[] | null;
  /** Runs a request on a copy (the state passed is never modified). */
  step(state: S, command: C): { readonly state: S; readonly result: OpResult };
  /** The quantities that must come back, by name (pins held, locked_vm, free slots, …). */
  measures(state: S): Readonly<Record<string, number>>;
  /** How a request reads in a message. */
  describe(command: C): string;
}

export function roundTripReturnsEverything<S, C>(roundTrip: RoundTrip<S, C>): Invariant<S, C> {
  // The measures of the last state a transition started from: the explorer tries every command
  // from one state in a row, and `measures` is a pure function of the state.
  let lastBefore: S | null = null;
  let lastWanted: Readonly<Record<string, number>> = {};
  const wantedOf = (before: S): Readonly<Record<string, number>> => {
    if (before !== lastBefore) {
      lastWanted = roundTrip.measures(before);
      lastBefore = before;
    }
    return lastWanted;
  };
  return {
    name: 'round-trip-returns-everything',
    class: 'teardown',
    description:
      'every accepted request that creates something can be undone at once, and undoing it gives back every pin, charge and entry it took',
    check(transition) {
      const { before, command, result } = transition;
      if (before === null || command === null || result === null || !result.ok) return null;
      const inverse = roundTrip.inverse({ ...transition, before, command });
      if (inverse === null) return null;
      const requests: readonly C[] = Array.isArray(inverse) ? (inverse as readonly C[]) : [inverse as C];
      let undone = { state: transition.after };
      for (const request of requests) {
        const next = roundTrip.step(undone.state, request);
        if (!next.result.ok) {
          return {
            message: `${roundTrip.describe(request)} right after the request was refused with ${String(next.result.error)}`,
            actual: `refused ${String(next.result.error)}`,
            expected: 'accepted',
          };
        }
        undone = next;
      }
      const what = requests.map((request) => roundTrip.describe(request)).join(', then ');
      const wanted = wantedOf(before);
      const got = roundTrip.measures(undone.state);
      for (const [name, value] of Object.entries(wanted)) {
        if (got[name] === value) continue;
        return {
          message: `after ${what}, ${name} is ${String(got[name])} where it was ${value} before the request`,
          actual: `${name} ${String(got[name])}`,
          expected: `${name} ${value}`,
        };
      }
      return null;
    },
  };
}
