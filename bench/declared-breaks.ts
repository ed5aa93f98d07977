/**
 * How reliably the default budget finds what each flawed design declares it breaks, over many
 * fresh seeds: the main pass of `checkDesign` (same generation, same seeds, so the same first
 * failing run per invariant as its `brokenAt`), without shrinking, stopped once every declared
 * break is found. The sound designs run the whole budget over the same seeds and must hold.
 *
 *   npm run build && node dist/bench/declared-breaks.js [--seeds 60] [--seed N | --seed-list A,B,...]
 *     [--runs 1000] [--design ID ...] [--no-sound] [--shrunk [--shortest]] [--guided] [--biased]
 *
 * `--biased` generates as dmaprop did before issue 22 (fast-check's bias kept), `--guided` as
 * `check --guided`: two outputs of the same seeds compare with `dist/bench/compare-breaks.js`.
 *
 * With `--shrunk`, each flawed design is also checked (`checkDesign`, shrinking included) on every
 * seed, and the lengths of its shrunk counterexamples are reported per invariant: to compare with
 * the explorer's shortest (`dmaprop explore`). `--shortest` adds check's search of the explore scope
 * one step shallower (`check --shortest`, 20,000 states).
 *
 * Seeds are fresh unless `--seed` (consecutive from N) or `--seed-list` is given, and always
 * printed first (a list lets two processes share one set of fresh seeds).
 */
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { designs, mutants } from '../properties/registry.js';
import { checkDesign, guidanceFor, searchArbitrary } from '../src/check.js';
import type { AnyDesign } from '../src/design.js';
import { runTrace } from '../src/execute.js';
import { freshSeed } from '../src/seed.js';
import { SHORTEST_MAX_STATES } from '../src/shortest.js';

