/**
 * Hostile commands through the public API: a design's `step` and `resolve` never throw and never
 * hang, whatever a caller hands them, and a refused command leaves the state as it was.
 *
 * For every registered design and every mutant, from the initial state and from states reached by
 * short sequences of the design's own commands, each run feeds commands no generator makes: values
 * of the wrong type, out of range, huge (2^32, 2^53, 2^64 as a number or a u64 string), negative,
 * NaN, ±Infinity, -0, fractional; missing, extra and `__proto__` / `constructor` fields; unknown
 * kinds; non-objects; deeply nested and cyclic junk; and valid commands with one field changed to
 * another valid-typed value, and templates with a field changed before `resolve`. Every step must
 * return a result; a refused one must leave a state deep-equal to the one before
 * (`failed-op-leaves-state-unchanged`); a command the schema refuses must be answered EINVAL
 * naming the field, with the very state object it was given. A hang shows as the test timeout.
 *
 * The commands of the valid prefixes are checked against the schema too: the generators make
 * only commands the schema accepts, so the guard never changes what a check run does.
 *
 * Three runs per design on a fixed seed (twelve in the deeper tier) keep it to a few seconds (five
 * cost 5.8 s of the suite); `FUZZ_RUNS=300 npx vitest run
 * test/fuzz` runs deeper on the same seed.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { designs, failedOperationLeavesStateUnchanged, traceArbitrary } from '../../src/index.js';
import type { AnyDesign, Command, OpResult, Step } from '../../src/index.js';
import { firstDifference } from '../../models/deep-equal.js';
import { mutants } from '../../properties/registry.js';
import { stepPair } from '../../models/viommu/pair.js';
import { stepVfio } from '../../models/vfio/step.js';
import { viommuDifferential } from '../../properties/viommu/differential/design.js';
import { mdevUnmapCallback } from '../../properties/vfio/designs.js';
import { DEEP } from '../helpers.js';

const subjects: readonly AnyDesign[] = [...designs, ...mutants];
const SEED = 20_260_901;
const RUNS = Number(process.env['FUZZ_RUNS'] ?? (DEEP ? 12 : 3));
const PREFIX = { maxCommands: 8, minCommands: 0, swarm: true, preemptions: 3 };
const HOSTILE_PER_RUN = 8;

let hostileSteps = 0;
afterAll(() => {
  // One line for the closing note: how many hostile steps the designs answered.
  console.log(`hostile commands answered: ${hostileSteps} steps over ${subjects.length} designs and mutants`);
});

function nested(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 0;
  for (let level = 0; level < depth; level++) value = wrap(value);
  return value;
}

const cyclic: Record<string, unknown> = { kind: 'cyclic' };
cyclic['self'] = cyclic;

/** Values no real caller could put in a field, and valid-typed values far out of any universe. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    -1,
    -0,
    0.5,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 16,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 52 - 1,
    2 ** 52,
    2 ** 53 - 1,
    2 ** 53,
    2 ** 64,
    -(2 ** 53),
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ),
  fc.constantFrom<unknown>(
    '18446744073709551615',
    '18446744073709551616',
    '-4096',
    '0x1000',
    '4096.0',
    '1e3',
    '',
    ' 4096',
    '9'.repeat(400),
    '__proto__',
    'constructor',
    'toString',
  ),
  fc.constantFrom<unknown>(null, undefined, true, false, [], {}, [0], { pick: 1 }, { pick: -1 }, { pick: 2 ** 60 }),
  fc.constantFrom<unknown>(
    2n ** 64n,
    Symbol('hostile'),
    () => 0,
    cyclic,
    nested(100_000, (inner) => [inner]),
    nested(100_000, (inner) => ({ kind: 'gpuExecute', inner })),
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ pick: fc.oneof(fc.integer(), fc.double(), fc.string()) }),
);

/** Kind names no stack has, and the ones an object inherits. */
const hostileKind: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 'KIND', 'cyclic'),
  fc.string({ maxLength: 12 }),
  hostileValue,
);

/** Keys a command must not have, as extra fields. */
const hostileKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'pick', 'extra'), fc.string());

