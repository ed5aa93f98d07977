/**
 * `dmaprop bench`: the project's performance dashboard, measured in one run on one machine — the
 * runner. Each measurement is a file of its own: throughput (`bench-throughput.ts`), time to bug
 * (`bench-time-to-bug.ts`), shrink quality (`bench-shrink-quality.ts`), exploration
 * (`bench-exploration.ts`) and suite time (`bench-suite.ts`); the settings in `bench-settings.ts`.
 *
 * Nothing here changes the engine: it measures the public functions as they are.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { measureExploration } from './bench-exploration.js';
import { measureAnchorSpeed } from './bench-anchor-speed.js';
import type { AnchorSpeed } from './bench-anchor-speed.js';
import type { Exploration } from './bench-exploration.js';
import { round } from './bench-measure.js';
import type { BenchSettings } from './bench-settings.js';
import { measureShrinkQuality } from './bench-shrink-quality.js';
import type { ShrinkQuality } from './bench-shrink-quality.js';
import { checkSummary, measureSuiteRun, vitestSummary } from './bench-suite.js';
import type { SuiteRun } from './bench-suite.js';
import { measureThroughput } from './bench-throughput.js';
import type { Throughput } from './bench-throughput.js';
import { measureTimeToBug } from './bench-time-to-bug.js';
import type { TimeToBug } from './bench-time-to-bug.js';
import { soundDesignPerModel } from './design.js';
import type { AnyDesign } from './design.js';
import { toolVersion } from './version.js';

export const BENCH_FORMAT_VERSION = 1;
export const DEFAULT_BENCH_OUT = 'bench/results.json';

export interface Machine {
  readonly os: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemoryBytes: number;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the bench started: other work on the machine skews every figure. */
  readonly loadAverage: readonly number[];
}

export interface BenchResult {
  readonly benchFormatVersion: number;
  readonly date: string;
  readonly toolVersion: string;
  readonly commit: string | null;
  readonly machine: Machine;
  readonly settings: BenchSettings;
  readonly throughput: readonly Throughput[];
  readonly timeToBug: readonly TimeToBug[];
  readonly shrinkQuality: readonly ShrinkQuality[];
  readonly exploration: readonly Exploration[];
  /** The explorer against Spin on the Promela anchor's graph; absent from results of older benches. */
  readonly anchor?: AnchorSpeed;
  /** Null when skipped (`--quick`, `--no-suite`). */
  readonly suite: { readonly test: SuiteRun; readonly check: SuiteRun } | null;
  /** Designs whose stack has no sound design, or that declare no explore scope: what was left out. */
  readonly skipped: readonly string[];
  readonly totalMs: number;
  /** Load averages when the bench ended: near 1 when it ran alone (the suite uses every core). */
  readonly loadAverageAtEnd: readonly number[];
}

export interface BenchRun {
  readonly settings: BenchSettings;
  /** Designs to measure (the registry, or a selection of it). */
  readonly designs: readonly AnyDesign[];
  /** Working directory of the spawned suite commands. */
  readonly cwd?: string;
  readonly onProgress?: (text: string) => void;
}

export function machineInfo(): Machine {
  const cores = cpus();
  return {
    os: `${platform()} ${release()} ${arch()}`,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cpus: cores.length,
    totalMemoryBytes: totalmem(),
    node: process.version,
    loadAverage: loadavg().map((load) => round(load, 2)),
  };
}

/** The commit measured, with ` (modified)` when tracked files differ from it; null outside a git checkout. */
function gitCommit(cwd: string): string | null {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' });
  const modified = status.status === 0 && status.stdout.trim() !== '';
  return `${head.stdout.trim()}${modified ? ' (modified)' : ''}`;
}
export function runBench(run: BenchRun): BenchResult {
  const started = performance.now();
  const machine = machineInfo();
  const { settings, designs } = run;
  const progress = run.onProgress ?? ((): void => undefined);
  const cwd = run.cwd ?? process.cwd();
  const skipped: string[] = [];

  const sound = soundDesignPerModel(designs);
  const throughput = sound.map((design) => {
    progress(`throughput: ${design.id}`);
    return measureThroughput(design, settings);
  });

  const flawed = designs.filter((design) => design.expected === 'violates');
  const timeToBug = flawed.map((design) =>
    measureTimeToBug(design, settings, (seed, index) =>
      progress(`time to bug: ${design.id} seed ${seed} (${index + 1}/${settings.seeds.length})`),
    ),
  );

  const shrinkQuality: ShrinkQuality[] = [];
  flawed.forEach((design, index) => {
    const measured = timeToBug[index];
    if (design.explore === undefined || measured === undefined) {
      skipped.push(`shrink quality: ${design.id} declares no explore scope`);
      return;
    }
    progress(`shrink quality: exploring ${design.id} to depth ${settings.shrinkDepth}`);
    shrinkQuality.push(measureShrinkQuality(design, settings, measured));
  });

  const exploration: Exploration[] = [];
  for (const design of sound) {
    if (design.explore === undefined) {
      skipped.push(`exploration: ${design.id} (stack ${design.stack}) declares no explore scope`);
      continue;
    }
    progress(`exploration: ${design.id} to depth ${settings.exploreDepth}`);
    exploration.push(measureExploration(design, settings));
  }
  progress("anchor: the Promela model's graph, on vectors, on objects and in Spin");
  const anchor = measureAnchorSpeed(settings);
  const stacks = new Set(designs.map((design) => design.stack));
  for (const stack of stacks) {
    if (!sound.some((design) => design.stack === stack)) skipped.push(`throughput: stack ${stack} has no sound design`);
  }

  let suite: BenchResult['suite'] = null;
  if (settings.suite) {
    progress('suite: npm test');
    const test = measureSuiteRun(['test'], cwd, vitestSummary);
    progress('suite: npm run check');
    const check = measureSuiteRun(['run', 'check'], cwd, checkSummary);
    suite = { test, check };
  }

  return {
    benchFormatVersion: BENCH_FORMAT_VERSION,
    date: new Date().toISOString(),
    toolVersion,
    commit: gitCommit(cwd),
    machine,
    settings,
    throughput,
    timeToBug,
    shrinkQuality,
    exploration,
    anchor,
    suite,
    skipped,
    totalMs: Math.round(performance.now() - started),
    loadAverageAtEnd: loadavg().map((load) => round(load, 2)),
  };
}

/** Writes the results atomically: a temporary file in the same directory, synced, renamed into place. */
export function writeBenchResults(path: string, result: BenchResult): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true });
  const temporary = join(directory, `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const descriptor = openSync(temporary, 'wx');
  try {
    try {
      writeSync(descriptor, `${JSON.stringify(result, null, 2)}\n`);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
