/**
 * Toy designs for the parallel explorer's tests (`parallel.test.ts`), loaded by its workers from
 * the compiled module (dist/test/explore/parallel-designs.js): a counter whose code throws at a
 * chosen point, so that the crash the parallel search reports can be held to the sequential one's.
 */
import type { Design } from '../../src/design.js';
import { counterDesign } from './counter-design.js';
import type { Counter, CounterCommand } from './counter-design.js';

/** Throws when a step from 3 adds 1; the other invariants break before or never. */
export function stepThrowsAtThree(): Design<Counter, CounterCommand> {
  const base = counterDesign({ id: 'toy/step-throws-at-three', expected: 'holds' });
  return {
    ...base,
    step(state, command) {
      if (state.n === 3 && command.kind === 'add' && command.by === 1) throw new Error('step from 3');
      return base.step(state, command);
    },
  };
}

/** An invariant that throws at 4, after one that breaks at 3 (state-only both). */
export function invariantThrowsAtFour(): Design<Counter, CounterCommand> {
  const base = counterDesign({ id: 'toy/invariant-throws-at-four' });
  return {
    ...base,
    invariants: [
      ...base.invariants,
      {
        name: 'throws-at-four',
        class: 'latent',
        description: 'throws at 4',
        reads: (state) => [state.n],
        check: ({ after }) => {
          if (after.n === 4) throw new Error('at four');
          return null;
        },
      },
    ],
  };
}

/** The counter, whose every invariant but one breaks within two steps. */
export function counter(): Design<Counter, CounterCommand> {
  return counterDesign();
}
