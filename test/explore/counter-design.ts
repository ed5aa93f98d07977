/**
 * A toy stack for the explorer's own tests: a counter from 0 to 4 that can be raised by 1 or 2
 * (refused past 4) or reset. It shows what any stack has to declare to be explored (a scope:
 * templates and a key), and its state space is small enough to reason about by hand.
 */
import fc from 'fast-check';
import { failedOperationLeavesStateUnchanged } from '../../properties/generic/atomicity.js';
import { fail, succeed } from '../../models/result.js';
import type { Design, Expectation, Invariant } from '../../src/design.js';

export interface Counter {
  readonly n: number;
  /** How many resets happened (capped at 2): state the invariants never look at. */
  readonly resets: number;
}

export type CounterCommand = { readonly kind: 'add'; readonly by: number } | { readonly kind: 'reset' };

const belowThree: Invariant<Counter, CounterCommand> = {
  name: 'below-three',
  class: 'latent',
  description: 'the counter stays below 3',
  check: ({ after }) => (after.n < 3 ? null : { message: `n = ${after.n}`, actual: String(after.n), expected: '< 3' }),
};

const noTwoFromOne: Invariant<Counter, CounterCommand> = {
  name: 'no-add-two-from-one',
  class: 'effect',
  description: 'nobody adds 2 to a counter at 1 (a property of the transition, not of the state)',
  check: ({ before, command }) =>
    before?.n === 1 && command?.kind === 'add' && command.by === 2
      ? { message: 'added 2 at 1', actual: 'add 2 at 1', expected: 'anything else' }
      : null,
};

const startsAboveZero: Invariant<Counter, CounterCommand> = {
  name: 'starts-above-zero',
  class: 'latent',
  description: 'broken by the initial state itself',
  check: ({ after }) => (after.n > 0 ? null : { message: 'n = 0', actual: '0', expected: '> 0' }),
};

const atMostFour: Invariant<Counter, CounterCommand> = {
  name: 'at-most-four',
  class: 'accounting',
  description: 'the counter never passes its cap',
  check: ({ after }) => (after.n <= 4 ? null : { message: `n = ${after.n}`, actual: String(after.n), expected: '≤ 4' }),
};

export function counterDesign(
  options: { id?: string; expected?: Expectation; explore?: boolean } = {},
): Design<Counter, CounterCommand> {
  const expected = options.expected ?? 'violates';
  return {
    id: options.id ?? 'toy/counter',
    stack: 'Counter',
    expected,
    description: 'a counter from 0 to 4',
    breaks: expected === 'holds' ? [] : ['below-three', 'no-add-two-from-one', 'starts-above-zero'],
    init: () => ({ n: 0, resets: 0 }),
    step(state, command) {
      if (command.kind === 'reset')
        return { state: { n: 0, resets: Math.min(state.resets + 1, 2) }, result: succeed() };
      if (state.n + command.by > 4) return { state, result: fail('EOVERFLOW') };
      return { state: { ...state, n: state.n + command.by }, result: succeed() };
    },
    resolve: (_state, template) => template,
    commands: {
      kinds: ['add', 'reset'],
      arbitrary: (kind) =>
        kind === 'add'
          ? fc.integer({ min: 1, max: 2 }).map((by): CounterCommand => ({ kind: 'add', by }))
          : fc.constant<CounterCommand>({ kind: 'reset' }),
    },
    invariants:
      expected === 'holds'
        ? [atMostFour, failedOperationLeavesStateUnchanged<Counter, CounterCommand>()]
        : [belowThree, noTwoFromOne, startsAboveZero, atMostFour],
    ...(options.explore === false
      ? {}
      : {
          explore: {
            description: 'add 1, add 2, reset',
            templates: (): CounterCommand[] => [{ kind: 'add', by: 1 }, { kind: 'add', by: 2 }, { kind: 'reset' }],
            // The reset count changes nothing any invariant or step looks at: it is left out.
            key: (state: Counter) => String(state.n),
          },
        }),
  };
}
