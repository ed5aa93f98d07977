/**
 * Designs that go wrong in the ways a verdict must not hide: code that throws, a flawed design
 * whose declaration does not match what it breaks, a command kind that never executes. Built on
 * the explorer's toy counter (0…4, add 1 or 2, reset), whose every run is cheap.
 */
import { fail } from '../../models/result.js';
import type { Design, Invariant } from '../../src/design.js';
import { counterDesign } from '../explore/counter-design.js';
import type { Counter, CounterCommand } from '../explore/counter-design.js';

type CounterDesign = Design<Counter, CounterCommand>;

/** The sound counter: holds over any budget that executes both kinds. */
export const soundCounter: CounterDesign = counterDesign({ id: 'toy/sound', expected: 'holds' });

/** A sound counter whose step throws a TypeError once the counter reaches 3 (two steps at least). */
export const stepThrows: CounterDesign = {
  ...soundCounter,
  id: 'toy/step-throws',
  step(state, command) {
    const next = soundCounter.step(state, command);
    if (next.state.n === 3) throw new TypeError('counter reached 3');
    return next;
  },
};

/** A sound counter with an invariant that throws on the counter at 4. */
const throwingInvariant: Invariant<Counter, CounterCommand> = {
  name: 'throws-at-four',
  class: 'accounting',
  description: 'reads a field that is not there once the counter is at 4',
  check: ({ after }) => {
    if (after.n === 4) throw new RangeError('no such field at 4');
    return null;
  },
};
export const invariantThrows: CounterDesign = {
  ...soundCounter,
  id: 'toy/invariant-throws',
  invariants: [...soundCounter.invariants, throwingInvariant],
};

/** A sound counter whose resolve throws on a reset. */
export const resolveThrows: CounterDesign = {
  ...soundCounter,
  id: 'toy/resolve-throws',
  resolve(state, template) {
    if (template.kind === 'reset' && state.n > 0) throw new Error('cannot resolve a reset');
    return template;
  },
};

/**
 * The flawed counter declares it breaks `at-most-four`, which no step can break, and breaks
 * three others: it must not meet its expectation.
 */
export const wrongDeclaration: CounterDesign = {
  ...counterDesign({ id: 'toy/wrong-declaration' }),
  breaks: ['at-most-four'],
};

/** The flawed counter declaring two of the three invariants it breaks: met, with the third reported. */
export const partialDeclaration: CounterDesign = {
  ...counterDesign({ id: 'toy/partial-declaration' }),
  breaks: ['below-three', 'starts-above-zero'],
};

/** A sound counter whose reset is always refused: the reset path is never exercised. */
export const resetNeverRuns: CounterDesign = {
  ...soundCounter,
  id: 'toy/reset-never-runs',
  step: (state, command) =>
    command.kind === 'reset' ? { state, result: fail('EBUSY') } : soundCounter.step(state, command),
};

/**
 * A sound counter whose step also writes the new value into the state it was given: every run
 * still holds (nothing looks back), but the engine's `before` states are corrupt.
 */
export const stepMutates: CounterDesign = {
  ...soundCounter,
  id: 'toy/step-mutates',
  step(state, command) {
    const next = soundCounter.step(state, command);
    if (next.state.n === 2) (state as { n: number }).n = 2;
    return next;
  },
};

/**
 * A sound counter that labels a step reaching 4 (`at the top`, reached in most runs) and one that
 * no step can reach (`past the top`), with `reachFloors` as given.
 */
export function reachingCounter(reachFloors?: Readonly<Record<string, number>>): CounterDesign {
  return {
    ...soundCounter,
    id: 'toy/reach',
    reach: ['at the top', 'past the top'],
    ...(reachFloors === undefined ? {} : { reachFloors }),
    classify: ({ after }) => (after.n === 4 ? ['at the top'] : after.n > 4 ? ['past the top'] : []),
  };
}
