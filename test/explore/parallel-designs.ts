/**
 * Toy designs for the parallel explorer's tests (`parallel.test.ts`), loaded by its workers from
 * the compiled module (dist/test/explore/parallel-designs.js): a counter whose code throws at a
 * chosen point, so that the crash the parallel search reports can be held to the sequential one's.
 */
import fc from 'fast-check';
import { failedOperationLeavesStateUnchanged } from '../../properties/generic/atomicity.js';
import { fail, succeed } from '../../models/result.js';
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

/** Two counters, 0 to 5: raised or lowered one at a time (refused past the ends). */
export interface Pair {
  readonly a: number;
  readonly b: number;
}

export type PairCommand = { readonly kind: 'up' | 'down'; readonly which: 'a' | 'b' };

const PAIR_TEMPLATES: readonly PairCommand[] = [
  { kind: 'up', which: 'a' },
  { kind: 'up', which: 'b' },
  { kind: 'down', which: 'a' },
  { kind: 'down', which: 'b' },
];

/**
 * The pair, keyed by its sorted values (a renaming: (1, 4) and (4, 1) are one state), with a
 * state-only invariant that breaks, or throws naming the concrete state, at the sum of five: five
 * steps from the start, so first on the last level of a search to depth 5. The parallel search
 * must report the state the sequential one reached first, not a renaming another worker saw.
 */
function pairDesign(throws: boolean): Design<Pair, PairCommand> {
  const name = throws ? 'throws-at-sum-five' : 'sum-below-five';
  return {
    id: throws ? 'toy/pair-throws-late' : 'toy/pair-breaks-late',
    stack: 'Counter',
    expected: throws ? 'holds' : 'violates',
    description: 'two counters from 0 to 5',
    breaks: throws ? [] : [name],
    init: () => ({ a: 0, b: 0 }),
    step(state, command) {
      const next = state[command.which] + (command.kind === 'up' ? 1 : -1);
      if (next < 0 || next > 5) return { state, result: fail('ERANGE') };
      return { state: { ...state, [command.which]: next }, result: succeed() };
    },
    resolve: (_state, template) => template,
    commands: {
      kinds: ['up', 'down'],
      arbitrary: (kind) =>
        fc.constantFrom<'a' | 'b'>('a', 'b').map((which): PairCommand => ({ kind: kind as 'up' | 'down', which })),
    },
    invariants: [
      failedOperationLeavesStateUnchanged<Pair, PairCommand>(),
      {
        name,
        class: 'latent',
        description: 'the counters sum to less than five',
        reads: (state) => [state.a, state.b],
        check: ({ after }) => {
          if (after.a + after.b < 5) return null;
          if (throws) throw new Error(`at (${after.a}, ${after.b})`);
          return { message: `(${after.a}, ${after.b})`, actual: String(after.a + after.b), expected: '< 5' };
        },
      },
    ],
    explore: {
      description: 'each counter up or down',
      templates: () => [...PAIR_TEMPLATES],
      key: (state: Pair) => `${Math.min(state.a, state.b)},${Math.max(state.a, state.b)}`,
    },
  };
}

export const pairBreaksLate = (): Design<Pair, PairCommand> => pairDesign(false);
export const pairThrowsLate = (): Design<Pair, PairCommand> => pairDesign(true);
