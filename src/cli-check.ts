/**
 * `dmaprop check`: run designs over seeds (optionally one shard of the work), report, save to the
 * corpus. Output paths are checked before the search; a save that still fails is reported after
 * the results. Ctrl-C (`io.shouldStop`) ends the run with what was found so far.
 */
import { SHORTEST_MAX_STATES } from './shortest.js';
import { checkDesign, requiredReach } from './check.js';
import { CheckPool } from './check-pool.js';
import type { PlainCheckOptions } from './check-worker.js';
import type { DesignCheck } from './check.js';
import { formatSaveOutcome, formatSaveSummary, savedJson } from './cli-saved.js';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { entryFor, entryForCrash, saveEntry } from './corpus.js';
import type { SaveOutcome } from './corpus.js';
import { designProblems } from './design.js';
import type { AnyDesign } from './design.js';
import { EXIT_INTERRUPTED, EXIT_USAGE, exitStatus } from './exit-codes.js';
import { checkOutputDirectory, OutputPathError } from './output-path.js';
import { terminalProgress } from './progress.js';
import { checkResultJson, formatDesignCheck, formatSummary } from './report.js';
import { freshSeed, maxFirstSeed, sharedSeed } from './seed.js';
import { planShard } from './shard.js';
import type { Shard } from './shard.js';
import { formatStats, statsJson } from './stats.js';
import { checkRow } from './html/report-model.js';
import { writeHtmlReport } from './html/write-report.js';

export const DEFAULT_RUNS = 1000;
export const DEFAULT_CORPUS = 'test/regressions';

export interface CheckFlags {
  readonly design?: string[];
  readonly runs: number;
  readonly seed?: number;
  readonly seeds: number;
  readonly shard?: Shard;
  readonly timeLimit?: number;
  readonly maxCommands?: number;
  readonly preemptions?: number;
  readonly json?: boolean;
  readonly stats?: boolean;
  readonly strict?: boolean;
  readonly guided?: boolean;
  /** `--shortest [states]`: true for the default budget, or the state budget given. */
  readonly shortest?: boolean | number;
  readonly save?: boolean;
  readonly corpus: string;
  /** `--html DIR`: write an HTML report of the run there (index.html and a page per counterexample). */
  readonly html?: string;
  /** `--jobs N`: checks run on N worker threads, reported in the same order with the same results. */
  readonly jobs?: number;
}

/** A `--design` pattern as a test of ids: `*` matches any run of characters (`example/*`). */
function idPattern(pattern: string): (id: string) => boolean {
  if (!pattern.includes('*')) return (id) => id === pattern;
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  const regex = new RegExp(`^${escaped.join('.*')}$`);
  return (id) => regex.test(id);
}

/**
 * The designs named (all when none; a name may hold `*` wildcards), each once, in the order
 * named, with a well-formed declaration; anything else is bad usage.
 */
export function selectDesigns(registry: readonly AnyDesign[], ids: readonly string[] | undefined): AnyDesign[] {
  const selected: AnyDesign[] = [];
  if (ids === undefined || ids.length === 0) selected.push(...registry);
  for (const pattern of ids ?? []) {
    const matches = registry.filter((design) => idPattern(pattern)(design.id));
    if (matches.length === 0) {
      throw new UsageError(`unknown design '${pattern}' (known: ${registry.map((known) => known.id).join(', ')})`);
    }
    for (const design of matches) if (!selected.includes(design)) selected.push(design);
  }
  const problems = selected.flatMap(designProblems);
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return selected;
}