/** The first run (1-based) at which each invariant broke within `runs`, stopping once all of `wanted` broke. */
export function firstBreaks(
  design: AnyDesign,
  seed: number,
  runs: number,
  wanted: readonly string[],
  guided = false,
  biased = false,
): Map<string, number> {
  const options = { seed, runs, guided, ...(biased ? { generation: { biased } } : {}) };
  const arbitrary = searchArbitrary(design, options, guidanceFor(design, options));
  const broken = new Map<string, number>();
  let run = 0;
  fc.check(
    fc.property(arbitrary, (templates) => {
      run += 1;
      for (const found of runTrace(design, templates, { stopAtFirst: false }).violations) {
        if (!broken.has(found.invariant)) broken.set(found.invariant, run);
      }
      return !wanted.every((name) => broken.has(name));
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
  return broken;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

interface Args {
  readonly seeds: number[];
  readonly runs: number;
  readonly designs: readonly AnyDesign[];
  readonly sound: boolean;
  readonly shrunk: boolean;
  readonly shortest: boolean;
  readonly guided: boolean;
  /** Generate with fast-check's bias, as before issue 22 (`GenerationOptions.biased`): the "before" of a comparison. */
  readonly biased: boolean;
}

const USAGE =
  'usage: node dist/bench/declared-breaks.js [--seeds N] [--seed N | --seed-list A,B,...] [--runs N] [--design ID ...] [--no-sound] [--shrunk [--shortest]] [--guided] [--biased]';

/** A bad argument: usage on stderr, exit status 2 (as the CLI's). */
class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
  let count = 60;
  let base: number | undefined;
  let list: number[] | undefined;
  let runs = 1000;
  let sound = true;
  let shrunk = false;
  let shortest = false;
  let guided = false;
  let biased = false;
  const ids: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index];
    const value = argv[index + 1];
    if (flag === '--seeds') count = Number(value);
    else if (flag === '--seed') base = Number(value);
    else if (flag === '--seed-list') list = (value ?? '').split(',').map(Number);
    else if (flag === '--runs') runs = Number(value);
    else if (flag === '--design') ids.push(value ?? '');
    else if (
      flag === '--no-sound' ||
      flag === '--shrunk' ||
      flag === '--shortest' ||
      flag === '--guided' ||
      flag === '--biased'
    ) {
      if (flag === '--no-sound') sound = false;
      else if (flag === '--biased') biased = true;
      else if (flag === '--shrunk') shrunk = true;
      else if (flag === '--guided') guided = true;
      else shortest = true;
      continue;
    } else throw new UsageError(`unknown argument ${String(flag)}`);
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    index += 1;
  }
  const seeds = new Set<number>(list);
  if (list === undefined && base !== undefined) {
    for (let index = 0; index < count; index++) seeds.add((base + index) % 2 ** 31);
  } else if (list === undefined) {
    while (seeds.size < count) seeds.add(freshSeed());
  }
  // A mutant is measured when named (`--design mutant/...`); the default is the registry's designs.
  const selected = ids.length === 0 ? designs : [...designs, ...mutants].filter((design) => ids.includes(design.id));
  if (selected.length !== ids.length && ids.length > 0) throw new UsageError(`unknown design in ${ids.join(' ')}`);
  const numbers = [runs, count, ...seeds];
  if (numbers.some((number) => !Number.isInteger(number) || number < 0))
    throw new UsageError('counts and seeds are whole numbers');
  return { seeds: [...seeds], runs, designs: selected, sound, shrunk, shortest, guided, biased };
}

/** Shrunk counterexample lengths per invariant over the seeds (check with shrinking). */
function shrunkLengths(design: AnyDesign, seeds: readonly number[], runs: number, shortest: boolean): void {
  const lengths = new Map<string, { seed: number; length: number }[]>();
  for (const seed of seeds) {
    const options = shortest ? { seed, runs, shortest: { maxStates: SHORTEST_MAX_STATES } } : { seed, runs };
    for (const found of checkDesign(design, options).violations) {
      lengths.set(found.invariant, [...(lengths.get(found.invariant) ?? []), { seed, length: found.length }]);
    }
  }
  for (const [name, found] of [...lengths].sort(([left], [right]) => left.localeCompare(right))) {
    const counts = new Map<number, number>();
    for (const { length } of found) counts.set(length, (counts.get(length) ?? 0) + 1);
    const histogram = [...counts]
      .sort(([left], [right]) => left - right)
      .map(([length, count]) => `${length} steps ×${count}`)
      .join(', ');
    // The seeds whose trace stayed longer than the shortest any seed reached: where to look.
    const shortest = Math.min(...found.map(({ length }) => length));
    const longer = found.filter(({ length }) => length > shortest).map(({ seed, length }) => `${seed} (${length})`);
    console.log(`  shrunk ${name}: ${histogram}${longer.length === 0 ? '' : `; longer at seeds ${longer.join(' ')}`}`);
  }
}

function main(): void {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.log(`seeds (${args.seeds.length}): ${args.seeds.join(' ')}`);
  console.log(
    `runs per seed: ${args.runs}${args.biased ? ', biased generation' : ''}${args.guided ? ', guided' : ''}\n`,
  );
  let missed = 0;
  for (const design of args.designs.filter((candidate) => candidate.expected === 'violates')) {
    const started = performance.now();
    const perSeed = args.seeds.map((seed) => ({
      seed,
      broken: firstBreaks(design, seed, args.runs, design.breaks, args.guided, args.biased),
    }));
    const all = perSeed.filter(({ broken }) => design.breaks.every((name) => broken.has(name))).length;
    missed += args.seeds.length - all;
    console.log(
      `${design.id}: every declared break on ${all}/${args.seeds.length} seeds (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    for (const name of design.breaks) {
      const runs = perSeed.flatMap(({ broken }) => {
        const run = broken.get(name);
        return run === undefined ? [] : [run];
      });
      const misses = perSeed.filter(({ broken }) => !broken.has(name)).map(({ seed }) => seed);
      const figures =
        runs.length === 0
          ? 'never'
          : `first run median ${quantile(runs, 0.5)}, p90 ${quantile(runs, 0.9)}, worst ${Math.max(...runs)}`;
      console.log(
        `  ${name}: ${runs.length}/${args.seeds.length}; ${figures}${misses.length === 0 ? '' : `; missed on ${misses.join(' ')}`}`,
      );
    }
    if (args.shrunk) shrunkLengths(design, args.seeds, args.runs, args.shortest);
  }
  if (args.sound) {
    // A sound design must hold on every seed: a violation is a generator change that made it fail
    // (or a real bug); "inconclusive" means a command kind never executed in the budget.
    for (const design of args.designs.filter((candidate) => candidate.expected === 'holds')) {
      const started = performance.now();
      const checks = args.seeds.map((seed) => ({
        seed,
        check: checkDesign(design, {
          seed,
          runs: args.runs,
          guided: args.guided,
          ...(args.biased ? { generation: { biased: true } } : {}),
        }),
      }));
      const failing = checks.filter(({ check }) => check.verdict !== 'holds');
      missed += failing.length;
      const why = failing.map(({ seed, check }) => `${seed} ${check.verdict}: ${check.reason ?? ''}`);
      console.log(
        `${design.id}: holds on ${args.seeds.length - failing.length}/${args.seeds.length} seeds (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
      for (const line of why) console.log(`  ${line}`);
    }
  }
  process.exitCode = missed === 0 ? 0 : 1;
}

// Run as a script, not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
