/**
 * `dmaprop bench`: the JSON it prints and writes, and that its figures are positive and agree
 * with each other. Tiny budgets (--quick, two designs); no figure is compared with a time limit.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { designs } from '../properties/registry.js';
import type { BenchResult } from '../src/bench.js';
import { median } from '../src/bench-measure.js';
import { benchSettings } from '../src/bench-settings.js';
import { modelKey, soundDesignPerModel } from '../src/design.js';
import { formatTable } from '../src/bench-report.js';
import { main } from '../src/cli.js';
import type { CliIo } from '../src/cli.js';

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function run(argv: string[]): Promise<Ran> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => (out += text), err: (text) => (err += text) };
  const code = await main(argv, io);
  return { code, out, err };
}

const directory = mkdtempSync(join(tmpdir(), 'dmaprop-bench-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const positive = (value: number): void => {
  expect(Number.isFinite(value)).toBe(true);
  expect(value).toBeGreaterThan(0);
};

/**
 * A rate, rounded to a whole number, agrees with its count over a time recorded to 3 decimals of
 * a millisecond: within the rates that time's rounding allows. (A fixed tolerance fails on a fast
 * machine, where a pass takes ten milliseconds and the last decimal moves the rate by more.)
 */
const rateOf = (rate: number, count: number, ms: number): void => {
  const slowest = (count * 1000) / (ms + 0.0005);
  const fastest = (count * 1000) / Math.max(ms - 0.0005, 1e-9);
  expect(rate).toBeGreaterThanOrEqual(Math.floor(slowest));
  expect(rate).toBeLessThanOrEqual(Math.ceil(fastest));
};