/** How one hostile command is made from a valid command (or template) of the design. */
type Hostile =
  | { readonly how: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly how: 'replace-in-template'; readonly at: number; readonly value: unknown }
  | { readonly how: 'another-valid-value'; readonly at: number; readonly from: number }
  | { readonly how: 'delete'; readonly at: number }
  | { readonly how: 'extra'; readonly key: string; readonly value: unknown }
  | { readonly how: 'json-proto' }
  | { readonly how: 'null-prototype' }
  | { readonly how: 'another-kind'; readonly at: number }
  | { readonly how: 'unknown-kind'; readonly kind: unknown }
  | { readonly how: 'junk'; readonly value: unknown };

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ how: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }) },
  {
    weight: 3,
    arbitrary: fc.record({ how: fc.constant('replace-in-template' as const), at: fc.nat(), value: hostileValue }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ how: fc.constant('another-valid-value' as const), at: fc.nat(), from: fc.nat() }),
  },
  { weight: 2, arbitrary: fc.record({ how: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ how: fc.constant('extra' as const), key: hostileKey, value: hostileValue }) },
  { weight: 1, arbitrary: fc.constant<Hostile>({ how: 'json-proto' }) },
  { weight: 1, arbitrary: fc.constant<Hostile>({ how: 'null-prototype' }) },
  { weight: 1, arbitrary: fc.record({ how: fc.constant('another-kind' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ how: fc.constant('unknown-kind' as const), kind: hostileKind }) },
  { weight: 2, arbitrary: fc.record({ how: fc.constant('junk' as const), value: hostileValue }) },
);

type Fields = Record<string, unknown>;

function fieldAt(record: Fields, at: number): string | undefined {
  const fields = Object.keys(record).filter((field) => field !== 'kind');
  return fields.length === 0 ? undefined : fields[at % fields.length];
}

/**
 * The command `how` makes out of `template` (resolved against `state`); `valid`: other valid
 * commands of the design, for fields swapped between them.
 */
function hostileCommand(design: AnyDesign, state: unknown, template: Command, how: Hostile, valid: readonly Fields[]) {
  const command = design.resolve(state, template) as Fields;
  switch (how.how) {
    case 'replace': {
      const field = fieldAt(command, how.at) ?? 'kind';
      return { ...command, [field]: how.value };
    }
    case 'replace-in-template': {
      const field = fieldAt(template as unknown as Fields, how.at) ?? 'kind';
      return design.resolve(state, { ...template, [field]: how.value }) as unknown;
    }
    case 'another-valid-value': {
      // A valid-typed value from another command (a gfn as a domid, a count as a page...).
      const field = fieldAt(command, how.at);
      const donor = valid[how.from % Math.max(1, valid.length)];
      const value = donor === undefined ? undefined : donor[fieldAt(donor, how.at) ?? 'kind'];
      return field === undefined ? command : { ...command, [field]: value };
    }
    case 'delete': {
      const field = fieldAt(command, how.at) ?? 'kind';
      const copy = { ...command };
      delete copy[field];
      return copy;
    }
    case 'extra': {
      const copy = { ...command };
      Object.defineProperty(copy, how.key, { value: how.value, enumerable: true, writable: true, configurable: true });
      return copy;
    }
    case 'json-proto':
      return JSON.parse(JSON.stringify(command).replace('{', '{"__proto__":{"kind":"gpuExecute"},')) as unknown;
    case 'null-prototype':
      return Object.assign(Object.create(null) as Fields, command);
    case 'another-kind': {
      const kinds = design.commands.kinds;
      return { ...command, kind: kinds[how.at % kinds.length] };
    }
    case 'unknown-kind':
      return { ...command, kind: how.kind };
    case 'junk':
      return how.value;
  }
}

function describeCommand(command: unknown): string {
  try {
    const text = JSON.stringify(command, (_key, value: unknown) =>
      typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function' ? String(value) : value,
    );
    return text === undefined ? String(command) : text.slice(0, 200);
  } catch {
    return typeof command;
  }
}

const atomicity = failedOperationLeavesStateUnchanged<unknown, unknown>();

/**
 * Mutants whose bug sits in `vfio_remove_dma`, which is also a failed MAP_DMA's unwind
 * (`vfio_pin_map_dma` → `vfio_remove_dma`, docs/reference/vfio-type1.md §1.16): a refused MAP_DMA
 * leaves their leak behind, as the kernel with that bug would. Their declared breaks are the
 * accounting invariants their unmaps break on every seed.
 */
const UNWIND_SHARES_BUG = new Set([
  'mutant/vfio-passthrough/unmap-skips-unpin',
  'mutant/vfio-passthrough/locked-vm-not-uncharged',
  'mutant/vfio-passthrough/unmap-leaks-dma-slot',
]);

/** One hostile step, with every assertion the brief asks for. */
function hostileStep(design: AnyDesign, state: unknown, command: unknown): unknown {
  const what = `${design.id}: ${describeCommand(command)}`;
  // A copy, so that a step that edited the state it was given and handed it back is seen too.
  const before: unknown = structuredClone(state);
  const step: Step<unknown> = design.step(state, command);
  hostileSteps += 1;
  const result: OpResult = step.result;
  expect(typeof result.ok, what).toBe('boolean');
  expect(firstDifference(before, state), `${what} changed the state it was given`).toBeNull();
  if (!result.ok) {
    expect(typeof result.error === 'string' && result.error.length > 0, what).toBe(true);
    // A flawed design known to break atomicity (a refused UNMAP_DMA that hits the kernel's BUG_ON)
    // breaks it on valid commands too; that is its flaw, found by its own checks.
    if (!design.breaks.includes(atomicity.name) && !UNWIND_SHARES_BUG.has(design.id))
      expect(atomicity.check({ before, command, result, after: step.state }), what).toBeNull();
  }
  const problem = design.validateCommand?.(command as Fields) ?? null;
  if (problem !== null) {
    expect(step.state, what).toBe(state);
    expect(result, what).toMatchObject({ ok: false, error: 'EINVAL', detail: { field: problem.field } });
  }
  return step.state;
}

