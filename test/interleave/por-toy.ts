/**
 * A toy stack for partial-order reduction: two CPUs, each with a counter of its own, and a counter
 * they share. An add to the shared counter reads it (phase 1) and writes it back (phase 2); an add
 * to a CPU's own counter is atomic. Adds to different CPUs' own counters are independent: the
 * footprints say so, and the explorer tries them in one order only. `unlocked` loses the other
 * CPU's update to the shared counter; `locked` does not. Built from the public API only.
 */
import fc from 'fast-check';
// Written through the package's public API only, as a user's own stack would be.
import { ADVANCE, fail, phasedSpace, resolveAdvance, succeed } from '../../src/index.js';
import type { AdvanceCommand, Design, Expectation, Footprint, InFlight, Invariant } from '../../src/index.js';

interface SharedAdd {
  readonly cpu: number;
  /** The shared counter as phase 1 read it. */
  readonly read: number;
}

export interface Counters {
  readonly own: readonly number[];
  readonly shared: number;
  /** Completed adds to the shared counter: what it must be. */
  readonly sharedAdds: number;
  readonly inflight: readonly SharedAdd[];
}

export type CountersCommand =
  | { readonly kind: 'addOwn'; readonly cpu: number }
  | { readonly kind: 'addShared'; readonly cpu: number; readonly phased?: boolean }
  | AdvanceCommand;

const CPUS = 2;
const CAP = 3;

const noLostUpdate: Invariant<Counters, CountersCommand> = {
  name: 'no-lost-update',
  class: 'accounting',
  description: 'the shared counter equals the number of completed adds to it',
  check: ({ after }) =>
    after.shared === after.sharedAdds
      ? null
      : {
          message: `shared counter ${after.shared}, completed adds ${after.sharedAdds}`,
          actual: String(after.shared),
          expected: String(after.sharedAdds),
        },
};

function busy(state: Counters, cpu: number): boolean {
  return state.inflight.some((add) => add.cpu === cpu);
}

function footprint(state: Counters, command: CountersCommand): Footprint {
  if (command.kind === ADVANCE) {
    const add = state.inflight[command.op];
    if (add === undefined) return { reads: ['in-flight list'], writes: [] };
    return {
      reads: ['in-flight list', 'shared'],
      writes: ['in-flight list', 'shared', `cpu${add.cpu} busy`],
    };
  }
  if (command.kind === 'addOwn') return { reads: [`cpu${command.cpu} busy`], writes: [`cpu${command.cpu} own`] };
  // A start only reads the shared counter; an atomic add writes it.
  const started = command.phased === true;
  return {
    reads: [`cpu${command.cpu} busy`, 'shared'],
    writes: started ? ['in-flight list', `cpu${command.cpu} busy`] : ['shared'],
  };
}

export function countersDesign(options: {
  id: string;
  locked: boolean;
  expected: Expectation;
}): Design<Counters, CountersCommand> {
  return {
    id: options.id,
    stack: 'ToyCounters',
    expected: options.expected,
    description: `two CPUs, own counters and a shared one, shared adds ${options.locked ? 'locked' : 'unlocked'}`,
    breaks: options.expected === 'violates' ? ['no-lost-update'] : [],
    init: () => ({ own: Array.from({ length: CPUS }, () => 0), shared: 0, sharedAdds: 0, inflight: [] }),
    step(state, command) {
      if (command.kind === ADVANCE) {
        const add = state.inflight[command.op];
        if (add === undefined) return { state, result: fail('ENOENT') };
        const shared = (options.locked ? state.shared : add.read) + 1;
        const inflight = state.inflight.filter((_, index) => index !== command.op);
        return { state: { ...state, shared, sharedAdds: state.sharedAdds + 1, inflight }, result: succeed() };
      }
      // A CPU runs one thing at a time: while its add is in flight it issues nothing else.
      if (busy(state, command.cpu)) return { state, result: fail('EBUSY') };
      if (command.kind === 'addOwn') {
        const own = state.own.map((count, cpu) => (cpu === command.cpu ? Math.min(count + 1, CAP) : count));
        return { state: { ...state, own }, result: succeed() };
      }
      if (command.phased === true) {
        const add = { cpu: command.cpu, read: state.shared };
        return { state: { ...state, inflight: [...state.inflight, add] }, result: succeed() };
      }
      return { state: { ...state, shared: state.shared + 1, sharedAdds: state.sharedAdds + 1 }, result: succeed() };
    },
    resolve: (state, template) =>
      template.kind === ADVANCE ? resolveAdvance(template, state.inflight.length) : template,
    commands: {
      kinds: ['addOwn', 'addShared'],
      arbitrary: () =>
        fc
          .record({
            kind: fc.constantFrom('addOwn' as const, 'addShared' as const),
            cpu: fc.integer({ min: 0, max: 1 }),
          })
          .map((fields): CountersCommand => fields),
      interleaving: phasedSpace<CountersCommand>({ addShared: 2 }),
    },
    invariants: [noLostUpdate],
    actorOf: (state, command) =>
      command.kind === ADVANCE ? `cpu${state.inflight[command.op]?.cpu ?? '?'}` : `cpu${command.cpu}`,
    inflight: (state): InFlight[] =>
      state.inflight.map((add) => ({ actor: `cpu${add.cpu}`, kind: 'addShared', phase: 'write' })),
    explore: {
      description: 'own adds and shared adds (atomic or started) by either CPU; an advance of each add in flight',
      templates: (state) => [
        ...Array.from({ length: CPUS }, (_, cpu): CountersCommand[] => [
          { kind: 'addOwn', cpu },
          { kind: 'addShared', cpu },
          { kind: 'addShared', cpu, phased: true },
        ]).flat(),
        ...state.inflight.map((_, op): CountersCommand => ({ kind: ADVANCE, op })),
      ],
      key: (state) =>
        JSON.stringify([state.own, Math.min(state.shared, CAP), state.shared - state.sharedAdds, state.inflight]),
      footprint,
    },
  };
}

export const unlockedCounters = countersDesign({ id: 'toy/counters-unlocked', locked: false, expected: 'violates' });
export const lockedCounters = countersDesign({ id: 'toy/counters-locked', locked: true, expected: 'holds' });