describe('dmaprop bench --quick --json', () => {
  const out = join(directory, 'nested', 'results.json');
  let ran: Ran | undefined;
  const bench = (): Ran => {
    if (ran === undefined) throw new Error('bench did not run');
    return ran;
  };
  beforeAll(async () => {
    ran = await run([
      'bench',
      '--quick',
      '--json',
      '--design',
      'vfio/type1',
      'vfio/noiommu',
      '--seed',
      '41',
      '--seeds',
      '2',
      '--runs',
      '30',
      '--out',
      out,
    ]);
  });

  test('prints the JSON it writes (atomically: no temporary file left) and exits 0', () => {
    const { code, out: printed, err } = bench();
    expect(err).toBe('');
    expect(code).toBe(0);
    const written = readFileSync(out, 'utf8');
    expect(written).toBe(printed);
    expect(written.endsWith('}\n')).toBe(true);
    expect(readdirSync(join(directory, 'nested'))).toEqual(['results.json']);
  });

  test('records the machine, the date and the settings, seeds included', () => {
    const result = JSON.parse(bench().out) as BenchResult;
    expect(result.benchFormatVersion).toBe(1);
    expect(Number.isNaN(Date.parse(result.date))).toBe(false);
    expect(result.machine.node).toBe(process.version);
    positive(result.machine.cpus);
    positive(result.machine.totalMemoryBytes);
    expect(result.machine.cpuModel.length).toBeGreaterThan(0);
    expect(result.machine.loadAverage).toHaveLength(3);
    expect(result.loadAverageAtEnd).toHaveLength(3);
    expect(result.settings.mode).toBe('quick');
    expect(result.settings.seeds).toEqual([41, 42]);
    expect(result.settings.runs).toBe(30);
    expect(result.suite).toBeNull();
    positive(result.totalMs);
  });

  test("the anchor: the Promela model's whole graph on vectors (and in Spin where installed), the same counts", () => {
    const anchor = (JSON.parse(bench().out) as BenchResult).anchor;
    expect(anchor?.flat).toMatchObject({ engine: 'flat', states: 63_576, transitions: 890_064, verdict: 'holds' });
    positive(anchor?.flat.statesPerCpuSec ?? 0);
    expect(anchor?.objects).toBeNull();
    const spin = anchor?.spin;
    if (spin !== undefined && 'skipped' in spin) expect(spin.skipped).toMatch(/not installed|not in this checkout/);
    else expect([spin?.states, spin?.transitions]).toEqual([63_576, 890_064]);
  });

  test('throughput: both passes run every command of the same sequences; overhead is their ratio', () => {
    const result = JSON.parse(bench().out) as BenchResult;
    expect(result.throughput.map((row) => [row.stack, row.design])).toEqual([['passthrough', 'vfio/type1']]);
    for (const row of result.throughput) {
      expect(row.sequences).toBe(result.settings.sequences);
      expect(row.raw.steps).toBe(row.commands);
      expect(row.checked.steps).toBe(row.commands);
      for (const value of [
        row.commands,
        row.generation.ms,
        row.generation.commandsPerSec,
        row.raw.ms,
        row.raw.stepsPerSec,
        row.checked.ms,
        row.checked.stepsPerSec,
        row.overhead,
        row.endToEnd.steps,
        row.endToEnd.stepsPerSec,
      ])
        positive(value);
      rateOf(row.raw.stepsPerSec, row.raw.steps, row.raw.ms);
      expect(row.overhead).toBeCloseTo(row.raw.stepsPerSec / row.checked.stepsPerSec, 1);
      expect(row.endToEnd.runs).toBe(result.settings.endToEndRuns);
      const invariants = designs.find((design) => design.id === row.design)?.invariants ?? [];
      expect(row.invariants.map((cost) => cost.invariant).sort()).toEqual(invariants.map((inv) => inv.name).sort());
      for (const cost of row.invariants) expect(cost.checks).toBeGreaterThan(row.sequences);
    }
  });

  test('time to bug: every seed reported, spreads consistent, the re-run shrink matches checkDesign', () => {
    const result = JSON.parse(bench().out) as BenchResult;
    expect(result.timeToBug.map((row) => row.design)).toEqual(['vfio/noiommu']);
    for (const row of result.timeToBug) {
      expect(row.seeds).toEqual(result.settings.seeds);
      expect(row.perSeed.map((seed) => seed.seed)).toEqual(row.seeds);
      expect(row.found).toBe(row.perSeed.filter((seed) => seed.found).length);
      expect(row.foundOnAll).toBe(row.found === row.seeds.length);
      // noiommu breaks isolation from the initial state: found on every seed, at the first run.
      expect(row.foundOnAll).toBe(true);
      expect(row.runsToFailure).toEqual({ median: 1, worst: 1 });
      expect(row.consistent).toBe(true);
      for (const spread of [row.msToFailure, row.checkMs, row.shrinkMs, row.shrinkSteps]) {
        expect(spread).not.toBeNull();
        expect(spread!.median).toBeLessThanOrEqual(spread!.worst);
        expect(spread!.median).toBeGreaterThanOrEqual(0);
      }
      // Declared breaks: per seed, those the budget missed; over the seeds, each one's count.
      const declared = designs.find((design) => design.id === row.design)?.breaks ?? [];
      expect(row.declared).toEqual(declared);
      expect(row.declaredByInvariant.map((broken) => broken.invariant)).toEqual(declared);
      for (const seed of row.perSeed) {
        const broken = seed.shrinks.map((shrink) => shrink.invariant);
        expect(seed.missing).toEqual(declared.filter((name) => !broken.includes(name)));
      }
      expect(row.declaredFound).toBe(row.perSeed.filter((seed) => seed.missing.length === 0).length);
      for (const broken of row.declaredByInvariant) {
        expect(broken.seeds).toBe(row.perSeed.filter((seed) => !seed.missing.includes(broken.invariant)).length);
        expect(broken.runs === null).toBe(broken.seeds === 0);
      }
      const invariantsBroken = row.perSeed.flatMap((seed) => seed.shrinks.map((shrink) => shrink.invariant));
      expect(row.byInvariant.reduce((sum, broken) => sum + broken.seeds, 0)).toBe(invariantsBroken.length);
      for (const broken of row.byInvariant) {
        expect(broken.seeds).toBeLessThanOrEqual(row.seeds.length);
        expect(broken.runs!.median).toBeGreaterThanOrEqual(1);
        expect(broken.runs!.worst).toBeLessThanOrEqual(result.settings.runs);
      }
      for (const seed of row.perSeed) {
        expect(seed.run).toBeGreaterThanOrEqual(1);
        expect(seed.run).toBeLessThanOrEqual(seed.runs);
        expect(seed.runs).toBe(result.settings.runs);
        positive(seed.ms ?? 0);
        expect(seed.ms!).toBeLessThanOrEqual(seed.checkMs);
        expect(seed.shrinks.length).toBeGreaterThan(0);
        for (const shrink of seed.shrinks) {
          expect(shrink.matchesCheck).toBe(true);
          // The first failure of all comes no later than any one invariant's first failure.
          expect(shrink.run).toBeGreaterThanOrEqual(seed.run!);
          expect(shrink.shrinkSteps).toBe(shrink.fastCheckShrinks + shrink.minimizeSteps);
          expect(shrink.minimizeSteps).toBeLessThanOrEqual(shrink.minimizeAttempts);
          expect(shrink.length).toBeLessThanOrEqual(shrink.shrunkLength);
          expect(shrink.shrunkLength).toBeLessThanOrEqual(shrink.foundLength);
          expect(shrink.shrinkMs).toBeCloseTo(shrink.fastCheckShrinkMs + shrink.minimizeMs, 2);
        }
        expect(seed.shrinkSteps).toBe(seed.shrinks.reduce((sum, shrink) => sum + shrink.shrinkSteps, 0));
      }
    }
  });

  test('shrink quality and exploration: shortest from explore vs shrunk lengths; states per second', () => {
    const result = JSON.parse(bench().out) as BenchResult;
    const [quality] = result.shrinkQuality;
    expect(quality?.design).toBe('vfio/noiommu');
    for (const row of quality?.invariants ?? []) {
      expect(row.shortest).not.toBeNull();
      expect(row.shrunk).not.toBeNull();
      expect(row.shrunk!.min).toBeLessThanOrEqual(row.shrunk!.median);
      expect(row.shrunk!.median).toBeLessThanOrEqual(row.shrunk!.max);
      expect(row.optimal).toBeLessThanOrEqual(row.shrunk!.seeds);
    }
    expect(quality?.invariants.length).toBeGreaterThan(0);
    expect(result.exploration.map((row) => row.design)).toEqual(['vfio/type1']);
    for (const row of result.exploration) {
      positive(row.states);
      positive(row.transitions);
      positive(row.statesPerSec);
      expect(row.states).toBeLessThanOrEqual(row.maxStates);
      expect(row.depthReached).toBeLessThanOrEqual(row.depth);
      rateOf(row.statesPerSec, row.states, row.ms);
    }
  });
});

