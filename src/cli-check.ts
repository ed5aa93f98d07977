/** `dmaprop check`: run designs over seeds (optionally one shard of them), report, save to the corpus. */
import { checkDesign } from './check.js';
import type { DesignCheck } from './check.js';
import { formatSaveOutcome, formatSaveSummary, savedJson } from './cli-saved.js';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { entryFor, saveEntry } from './corpus.js';
import type { SaveOutcome } from './corpus.js';
import type { AnyDesign } from './design.js';
import { terminalProgress } from './progress.js';
import { checkJson, formatDesignCheck, formatSummary } from './report.js';
import { freshSeed } from './seed.js';
import { shardSeeds } from './shard.js';
import type { Shard } from './shard.js';
import { formatStats, statsJson } from './stats.js';

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
  readonly json?: boolean;
  readonly stats?: boolean;
  readonly save?: boolean;
  readonly corpus: string;
}

export function selectDesigns(registry: readonly AnyDesign[], ids: readonly string[] | undefined): AnyDesign[] {
  if (ids === undefined || ids.length === 0) return [...registry];
  return ids.map((id) => {
    const design = registry.find((known) => known.id === id);
    if (design === undefined) {
      throw new UsageError(`unknown design '${id}' (known: ${registry.map((known) => known.id).join(', ')})`);
    }
    return design;
  });
}

function saveViolations(flags: CheckFlags, design: AnyDesign, check: DesignCheck): SaveOutcome[] {
  return check.violations.map((counterexample) =>
    saveEntry(flags.corpus, entryFor(design, counterexample, check.seed)),
  );
}

export function runCheck(flags: CheckFlags, io: CliIo, registry: readonly AnyDesign[]): number {
  const selected = selectDesigns(registry, flags.design);
  const base = flags.seed ?? freshSeed();
  const seeds = shardSeeds(base, flags.seeds, flags.shard);
  const human = flags.json !== true;
  const shardText = flags.shard === undefined ? '' : `, shard ${flags.shard.index}/${flags.shard.count}`;
  if (human) {
    const seedText =
      flags.seeds === 1 ? `seed ${base}` : `seeds ${base}…${base + flags.seeds - 1}${shardText} (${seeds.length} here)`;
    io.out(`dmaprop check: ${seedText}, ${flags.runs} runs per design and seed\n\n`);
  }
  const progress = terminalProgress(human ? io.progress : undefined);
  const checks: DesignCheck[] = [];
  const saved: SaveOutcome[] = [];
  for (const seed of seeds) {
    for (const design of selected) {
      const check = checkDesign(design, {
        seed,
        runs: flags.runs,
        onRun: (run) => progress.update(`${design.id} seed ${seed}: ${run}/${flags.runs} runs`),
        ...(flags.timeLimit === undefined ? {} : { timeLimitMs: flags.timeLimit * 1000 }),
        ...(flags.maxCommands === undefined ? {} : { generation: { maxCommands: flags.maxCommands } }),
      });
      progress.done();
      checks.push(check);
      const outcomes = flags.save === true ? saveViolations(flags, design, check) : [];
      saved.push(...outcomes);
      if (!human) continue;
      io.out(`${formatDesignCheck(check, design)}\n`);
      if (flags.stats === true) io.out(`${formatStats(check.stats, design.commands.kinds, design.reach)}\n`);
      for (const outcome of outcomes) {
        io.out(`${formatSaveOutcome(outcome)}\n`);
      }
      io.out('\n');
    }
  }
  if (human) {
    io.out(`${formatSummary(checks)}\n`);
    if (flags.save === true) {
      io.out(`${formatSaveSummary(flags.corpus, saved)}\n`);
    }
  } else {
    const json = checkJson(checks) as { results: Record<string, unknown>[] };
    json.results.forEach((result, index) => {
      const check = checks[index];
      const design = selected.find((known) => known.id === check?.design);
      if (flags.stats === true && check !== undefined && design !== undefined) {
        result['stats'] = statsJson(check.stats, design.commands.kinds, design.reach);
      }
    });
    const extra = flags.save === true ? savedJson(saved) : {};
    io.out(`${JSON.stringify({ ...json, ...extra }, null, 2)}\n`);
  }
  return checks.every((check) => check.met) ? 0 : 1;
}
