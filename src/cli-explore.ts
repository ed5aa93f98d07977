/**
 * `dmaprop explore`: exhaustive breadth-first search of designs in their stack's small scope, up
 * to a depth. Reports the shortest counterexample of each broken invariant (the same report and
 * JSON shape as `check`, savable to the corpus), or "no violation up to depth K" with the number
 * of distinct states and transitions explored.
 */
import { selectDesigns } from './cli-check.js';
import { formatSaveOutcome, formatSaveSummary, savedJson } from './cli-saved.js';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { entryFor, saveEntry } from './corpus.js';
import type { SaveOutcome } from './corpus.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';
import type { ExploreResult } from './explore.js';
import { terminalProgress } from './progress.js';
import { counterexampleJson, formatCounterexample, formatMs } from './report.js';
import type { Shard } from './shard.js';

export interface ExploreFlags {
  readonly design?: string[];
  readonly depth: number;
  readonly maxStates: number;
  readonly shard?: Shard;
  readonly save?: boolean;
  readonly corpus: string;
  readonly json?: boolean;
}

function perSecond(count: number, ms: number): string {
  return ms <= 0 ? '–' : String(Math.round((count * 1000) / ms));
}

/** The designs to explore: the named ones (each must declare a scope), or every design that declares one. */
function exploredDesigns(registry: readonly AnyDesign[], ids: readonly string[] | undefined): AnyDesign[] {
  if (ids === undefined || ids.length === 0) return registry.filter((design) => design.explore !== undefined);
  const selected = selectDesigns(registry, ids);
  const without = selected.find((design) => design.explore === undefined);
  if (without !== undefined) {
    throw new UsageError(`design '${without.id}' (stack ${without.stack}) declares no explore scope`);
  }
  return selected;
}

export function formatExploreResult(result: ExploreResult, design?: AnyDesign): string {
  const mark = result.met ? '✓' : '✗ UNEXPECTED';
  const size = `${result.states} states, ${result.transitions} transitions, ${formatMs(result.elapsedMs)} (${perSecond(result.states, result.elapsedMs)} states/s, ${perSecond(result.transitions, result.elapsedMs)} transitions/s)`;
  const shard = result.shard === null ? '' : ` [shard ${result.shard.index}/${result.shard.count}]`;
  let outcome: string;
  if (result.verdict === 'holds') outcome = `no violation up to depth ${result.depth}`;
  else if (result.verdict === 'limit')
    outcome = `${result.message ?? 'state limit reached'}; no violation up to depth ${result.depthReached}`;
  else {
    const count = result.violations.length;
    outcome = `${count} invariant${count === 1 ? '' : 's'} broken within depth ${result.depth}`;
  }
  const lines = [
    `${result.design} [${result.stack}] expected ${result.expected}, ${result.verdict} ${mark}${shard} — ${outcome}: ${size}`,
  ];
  if (design?.explore !== undefined) lines.push(`  scope: ${design.explore.description}`);
  if (result.verdict === 'violated' && result.limitReached && result.message !== null) {
    lines.push(`  ${result.message} (the counterexamples below are still the shortest)`);
  }
  for (const counterexample of result.violations) {
    for (const line of formatCounterexample(counterexample, design)) {
      // check's provenance line (found at, shrunk to, minimized to) means nothing here.
      if (line.startsWith('    found at ')) {
        lines.push(`    shortest: no sequence of fewer steps in the scope breaks it (breadth-first search)`);
      } else lines.push(line);
    }
  }
  return lines.join('\n');
}

/** The JSON of one exploration (the CLI contract; extra fields may be added, none removed). */
export function exploreJson(result: ExploreResult): Record<string, unknown> {
  return {
    design: result.design,
    stack: result.stack,
    expected: result.expected,
    depth: result.depth,
    depthReached: result.depthReached,
    states: result.states,
    transitions: result.transitions,
    elapsedMs: Math.round(result.elapsedMs),
    verdict: result.verdict,
    met: result.met,
    limitReached: result.limitReached,
    message: result.message,
    maxStates: result.maxStates,
    shard: result.shard,
    violations: result.violations.map(counterexampleJson),
  };
}

function saveViolations(flags: ExploreFlags, design: AnyDesign, result: ExploreResult): SaveOutcome[] {
  return result.violations.map((counterexample) => {
    const entry = entryFor(design, counterexample, 0);
    const message = `${counterexample.violation.message} (found by dmaprop explore at depth ${result.depth}: shortest, ${counterexample.length} step${counterexample.length === 1 ? '' : 's'})`;
    return saveEntry(flags.corpus, { ...entry, message });
  });
}

export function runExplore(flags: ExploreFlags, io: CliIo, registry: readonly AnyDesign[]): number {
  const selected = exploredDesigns(registry, flags.design);
  const human = flags.json !== true;
  if (human) {
    const shard = flags.shard === undefined ? '' : `, shard ${flags.shard.index}/${flags.shard.count}`;
    io.out(`dmaprop explore: breadth-first to depth ${flags.depth}, at most ${flags.maxStates} states${shard}\n\n`);
  }
  const progress = terminalProgress(human ? io.progress : undefined);
  const results: ExploreResult[] = [];
  const saved: SaveOutcome[] = [];
  for (const design of selected) {
    const result = exploreDesign(design, {
      depth: flags.depth,
      maxStates: flags.maxStates,
      ...(flags.shard === undefined ? {} : { shard: flags.shard }),
      onProgress: (at) =>
        progress.update(
          `${design.id}: depth ${at.level}/${at.depth}, ${at.expanded}/${at.frontier} expanded, ${at.states} states, ${at.transitions} transitions`,
        ),
    });
    progress.done();
    results.push(result);
    const outcomes = flags.save === true ? saveViolations(flags, design, result) : [];
    saved.push(...outcomes);
    if (!human) continue;
    io.out(`${formatExploreResult(result, design)}\n`);
    for (const outcome of outcomes) {
      io.out(`${formatSaveOutcome(outcome)}\n`);
    }
    io.out('\n');
  }
  const unmet = results.filter((result) => !result.met);
  if (human) {
    const head = `${results.length} design${results.length === 1 ? '' : 's'} explored: ${results.length - unmet.length} as expected, ${unmet.length} not`;
    io.out(`${unmet.length === 0 ? head : `${head} (${unmet.map((result) => result.design).join(', ')})`}\n`);
    if (flags.save === true) {
      io.out(`${formatSaveSummary(flags.corpus, saved)}\n`);
    }
  } else {
    const extra = flags.save === true ? savedJson(saved) : {};
    io.out(`${JSON.stringify({ results: results.map(exploreJson), ...extra }, null, 2)}\n`);
  }
  return unmet.length === 0 ? 0 : 1;
}