describe('dmaprop bench: usage and the table', () => {
  test('bad flags exit 2 with usage; an unknown design is bad usage too', async () => {
    for (const argv of [
      ['bench', '--bogus'],
      ['bench', '--runs', 'many'],
      ['bench', '--seeds', '0'],
      ['bench', '--design', 'no/such'],
    ]) {
      const { code, err } = await run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toMatch(/error|unknown design/);
    }
  });

  test('the human table lists each measurement; seeds are printed before the run', async () => {
    const out = join(directory, 'human.json');
    const { code, out: printed } = await run([
      'bench',
      '--quick',
      '--design',
      'vfio/type1',
      'vfio/noiommu',
      '--seeds',
      '1',
      '--runs',
      '5',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
    const [seed] = result.settings.seeds;
    expect(printed.split('\n')[0]).toContain(`time to bug on 1 fresh seeds: ${String(seed)}`);
    for (const heading of [
      'Throughput',
      'Time to bug',
      'declared found',
      'every declared break',
      'Shrink quality',
      'Exploration',
      'Suite',
      'machine:',
    ]) {
      expect(printed).toContain(heading);
    }
    expect(printed).toContain(`results written to ${out}`);
  });

  test('settings: fresh distinct seeds by default; full mode has 20 seeds and times the suite', () => {
    const full = benchSettings(false);
    expect(full.seeds).toHaveLength(20);
    expect(new Set(full.seeds).size).toBe(20);
    expect(full.suite).toBe(true);
    expect(benchSettings(false, { suite: false }).suite).toBe(false);
    expect(benchSettings(true, { suite: true }).suite).toBe(false);
    expect(benchSettings(true, { seed: 5, seedCount: 3 }).seeds).toEqual([5, 6, 7]);
  });

  test('helpers: median, one sound design per stack and invariant set, right-aligned numeric columns', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(soundDesignPerModel(designs).map((design) => design.expected)).toEqual(
      soundDesignPerModel(designs).map(() => 'holds'),
    );
    const models = soundDesignPerModel(designs).map(modelKey);
    expect(new Set(models).size).toBe(models.length);
    expect(soundDesignPerModel(designs).map((design) => design.id)).toEqual([
      'xen/map',
      'vfio/type1',
      'iommu/strict',
      'mdev/unmap-callback',
      'vfio/mixed',
      'gvt/write-protect',
      'viommu/shadow',
      'viommu/differential',
      'xenpt/hvm-shared-pt',
      'iommufd/passthrough',
      'iommufd/differential',
    ]);
    expect(
      formatTable(
        ['a', 'n'],
        [
          ['x', 1000],
          ['yy', 5],
        ],
      ),
    ).toEqual(['a       n', '--  -----', 'x   1,000', 'yy      5']);
  });
});
