/**
 * Atomicity, for any stack: a request the model refuses leaves the state exactly as before.
 */
import type { Invariant } from '../../src/design.js';
import { deepEqual, firstDifference } from '../../models/deep-equal.js';

export function failedOperationLeavesStateUnchanged<S, C>(): Invariant<S, C> {
  return {
    name: 'failed-op-leaves-state-unchanged',
    class: 'atomicity',
    description: 'a refused request leaves the whole state exactly as it was',
    check({ before, result, after }) {
      if (before === null || result === null || result.ok || deepEqual(before, after)) return null;
      const difference = firstDifference(before, after) ?? 'unknown field';
      return {
        message: `request refused with ${String(result.error)} but the state changed at ${difference}`,
        actual: `changed: ${difference}`,
        expected: 'state unchanged',
      };
    },
  };
}