/** The first seed: `--seed`; for a shard, the one every shard agrees on; otherwise a fresh one. */
function firstSeed(
  flags: CheckFlags,
  env: Readonly<Record<string, string | undefined>>,
): { seed: number; source: string } {
  if (flags.seed !== undefined) {
    if (flags.seed > maxFirstSeed(flags.seeds)) {
      throw new UsageError(
        `--seed ${flags.seed} with --seeds ${flags.seeds} runs past the largest seed; use a first seed of at most ${maxFirstSeed(flags.seeds)}`,
      );
    }
    return { seed: flags.seed, source: '--seed' };
  }
  if (flags.shard !== undefined) {
    let shared;
    try {
      shared = sharedSeed(env, flags.seeds);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (shared === null) {
      throw new UsageError(
        '--shard needs a seed every shard agrees on: pass --seed, or set DMAPROP_SEED (a CI run id such as GITHUB_RUN_ID is used when present)',
      );
    }
    return shared;
  }
  return { seed: freshSeed(flags.seeds), source: 'fresh' };
}

/** One design's saves; the first failure stops saving (the results are still printed). */
function saveFindings(corpus: string, design: AnyDesign, check: DesignCheck): SaveOutcome[] {
  const outcomes = check.violations.map((counterexample) =>
    saveEntry(corpus, entryFor(design, counterexample, check.seed)),
  );
  if (check.crash !== null) outcomes.push(saveEntry(corpus, entryForCrash(design, check.crash, check.seed)));
  return outcomes;
}

/** `configFile`: the config the registry's own designs came from; every replay line names it. */
export function runCheck(
  flags: CheckFlags,
  io: CliIo,
  registry: readonly AnyDesign[],
  configFile: string | null = null,
): number {
  const config = configFile ?? undefined;
  const selected = selectDesigns(registry, flags.design);
  const { seed: base, source } = firstSeed(flags, io.env ?? process.env);
  let plan;
  try {
    plan = planShard(base, flags.seeds, flags.runs, flags.shard);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  for (const [directory, flag] of [
    [flags.save === true ? flags.corpus : undefined, '--corpus'],
    [flags.html, '--html'],
  ] as const) {
    if (directory === undefined) continue;
    try {
      checkOutputDirectory(directory, flag);
    } catch (error) {
      if (error instanceof OutputPathError) throw new UsageError(error.message);
      throw error;
    }
  }
  const human = flags.json !== true;
  const seedRange = flags.seeds === 1 ? `seed ${base}` : `seeds ${base}…${base + flags.seeds - 1}`;
  const from = source === 'fresh' || source === '--seed' ? '' : ` (from ${source})`;
  io.started?.(
    `dmaprop check: ${seedRange}${from}; replay with --seed ${base}${flags.seeds === 1 ? '' : ` --seeds ${flags.seeds}`}`,
  );
  if (human) {
    const shardText = plan.description === '' ? '' : `, ${plan.description}`;
    io.out(`dmaprop check: ${seedRange}${from}${shardText}, ${flags.runs} runs per design and seed\n\n`);
  }
  const progress = terminalProgress(human ? io.progress : undefined);
  const stop = io.shouldStop ?? ((): boolean => false);
  const checks: DesignCheck[] = [];
  const saved: SaveOutcome[] = [];
  let saveError: string | null = null;
  const planned = plan.seeds.length * selected.length;
  const optionsFor = (seed: number): PlainCheckOptions => ({
    seed,
    runs: flags.runs,
    ...(flags.strict === true ? { strict: true } : {}),
    ...(flags.guided === true ? { guided: true } : {}),
    ...(flags.shortest === undefined || flags.shortest === false
      ? {}
      : { shortest: { maxStates: flags.shortest === true ? SHORTEST_MAX_STATES : flags.shortest } }),
    ...(plan.runShard === null ? {} : { shard: plan.runShard }),
    ...(flags.timeLimit === undefined ? {} : { timeLimitMs: flags.timeLimit * 1000 }),
    ...(flags.maxCommands === undefined && flags.preemptions === undefined
      ? {}
      : {
          generation: {
            ...(flags.maxCommands === undefined ? {} : { maxCommands: flags.maxCommands }),
            ...(flags.preemptions === undefined ? {} : { preemptions: flags.preemptions }),
          },
        }),
  });
  const tasks = plan.seeds.flatMap((seed) => selected.map((design) => ({ design, seed })));
  // `--jobs N`: the same checks on N threads, handed back in this order (`check-pool.ts`).
  const jobs = Math.min(flags.jobs ?? 1, tasks.length);
  const pool =
    jobs > 1
      ? new CheckPool(
          tasks.map(({ design, seed }) => ({ design: design.id, options: optionsFor(seed) })),
          jobs,
          { config: configFile },
        )
      : null;
  try {
    for (const [index, { design, seed }] of tasks.entries()) {
      if (stop()) break;
      const onRun = (run: number): void => progress.update(`${design.id} seed ${seed}: ${run}/${flags.runs} runs`);
      const check =
        pool === null
          ? checkDesign(design, { ...optionsFor(seed), onRun, shouldStop: stop })
          : pool.result(
              index,
              () => {
                if (stop()) pool.stop();
              },
              onRun,
            );
      if (check === null) break;
      progress.done();
      checks.push(check);
      let outcomes: SaveOutcome[] = [];
      if (flags.save === true && saveError === null) {
        try {
          outcomes = saveFindings(flags.corpus, design, check);
        } catch (error) {
          saveError = `cannot save to the corpus ${flags.corpus}: ${(error as Error).message}`;
        }
      }
      saved.push(...outcomes);
      if (!human) continue;
      io.out(`${formatDesignCheck(check, design, config)}\n`);
      if (flags.stats === true)
        io.out(
          `${formatStats(check.stats, design.commands.kinds, design.reach, (label, runs) => requiredReach(design, label, runs))}\n`,
        );
      for (const outcome of outcomes) io.out(`${formatSaveOutcome(outcome)}\n`);
      io.out('\n');
    }
  } finally {
    pool?.close();
  }
  const interrupted = stop();
  if (flags.html !== undefined) {
    const rows = checks.flatMap((check) => {
      const design = selected.find((known) => known.id === check.design);
      return design === undefined ? [] : [checkRow(check, design, config)];
    });
    const index = writeHtmlReport(flags.html, {
      title: `dmaprop check: ${seedRange}, ${flags.runs} runs per design`,
      rows,
    })[0];
    if (human) io.out(`HTML report: ${index ?? flags.html}\n`);
  }
  if (human) {
    io.out(`${formatSummary(checks)}\n`);
    if (interrupted) {
      io.out(
        `interrupted: ${checks.length} of ${planned} design checks ran; replay the run with --seed ${base}${flags.seeds === 1 ? '' : ` --seeds ${flags.seeds}`}\n`,
      );
    }
    if (flags.save === true) io.out(`${formatSaveSummary(flags.corpus, saved)}\n`);
  } else {
    const results = checks.map((check) => {
      const result = checkResultJson(check, config);
      const design = selected.find((known) => known.id === check.design);
      if (flags.stats === true && design !== undefined) {
        result['stats'] = statsJson(check.stats, design.commands.kinds, design.reach, (label, runs) =>
          requiredReach(design, label, runs),
        );
      }
      return result;
    });
    const document = {
      seed: base,
      seeds: flags.seeds,
      runs: flags.runs,
      shard: flags.shard ?? null,
      interrupted,
      planned,
      results,
      ...(flags.save === true ? savedJson(saved) : {}),
      ...(saveError === null ? {} : { saveError }),
    };
    io.out(`${JSON.stringify(document, null, 2)}\n`);
  }
  if (saveError !== null) io.err(`dmaprop: ${saveError}\n`);
  if (interrupted) return EXIT_INTERRUPTED;
  const status = exitStatus(checks.map((check) => check.outcome));
  return saveError !== null && status === 0 ? EXIT_USAGE : status;
}
