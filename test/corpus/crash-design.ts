/**
 * The toy counter (test/explore/counter-design.ts) with a bug in its own code: it throws at one
 * site once the counter reaches 3. No built-in design throws, so crash entries are tested on it.
 */
import type { CrashReport } from '../../src/check.js';
import type { AnyDesign, Invariant } from '../../src/design.js';
import { runTrace } from '../../src/execute.js';
import type { CrashSite } from '../../src/execute.js';
import { createStats } from '../../src/stats.js';
import { counterDesign } from '../explore/counter-design.js';
import type { Counter, CounterCommand } from '../explore/counter-design.js';

export interface CrashOptions {
  /** The error thrown (TypeError by default). */
  readonly error?: new (message: string) => Error;
  readonly message?: string;
  /** The design's id (`toy/crash-<site>` by default): two variants of one bug share it. */
  readonly id?: string;
  /** The counter value it throws at (3 by default). */
  readonly at?: number;
  /** Fixed: it no longer throws. */
  readonly fixed?: boolean;
}

const add = (by: number): CounterCommand => ({ kind: 'add', by });

/** A trace that reaches the bug, for each site: the throwing step is the last. */
export const crashTraces: Readonly<Record<CrashSite, readonly CounterCommand[]>> = {
  init: [],
  resolve: [add(2), add(1), { kind: 'reset' }],
  step: [add(2), add(1), add(1)],
  invariant: [add(2), add(1)],
  classify: [add(2), add(1)],
};

export function crashingCounter(site: CrashSite, options: CrashOptions = {}): AnyDesign {
  const base = counterDesign({ id: options.id ?? `toy/crash-${site}`, explore: false });
  const at = options.at ?? 3;
  const boom = (): never => {
    throw new (options.error ?? TypeError)(options.message ?? `counter at ${at} has no slot`);
  };
  const fires = (n: number, when: boolean): boolean => options.fixed !== true && n === at && when;
  const readable: Invariant<Counter, CounterCommand> = {
    name: 'counter-readable',
    class: 'latent',
    description: 'reads the counter (and throws at 3)',
    check: ({ after }) => (fires(after.n, site === 'invariant') ? boom() : null),
  };
  const design = {
    ...base,
    init: () => (site === 'init' && options.fixed !== true ? boom() : base.init()),
    resolve: (state: Counter, template: CounterCommand) =>
      fires(state.n, site === 'resolve' && template.kind === 'reset') ? boom() : template,
    step: (state: Counter, command: CounterCommand) =>
      fires(state.n, site === 'step' && command.kind === 'add') ? boom() : base.step(state, command),
    invariants: [...base.invariants, readable],
    ...(site === 'classify'
      ? { classify: ({ after }: { after: Counter }) => (fires(after.n, true) ? boom() : []), reach: [] }
      : {}),
  };
  return design as unknown as AnyDesign;
}

/** The crash report `check` would give for `steps` (already minimal). */
export function crashReportFor(design: AnyDesign, steps: readonly unknown[], invariant?: string): CrashReport {
  const run = runTrace(design, steps, {
    invariants: invariant === undefined ? [] : [invariant],
    stopAtFirst: false,
    stats: createStats(),
  });
  if (run.crash === null) throw new Error(`fixture: ${design.id} did not crash`);
  return {
    crash: run.crash,
    length: steps.length,
    steps,
    executed: run.steps,
    replay: { seed: 7, path: null },
    foundLength: steps.length,
    shrunkLength: steps.length,
    shrinks: 0,
    minimizeAttempts: 0,
  };
}
