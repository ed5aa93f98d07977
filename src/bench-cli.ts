/**
 * `dmaprop bench`: measure, print (a table, or JSON with --json), and always write the latest
 * results to `bench/results.json` (or --out), atomically.
 */
import { DEFAULT_BENCH_OUT, runBench, writeBenchResults } from './bench.js';
import { benchSettings } from './bench-settings.js';
import { formatBench } from './bench-report.js';
import { selectDesigns } from './cli-check.js';
import type { CliIo } from './cli-io.js';
import { EXIT_USAGE } from './exit-codes.js';
import type { AnyDesign } from './design.js';
import { terminalProgress } from './progress.js';

export interface BenchFlags {
  readonly json?: boolean;
  readonly quick?: boolean;
  readonly out: string;
  /** commander's `--no-suite`: false when given. */
  readonly suite: boolean;
  readonly design?: string[];
  readonly seed?: number;
  readonly seeds?: number;
  readonly runs?: number;
}

export { DEFAULT_BENCH_OUT };

export function runBenchCommand(flags: BenchFlags, io: CliIo, registry: readonly AnyDesign[]): number {
  const selected = selectDesigns(registry, flags.design);
  const quick = flags.quick === true;
  const settings = benchSettings(quick, {
    ...(flags.seed === undefined ? {} : { seed: flags.seed }),
    ...(flags.seeds === undefined ? {} : { seedCount: flags.seeds }),
    ...(flags.runs === undefined ? {} : { runs: flags.runs }),
    suite: flags.suite,
  });
  const human = flags.json !== true;
  if (human) {
    const seedText = flags.seed === undefined ? 'fresh seeds' : `seeds from ${flags.seed}`;
    io.out(
      `dmaprop bench (${settings.mode}): ${selected.length} designs; time to bug on ${settings.seeds.length} ${seedText}: ${settings.seeds.join(' ')}\n\n`,
    );
  }
  const progress = terminalProgress(human ? io.progress : undefined);
  const result = runBench({ settings, designs: selected, onProgress: (text) => progress.update(text) });
  progress.done();
  // The results are printed first: a write that fails after the work (a full disk) loses nothing.
  if (human) io.out(`${formatBench(result)}\n`);
  else io.out(`${JSON.stringify(result, null, 2)}\n`);
  try {
    writeBenchResults(flags.out, result);
  } catch (error) {
    io.err(`dmaprop: cannot write the results to ${flags.out}: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (human) io.out(`results written to ${flags.out}\n`);
  return 0;
}
