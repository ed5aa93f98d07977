/**
 * A toy stack with one phased operation, for the engine's own interleaving tests: two CPUs add to
 * a shared counter. An add reads the counter (phase 1) and writes it back (phase 2); another CPU's
 * add may run in between. `unlocked` writes what it read plus its amount, and loses the other's
 * update; `locked` writes the counter as it is at the write, plus its amount (an atomic add).
 */
import fc from 'fast-check';
import { fail, succeed } from '../../models/result.js';
import type { Design, Expectation, InFlight, Invariant } from '../../src/design.js';
import { ADVANCE, phasedSpace, resolveAdvance } from '../../properties/generic/interleave.js';
import type { AdvanceCommand } from '../../properties/generic/interleave.js';

interface Add {
  readonly cpu: number;
  readonly by: number;
  /** The counter as phase 1 read it. */
  readonly read: number;
}

export interface Counter {
  readonly n: number;
  /** The sum of every completed add: what the counter must be. */
  readonly total: number;
  readonly inflight: readonly Add[];
}

export type CounterCommand =
  { readonly kind: 'add'; readonly cpu: number; readonly by: number; readonly phased?: boolean } | AdvanceCommand;

/** The decision point: what the write phase stores. */
export type WritePhase = (counter: number, add: Add) => number;

const unlocked: WritePhase = (_counter, add) => add.read + add.by;
const locked: WritePhase = (counter, add) => counter + add.by;

const noLostUpdate: Invariant<Counter, CounterCommand> = {
  name: 'no-lost-update',
  class: 'accounting',
  description: 'the counter equals the sum of the completed adds',
  check: ({ after }) =>
    after.n === after.total
      ? null
      : {
          message: `counter ${after.n}, completed adds ${after.total}`,
          actual: String(after.n),
          expected: String(after.total),
        },
};

function write(state: Counter, add: Add, phase: WritePhase): Counter {
  return { ...state, n: phase(state.n, add), total: state.total + add.by };
}

export function counterDesign(options: {
  id: string;
  write: 'locked' | 'unlocked';
  expected: Expectation;
}): Design<Counter, CounterCommand> {
  const phase = options.write === 'locked' ? locked : unlocked;
  return {
    id: options.id,
    stack: 'ToyCounter',
    expected: options.expected,
    description: `two CPUs add to a counter, ${options.write}`,
    breaks: options.expected === 'violates' ? ['no-lost-update'] : [],
    init: () => ({ n: 0, total: 0, inflight: [] }),
    step(state, command) {
      if (command.kind === ADVANCE) {
        const add = state.inflight[command.op];
        if (add === undefined) return { state, result: fail('ENOENT') };
        const inflight = state.inflight.filter((_, index) => index !== command.op);
        return { state: { ...write(state, add, phase), inflight }, result: succeed() };
      }
      // A CPU runs one thing at a time: while its add is in flight it issues nothing else.
      if (state.inflight.some((pending) => pending.cpu === command.cpu)) return { state, result: fail('EBUSY') };
      const add = { cpu: command.cpu, by: command.by, read: state.n };
      if (command.phased === true)
        return { state: { ...state, inflight: [...state.inflight, add] }, result: succeed() };
      return { state: write(state, add, phase), result: succeed() };
    },
    resolve: (state, template) =>
      template.kind === ADVANCE ? resolveAdvance(template, state.inflight.length) : template,
    commands: {
      kinds: ['add'],
      arbitrary: () =>
        fc
          .record({ cpu: fc.integer({ min: 0, max: 1 }), by: fc.integer({ min: 1, max: 2 }) })
          .map((fields): CounterCommand => ({ kind: 'add', ...fields })),
      interleaving: phasedSpace<CounterCommand>({ add: 2 }),
    },
    invariants: [noLostUpdate],
    actorOf: (state, command) =>
      command.kind === ADVANCE ? `cpu${state.inflight[command.op]?.cpu ?? '?'}` : `cpu${command.cpu}`,
    inflight: (state): InFlight[] =>
      state.inflight.map((add) => ({ actor: `cpu${add.cpu}`, kind: 'add', phase: 'write' })),
    explore: {
      description: 'adds of 1 by either CPU, atomic or started; an advance of each add in flight',
      templates: (state) => [
        { kind: 'add', cpu: 0, by: 1 },
        { kind: 'add', cpu: 1, by: 1 },
        { kind: 'add', cpu: 0, by: 1, phased: true },
        { kind: 'add', cpu: 1, by: 1, phased: true },
        ...state.inflight.map((_, op): CounterCommand => ({ kind: ADVANCE, op })),
      ],
      key: (state) =>
        JSON.stringify([Math.min(state.n, 4), Math.min(state.total, 4), state.n - state.total, state.inflight]),
    },
  };
}

export const unlockedCounter = counterDesign({ id: 'toy/unlocked-add', write: 'unlocked', expected: 'violates' });
export const lockedCounter = counterDesign({ id: 'toy/locked-add', write: 'locked', expected: 'holds' });
