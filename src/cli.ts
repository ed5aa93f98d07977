/**
 * The `dmaprop` command line. Exit statuses (`exit-codes.ts`, listed by `--help`): 0 when every
 * design met its expectation (or a replayed entry reproduced), 1 when a verdict contradicts one,
 * 2 on bad usage (unknown verb or flag, bad value, unknown design, unusable output path,
 * unreadable or malformed corpus file), 3 when a design crashed, 4 when a search was
 * inconclusive, 130 when interrupted.
 */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { designs } from '../properties/registry.js';
import { DEFAULT_BENCH_OUT, runBenchCommand } from './bench-cli.js';
import type { BenchFlags } from './bench-cli.js';
import { DEFAULT_CORPUS, DEFAULT_RUNS, runCheck } from './cli-check.js';
import { runCosts } from './cli-costs.js';
import type { CostsFlags } from './cli-costs.js';
import type { CheckFlags } from './cli-check.js';
import { MAX_EXPLORE_DEPTH, runExplore } from './cli-explore.js';
import type { ExploreFlags } from './cli-explore.js';
import { UsageError, processIo } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { runReplay } from './cli-replay.js';
import { runReport } from './cli-report.js';
import type { ReportFlags } from './cli-report.js';
import type { ReplayFlags } from './cli-replay.js';
import type { AnyDesign, Invariant } from './design.js';
import { DEFAULT_MAX_STATES } from './explore.js';
import { SEED_MAX } from './seed.js';
import { parseShard } from './shard.js';
import type { Shard } from './shard.js';
import { toolVersion } from './version.js';
import { exitStatusHelp } from './exit-codes.js';
import { CONFIG_FILES, ConfigError, loadConfig } from './config.js';
import { checkOutputFile, OutputPathError } from './output-path.js';

export type { CliIo } from './cli-io.js';
export { DEFAULT_RUNS } from './cli-check.js';

