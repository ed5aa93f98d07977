/**
 * A toy stack with both an object scope and a hand-written flat encoding (`FlatScope`), for the
 * flat explorer's tests (`flat.test.ts`): two counters, a from 0 to 3 (or a cap given) and b from 0 to 2.
 * Templates, in order: raise a; raise the smaller counter (a pick: a duplicate of one of the
 * other two raises, so template positions and distinct-command indices part ways); raise b; move
 * one from a to b; reset both; peek (reads only). A raise past the cap or an impossible move is
 * refused, leaving the state as it was. Resets are counted (up to 2) in a field no key, step or
 * invariant reads: two states differing there are one state to the search, one vector.
 *
 * The flawed variant breaks `sum-below-four` (state-only: first at depth 4, a a a b) and
 * `no-reset-from-full` (on the transition: a a a reset, into the known initial state); the sound
 * one checks `sum-at-most-five` and the generic atomicity invariant, which both hold.
 */
import fc from 'fast-check';
import { failedOperationLeavesStateUnchanged } from '../../properties/generic/atomicity.js';
import { fail, succeed } from '../../models/result.js';
import type { Design, Expectation, Invariant } from '../../src/design.js';
import { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from '../../src/flat-scope.js';
import type { FlatScope, FlatStatus } from '../../src/flat-scope.js';

export interface Pair {
  readonly a: number;
  readonly b: number;
  readonly resets: number;
}

export type PairCommand =
  | { readonly kind: 'raise'; readonly counter: 'a' | 'b' }
  | { readonly kind: 'move' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'peek' };

/** A template: a concrete command, or a raise of whichever counter is smaller when it runs. */
export type PairTemplate = PairCommand | { readonly kind: 'raise'; readonly counter: 'smaller' };

const B_MAX = 2;

const smaller = (a: number, b: number): 'a' | 'b' => (a <= b ? 'a' : 'b');

const sumBelowFour: Invariant<Pair, PairCommand> = {
  name: 'sum-below-four',
  class: 'latent',
  description: 'the counters add up to less than 4',
  reads: (state) => [state.a, state.b],
  check: ({ after }) =>
    after.a + after.b < 4
      ? null
      : { message: `a + b = ${after.a + after.b}`, actual: String(after.a + after.b), expected: '< 4' },
};

const sumAtMostFive: Invariant<Pair, PairCommand> = {
  name: 'sum-at-most-five',
  class: 'accounting',
  description: 'the counters never pass their caps',
  reads: (state) => [state.a, state.b],
  check: ({ after }) =>
    after.a + after.b <= 5
      ? null
      : { message: `a + b = ${after.a + after.b}`, actual: String(after.a + after.b), expected: '≤ 5' },
};

const noResetFromFull = (aMax: number): Invariant<Pair, PairCommand> => ({
  name: 'no-reset-from-full',
  class: 'effect',
  description: 'nobody resets with a at its cap (a property of the transition: it lands in the initial state)',
  check: ({ before, command }) =>
    before?.a === aMax && command?.kind === 'reset'
      ? { message: `reset at a = ${aMax}`, actual: `reset at a = ${aMax}`, expected: 'anything else' }
      : null,
});

const TEMPLATES: readonly PairTemplate[] = [
  { kind: 'raise', counter: 'a' },
  { kind: 'raise', counter: 'smaller' },
  { kind: 'raise', counter: 'b' },
  { kind: 'move' },
  { kind: 'reset' },
  { kind: 'peek' },
];

/** Where the hand-written encoding may be made wrong, for the tests of what the engine then does. */
export interface FlatFlaw {
  /** The state (a, b) at which `step` throws. */
  readonly throwsAt?: readonly [number, number];
  /** `raise b` adds 2 (a step that differs: the flat search reaches states the design does not). */
  readonly raiseBTwice?: boolean;
  /** `checkState` never reports `sum-below-four` (a verdict that differs). */
  readonly blindSum?: boolean;
  /** `raise b` is a no-op (a step that differs: the flat search misses states). */
  readonly raiseBStuck?: boolean;
  /** `no-reset-from-full` is reported one below the cap too (a verdict that differs, deep with a large cap). */
  readonly resetEarly?: boolean;
  /** The pick never duplicates: `raise smaller` and `raise b` are both tried when b is smaller (one command twice). */
  readonly pickNeverDuplicate?: boolean;
  /** `move` at the state (a, b) returns a status no search knows. */
  readonly badStatusAt?: readonly [number, number];
  /** Not a flaw: the encoding declares 16-bit words (`FlatScope.wordBits`), stored packed. */
  readonly wordBits?: 16;
}

/** The encoding: [a, b] (resets left out, as the key leaves them out). */
export function pairFlat(invariants: readonly string[], aMax: number, flaw: FlatFlaw = {}): FlatScope<PairTemplate> {
  const bit = (name: string): number => {
    const index = invariants.indexOf(name);
    return index < 0 ? 0 : 1 << index;
  };
  const sumBit = bit('sum-below-four');
  const capBit = bit('sum-at-most-five');
  const resetBit = bit('no-reset-from-full');
  const raise = (a: number, b: number, counter: 'a' | 'b', out: Int32Array): FlatStatus => {
    if (counter === 'a') {
      if (a === aMax) return FLAT_SAME;
      out[0] = a + 1;
      out[1] = b;
      return FLAT_CHANGED;
    }
    if (flaw.raiseBStuck === true) return FLAT_SAME;
    if (b === B_MAX) return FLAT_SAME;
    out[0] = a;
    out[1] = flaw.raiseBTwice === true ? Math.min(b + 2, B_MAX) : b + 1;
    return FLAT_CHANGED;
  };
  return {
    width: 2,
    ...(flaw.wordBits === undefined ? {} : { wordBits: flaw.wordBits }),
    commands: TEMPLATES.length,
    invariants,
    init(out) {
      out[0] = 0;
      out[1] = 0;
    },
    step(states, from, position, out) {
      const a = states[from] ?? 0;
      const b = states[from + 1] ?? 0;
      if (flaw.throwsAt !== undefined && flaw.throwsAt[0] === a && flaw.throwsAt[1] === b) {
        throw new Error(`encoder bug at (${a}, ${b})`);
      }
      switch (position) {
        case 0:
          return raise(a, b, 'a', out);
        case 1:
          return smaller(a, b) === 'a' ? FLAT_DUPLICATE : raise(a, b, 'b', out);
        case 2:
          return smaller(a, b) === 'b' && flaw.pickNeverDuplicate !== true ? FLAT_DUPLICATE : raise(a, b, 'b', out);
        case 3:
          if (flaw.badStatusAt?.[0] === a && flaw.badStatusAt[1] === b) return 7 as FlatStatus;
          if (a === 0 || b === B_MAX) return FLAT_SAME;
          out[0] = a - 1;
          out[1] = b + 1;
          return FLAT_CHANGED;
        case 4:
          out[0] = 0;
          out[1] = 0;
          return FLAT_CHANGED;
        default:
          return FLAT_SAME;
      }
    },
    checkTransition(states, from, position) {
      const a = states[from] ?? 0;
      return position === 4 && (a === aMax || (flaw.resetEarly === true && a === aMax - 1)) ? resetBit : 0;
    },
    checkState(states, at) {
      const sum = (states[at] ?? 0) + (states[at + 1] ?? 0);
      return (sum >= 4 && flaw.blindSum !== true ? sumBit : 0) | (sum > 5 ? capBit : 0);
    },
    command(states, from, position) {
      const template = TEMPLATES[position] ?? { kind: 'peek' };
      if (template.kind !== 'raise' || template.counter !== 'smaller') return template;
      return { kind: 'raise', counter: smaller(states[from] ?? 0, states[from + 1] ?? 0) };
    },
  };
}

export function pairDesign(
  options: {
    expected?: Expectation;
    flat?: boolean;
    flaw?: FlatFlaw;
    invariantsOrder?: readonly string[];
    /** a's cap (3 by default). */
    aMax?: number;
  } = {},
): Design<Pair, PairCommand, PairTemplate> {
  const expected = options.expected ?? 'violates';
  const aMax = options.aMax ?? 3;
  const invariants: Invariant<Pair, PairCommand>[] =
    expected === 'holds'
      ? [sumAtMostFive, failedOperationLeavesStateUnchanged<Pair, PairCommand>()]
      : [sumBelowFour, noResetFromFull(aMax), sumAtMostFive];
  // The encoder's bits in an order of its own (not the design's), as a real encoder may have them.
  const flatInvariants = options.invariantsOrder ?? [...invariants.map((invariant) => invariant.name)].reverse();
  return {
    id: expected === 'holds' ? 'toy/pair' : 'toy/pair-flawed',
    stack: 'Pair',
    expected,
    description: 'two counters, a up to 3 and b up to 2',
    breaks: expected === 'holds' ? [] : ['sum-below-four', 'no-reset-from-full'],
    init: () => ({ a: 0, b: 0, resets: 0 }),
    step(state, command) {
      switch (command.kind) {
        case 'raise': {
          const value = state[command.counter];
          if (value === (command.counter === 'a' ? aMax : B_MAX)) return { state, result: fail('EOVERFLOW') };
          return { state: { ...state, [command.counter]: value + 1 }, result: succeed() };
        }
        case 'move':
          if (state.a === 0 || state.b === B_MAX) return { state, result: fail('EINVAL') };
          return { state: { ...state, a: state.a - 1, b: state.b + 1 }, result: succeed() };
        case 'reset':
          return { state: { a: 0, b: 0, resets: Math.min(state.resets + 1, 2) }, result: succeed() };
        case 'peek':
          return { state, result: succeed({ a: state.a, b: state.b }) };
      }
    },
    resolve: (state, template) =>
      template.kind === 'raise' && template.counter === 'smaller'
        ? { kind: 'raise', counter: smaller(state.a, state.b) }
        : (template as PairCommand),
    commands: {
      kinds: ['raise', 'move', 'reset', 'peek'],
      arbitrary: (kind) =>
        kind === 'raise'
          ? fc.constantFrom<PairTemplate>(...TEMPLATES.filter((template) => template.kind === 'raise'))
          : fc.constant<PairTemplate>({ kind } as PairTemplate),
    },
    invariants,
    explore: {
      description: 'raise a, raise the smaller, raise b, move a to b, reset, peek',
      templates: () => TEMPLATES,
      // The reset count changes nothing any step or invariant reads: it is left out.
      key: (state) => `${state.a},${state.b}`,
      ...(options.flat === false ? {} : { flat: () => pairFlat(flatInvariants, aMax, options.flaw) }),
    },
  };
}

// For the parallel flat search's tests (`flat-parallel.test.ts`): its workers load these from the
// compiled module (dist/test/explore/flat-toy.js), a design by a function of no arguments.
export const pairFlawed = (): Design<Pair, PairCommand, PairTemplate> => pairDesign();
export const pairSound = (): Design<Pair, PairCommand, PairTemplate> => pairDesign({ expected: 'holds' });
/** The encoder throws at (2, 1): three steps from the start. */
export const pairThrowing = (): Design<Pair, PairCommand, PairTemplate> => pairDesign({ flaw: { throwsAt: [2, 1] } });
/** The encoder's `move` at (2, 1) returns an unknown status. */
export const pairBadStatus = (): Design<Pair, PairCommand, PairTemplate> =>
  pairDesign({ flaw: { badStatusAt: [2, 1] } });
/** The encoder's `raise b` adds 2: a step the design does not take, near the root. */
export const pairRaiseBTwice = (): Design<Pair, PairCommand, PairTemplate> =>
  pairDesign({ flaw: { raiseBTwice: true } });
/** a up to 9: a graph of more levels. */
/** A larger cap, its vectors stored two words to an integer (the packed table on every search). */
export const pairWide = (): Design<Pair, PairCommand, PairTemplate> => pairDesign({ aMax: 9, flaw: { wordBits: 16 } });