describe('hostile commands through the public API', () => {
  test.for(subjects)('$id answers every hostile command', (design) => {
    const run = fc.record({
      prefix: traceArbitrary(design.commands, PREFIX),
      templates: fc.array(
        fc.constantFrom(...design.commands.kinds).chain((kind) => design.commands.arbitrary(kind)),
        {
          minLength: HOSTILE_PER_RUN,
          maxLength: HOSTILE_PER_RUN,
        },
      ),
      hostiles: fc.array(hostile, { minLength: HOSTILE_PER_RUN, maxLength: HOSTILE_PER_RUN }),
    });
    fc.assert(
      fc.property(run, ({ prefix, templates, hostiles }) => {
        let state: unknown = design.init();
        const valid: Fields[] = [];
        for (const template of prefix) {
          const command = design.resolve(state, template) as Fields;
          expect(design.validateCommand?.(command) ?? null, `${design.id}: ${describeCommand(command)}`).toBeNull();
          valid.push(command);
          state = design.step(state, command).state;
        }
        hostiles.forEach((how, index) => {
          const template = templates[index] as Command;
          const command = hostileCommand(design, state, template, how, valid);
          state = hostileStep(design, state, command);
        });
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('what was seen', () => {
  const differential = viommuDifferential;
  const initial = differential.init();

  test.for([65_535, 2 ** 31 - 1, 2 ** 32])('viommu/differential: a map of %i pages is refused at once', (pages) => {
    const map = { kind: 'map', giovaPage: 0, gpaPage: 0, pages, write: true };
    const step = differential.step(initial, map as never);
    expect(step.state).toBe(initial);
    expect(step.result).toMatchObject({ ok: false, error: 'EINVAL', detail: { field: 'pages' } });
    // The model itself, without the schema in front: the well-behaved driver refuses a buffer larger than its RAM.
    const model = stepPair(initial, differential.config, map as never);
    expect(model.state).toBe(initial);
    expect(model.result).toMatchObject({ ok: false, error: 'EINVAL' });
    const unmap = stepPair(initial, differential.config, { kind: 'unmap', giovaPage: 0, pages } as never);
    expect(unmap.result).toMatchObject({ ok: false, error: 'EINVAL' });
  });

  test.for(designs.map((design) => ({ design })))(
    '$design.id refuses what is not a command with EINVAL and the same state',
    ({ design }) => {
      const state: unknown = design.init();
      const junk: unknown[] = [
        null,
        5,
        'x',
        [],
        [{ kind: design.commands.kinds[0] }],
        {},
        { kind: 'teleport' },
        { kind: 'constructor' },
        { kind: '__proto__' },
        { kind: 7 },
        {
          ...(design.resolve(
            state,
            fc.sample(design.commands.arbitrary(design.commands.kinds[0]!), { seed: 1, numRuns: 1 })[0],
          ) as Fields),
          extra: 1,
        },
      ];
      for (const command of junk) {
        expect(design.resolve(state, command), describeCommand(command)).toBe(command);
        const step = design.step(state, command);
        expect(step.state, describeCommand(command)).toBe(state);
        expect(step.result, describeCommand(command)).toMatchObject({
          ok: false,
          error: 'EINVAL',
          detail: { field: expect.any(String), problem: expect.any(String) },
        });
      }
    },
  );

  test('mdevUnpinPages at IOVA page 2^53 returns, through the library and in the model', () => {
    const state = mdevUnmapCallback.init();
    const unpin = { kind: 'mdevUnpinPages', deviceId: 0, iovaPage: 2 ** 53, npage: 1 };
    const step = mdevUnmapCallback.step(state, unpin as never);
    expect(step.result).toMatchObject({ ok: false, error: 'EINVAL', detail: { field: 'iovaPage' } });
    for (const iovaPage of [2 ** 53, 2 ** 53 - 1, 2 ** 64, Infinity, NaN, -1, 0.5]) {
      const model = stepVfio(state, mdevUnmapCallback.config, { ...unpin, iovaPage } as never);
      expect(model.result).toMatchObject({ ok: false, error: 'EINVAL' });
    }
  });
});