function integer(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got '${value}'`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return parsed;
  };
}

/** `--jobs`: a count of threads, or `auto` for one per core the machine offers. */
function jobs(value: string): number {
  if (value === 'auto') return Math.min(availableParallelism(), 64);
  return integer('jobs', 1, 64)(value);
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidArgumentError(`time limit must be a positive number of seconds, got '${value}'`);
  }
  return parsed;
}

function shard(value: string): Shard {
  try {
    return parseShard(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** An output path that cannot be used is bad usage, found before any work starts. */
function checkOutput(check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof OutputPathError) throw new UsageError(error.message);
    throw error;
  }
}

function runDesigns(flags: { json?: boolean }, io: CliIo, registry: readonly AnyDesign[]): number {
  const rows = registry.map((design) => ({
    id: design.id,
    stack: design.stack,
    expected: design.expected,
    description: design.description,
    breaks: design.breaks,
    invariants: design.invariants.map((invariant: Invariant<unknown, unknown>) => ({
      name: invariant.name,
      class: invariant.class,
      description: invariant.description,
    })),
    explore: design.explore !== undefined,
  }));
  if (flags.json === true) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const width = Math.max(...rows.map((row) => row.id.length));
  const stackWidth = Math.max(...rows.map((row) => row.stack.length));
  for (const row of rows) {
    io.out(`${row.id.padEnd(width)}  ${row.stack.padEnd(stackWidth)}  ${row.expected.padEnd(8)}  ${row.description}\n`);
  }
  return 0;
}

/** The designs every verb sees: the built-in (or embedder's) ones, and the config file's. */
interface Registry {
  designs: readonly AnyDesign[];
  /** The config file the designs came from, for replay lines; null when none was loaded. */
  configFile: string | null;
}

function program(io: CliIo, builtIn: readonly AnyDesign[], setExit: (code: number) => void): Command {
  const loaded: Registry = { designs: builtIn, configFile: null };
  const root = new Command('dmaprop')
    .description('Property-based verification of DMA isolation under virtualization')
    .version(toolVersion)
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .addHelpText('after', `\n${exitStatusHelp}\n`)
    .option('--config <file>', `designs of your own (default: ${CONFIG_FILES.join(', ')} in the working directory)`)
    .exitOverride();
  // Before any verb runs: the config's designs join the registry, exactly like built-in ones.
  root.hook('preAction', async () => {
    const explicit = (root.opts() as { config?: string }).config;
    let config;
    try {
      config = await loadConfig(explicit, builtIn);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    loaded.designs = [...builtIn, ...config.designs];
    loaded.configFile = config.file;
  });
  root
    .command('designs')
    .description('list the registered designs with their stack and expected verdict')
    .option(
      '--json',
      'print JSON: [{ id, stack, expected, description, breaks, invariants: [{ name, class, description }], explore }]',
    )
    .action((flags: { json?: boolean }) => setExit(runDesigns(flags, io, loaded.designs)));
  root
    .command('check')
    .description('check designs against every invariant; exit 0 when each meets its expectation')
    .option('-d, --design <id...>', "design ids to check, '*' a wildcard (default: all)")
    .addOption(
      new Option('-r, --runs <n>', 'sequences generated per design and seed')
        .default(DEFAULT_RUNS)
        .argParser(integer('runs', 1, 10_000_000)),
    )
    .addOption(
      new Option('-s, --seed <n>', 'first seed (default: a fresh one, printed)').argParser(
        integer('seed', 0, SEED_MAX),
      ),
    )
    .addOption(
      new Option('--seeds <count>', 'number of consecutive seeds to run from the first')
        .default(1)
        .argParser(integer('seeds', 1, 1_000_000)),
    )
    .addOption(
      new Option(
        '--shard <i/n>',
        'run the i-th of n slices of the work: every n-th seed with at least n seeds, else every n-th run of each seed (the seed comes from --seed, DMAPROP_SEED or the CI run id)',
      ).argParser(shard),
    )
    .addOption(new Option('--time-limit <seconds>', 'wall-clock limit per search').argParser(seconds))
    .addOption(
      new Option('--max-commands <n>', 'longest command sequence generated').argParser(
        integer('max-commands', 1, 10_000),
      ),
    )
    .addOption(
      new Option(
        '--preemptions <n>',
        'most operations left in flight per sequence on stacks with phased operations (0: all atomic; default 3)',
      ).argParser(integer('preemptions', 0, 100)),
    )
    .option('--stats', 'print per-kind and per-invariant statistics of each run')
    .option('--strict', 'purity guard: a step that changes the state it was given is a crash (slower)')
    .option(
      '--guided',
      'feedback-guided generation: the first 100 runs as always, the rest with command weights steered to what those reached least',
    )
    .addOption(
      new Option(
        '--shortest [states]',
        "after minimizing, search the design's explore scope one step shallower for a shorter counterexample (state budget, default 20000)",
      ).argParser(integer('shortest', 1, 10_000_000)),
    )
    .option('--save', 'save each shrunk counterexample to the regression corpus')
    .option('--corpus <dir>', 'regression corpus directory', DEFAULT_CORPUS)
    .option('--json', 'print JSON: { results: [...] }')
    .option('--html <dir>', 'write an HTML report there: index.html and a page per counterexample')
    .addOption(
      new Option(
        '--jobs <n>',
        "run the checks on n worker threads ('auto': one per core); the same results, reported in the same order",
      )
        .default(1)
        .argParser(jobs),
    )
    .addHelpText('after', `\n${exitStatusHelp}\n`)
    .action((flags: CheckFlags) => setExit(runCheck(flags, io, loaded.designs, loaded.configFile)));
  root
    .command('explore')
    .description("breadth-first search of every command sequence up to a depth, in each stack's small scope")
    .option('-d, --design <id...>', 'design ids to explore (default: every design that declares a scope)')
    .addOption(
      new Option(
        '--depth <k>',
        'longest command sequence explored (at least one of --depth and --time-limit)',
      ).argParser(integer('depth', 1, MAX_EXPLORE_DEPTH)),
    )
    .addOption(
      new Option(
        '--time-limit <seconds>',
        'wall-clock limit per design: stops there and reports the depth every sequence was explored to (inconclusive past it); alone, the search goes as deep as the time allows',
      ).argParser(seconds),
    )
    .addOption(
      new Option('--max-states <n>', 'stop when this many distinct states are known')
        .default(DEFAULT_MAX_STATES)
        .argParser(integer('max-states', 1, 10_000_000)),
    )
    .addOption(
      new Option(
        '--shard <i/n>',
        'check and count only the states in the i-th of n parts of the hash (shards do not overlap)',
      ).argParser(shard),
    )
    .option(
      '--partial-order',
      "partial-order reduction: independent commands (by the scope's footprints) tried in one order only",
    )
    .option(
      '--no-flat',
      'search the state objects even where the scope gives a flat integer encoding (the reference; the same result, slower)',
    )
    .addOption(
      new Option(
        '--workers <n>',
        'worker threads: the states split among them by hash, the same result as one (default 1)',
      ).argParser(integer('workers', 1, 64)),
    )
    .option('--save', 'save each shortest counterexample to the regression corpus')
    .option('--corpus <dir>', 'regression corpus directory', DEFAULT_CORPUS)
    .option(
      '--json',
      'print JSON: { results: [{ design, depth, states, transitions, slept, elapsedMs, verdict, violations }] }',
    )
    .option(
      '--html <dir>',
      'write an HTML report there: index.html and a page per counterexample, with the state graph around it',
    )
    .addHelpText('after', `\n${exitStatusHelp}\n`)
    .action((flags: ExploreFlags) => setExit(runExplore(flags, io, loaded.designs, loaded.configFile)));
  root
    .command('bench')
    .description('measure throughput, time to bug, shrink quality, exploration and suite time; write the results')
    .option('--json', 'print the results as JSON (the same as the file written)')
    .option('--quick', 'tiny budgets, no suite: a smoke run of every measurement')
    .option('--out <file>', 'where to write the results', DEFAULT_BENCH_OUT)
    .option('--no-suite', 'do not time `npm test` and `npm run check`')
    .option('-d, --design <id...>', 'designs to measure (default: all)')
    .addOption(
      new Option('-s, --seed <n>', 'first time-to-bug seed (default: fresh seeds, printed)').argParser(
        integer('seed', 0, SEED_MAX),
      ),
    )
    .addOption(
      new Option('--seeds <count>', 'time-to-bug seeds per flawed design (default 20, 3 with --quick)').argParser(
        integer('seeds', 1, 1000),
      ),
    )
    .addOption(
      new Option('-r, --runs <n>', 'checkDesign runs per seed (default 1000, 100 with --quick)').argParser(
        integer('runs', 1, 10_000_000),
      ),
    )
    .action((flags: BenchFlags) => {
      checkOutput(() => checkOutputFile(flags.out, '--out'));
      setExit(runBenchCommand(flags, io, loaded.designs));
    });
  root
    .command('costs')
    .description(
      'count what each vIOMMU design costs the host (VM exits, ioctls, IOTLB invalidations, pins) per workload',
    )
    .option('--json', 'print JSON: { designs, workloads, rows: [{ workload, design, vmExits, vfioIoctls, ... }] }')
    .action((flags: CostsFlags) => setExit(runCosts(flags, io)));
  root
    .command('replay')
    .description('replay a regression corpus entry step by step with the state that matters')
    .argument('<file>', 'corpus entry (.json)')
    .option('--json', 'print the replay as JSON')
    .option('--ts', 'print a TypeScript snippet that replays the entry through the public API')
    .option('--html <dir>', "write the replay as an HTML report there (index.html and the trace's page)")
    .action((file: string, flags: ReplayFlags) =>
      setExit(runReplay(file, flags, io, loaded.designs, loaded.configFile)),
    );
  root
    .command('report')
    .description('write an HTML report of corpus entries and of check --json or explore --json output')
    .argument('<files...>', 'corpus entries (.json), or files of check --json or explore --json output')
    .requiredOption('--html <dir>', 'where to write it: index.html and a page per counterexample')
    .action((files: string[], flags: ReportFlags) =>
      setExit(runReport(files, flags, io, loaded.designs, loaded.configFile)),
    );
  return root;
}

/** Runs the CLI; `registry` defaults to the built-in designs (tests and embedders may pass their own). */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  registry: readonly AnyDesign[] = designs,
): Promise<number> {
  let code = 0;
  try {
    await program(io, registry, (exit) => (code = exit)).parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0; everything else is bad usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      io.err(`dmaprop: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
