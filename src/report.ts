/**
 * Rendering check results for people (text) and tools (JSON). The data is built first
 * (`DesignCheck`), then rendered here; nothing here decides a verdict.
 */
import type { OpResult } from '../models/result.js';
import type { Counterexample, CrashReport, CutShort, DesignCheck } from './check.js';
import type { AnyDesign } from './design.js';
import { crashWhere } from './execute.js';
import type { Crash } from './execute.js';
import type { Outcome } from './exit-codes.js';
import { formatLanes } from './lanes.js';
import { replayCommand } from './replay-command.js';

export function formatResult(result: OpResult): string {
  const detail = Object.entries(result.detail ?? {})
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
  const head = result.ok ? 'ok' : String(result.error);
  return detail === '' ? head : `${head} ${detail}`;
}

function formatCommand(design: AnyDesign | undefined, command: unknown): string {
  return design?.formatCommand?.(command) ?? JSON.stringify(command);
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatCounterexample(counterexample: Counterexample, design?: AnyDesign): string[] {
  const lines = [
    `  ✗ ${counterexample.invariant} (${counterexample.class}): ${counterexample.length} step${counterexample.length === 1 ? '' : 's'}`,
  ];
  const commands = counterexample.executed.map((step) => formatCommand(design, step.command));
  const width = Math.min(64, Math.max(...commands.map((text) => text.length)));
  counterexample.executed.forEach((step, index) => {
    const number = String(index + 1).padStart(3);
    const actor = step.actor === undefined ? '' : `[${step.actor}] `;
    lines.push(`    ${number}. ${actor}${(commands[index] ?? '').padEnd(width)}  → ${formatResult(step.result)}`);
  });
  lines.push(...lanesOf(counterexample.executed, commands));
  const { violation } = counterexample;
  lines.push(`    violated after step ${counterexample.length}: ${violation.message}`);
  lines.push(`      actual:   ${violation.actual}`);
  lines.push(`      expected: ${violation.expected}`);
  const minimized = counterexample.shortest?.minimizedLength ?? counterexample.length;
  lines.push(
    `    found at ${counterexample.foundLength} steps, shrunk by fast-check to ${counterexample.shrunkLength} (${counterexample.shrinks} shrinks), minimized to ${minimized}${shortestWords(counterexample)}`,
  );
  lines.push(`    steps: ${JSON.stringify(counterexample.steps)}`);
  return lines;
}

/** The steps as lanes, one per actor, when more than one actor ran them. */
function lanesOf(executed: readonly { readonly actor?: string }[], commands: readonly string[]): string[] {
  if (!executed.some((step) => step.actor !== undefined)) return [];
  const lanes = formatLanes(
    executed.map((step, index) => ({ actor: step.actor ?? '?', text: commands[index] ?? '' })),
    '    ',
  );
  return lanes.length === 0 ? [] : ['    as lanes:', ...lanes];
}

/** Up to `frames` lines of a stack trace below its message line. */
function stackFrames(stack: string | null, frames: number): string[] {
  if (stack === null) return [];
  return stack
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .slice(0, frames)
    .map((line) => line.trim());
}

export function formatCrashReport(report: CrashReport, design?: AnyDesign): string[] {
  const { crash } = report;
  const lines = [`  ✗ crashed at ${crashWhere(crash)}: ${report.length} step${report.length === 1 ? '' : 's'}`];
  const commands = report.steps.map((command) => formatCommand(design, command));
  const width = Math.min(64, Math.max(0, ...commands.map((text) => text.length)));
  report.steps.forEach((_, index) => {
    const number = String(index + 1).padStart(3);
    const step = report.executed[index];
    const outcome = step === undefined ? `threw ${crash.name}` : formatResult(step.result);
    lines.push(`    ${number}. ${(commands[index] ?? '').padEnd(width)}  → ${outcome}`);
  });
  lines.push(`    ${crash.name}: ${crash.message}`);
  for (const frame of stackFrames(crash.stack, 6)) lines.push(`      ${frame}`);
  lines.push(
    `    found at ${report.foundLength} steps, shrunk by fast-check to ${report.shrunkLength} (${report.shrinks} shrinks), minimized to ${report.length}`,
  );
  lines.push(`    steps: ${JSON.stringify(report.steps)}`);
  return lines;
}

const cutShortWords: Readonly<Record<CutShort, string>> = {
  'time limit': 'time limit reached',
  interrupted: 'interrupted',
  report: 'every reported invariant broken',
};

/** The mark after a verdict: ✓ met, ✗ against the expectation or crashed, ? undecided. */
export function outcomeMark(outcome: Outcome): string {
  switch (outcome) {
    case 'met':
      return '✓';
    case 'unmet':
      return '✗ UNEXPECTED';
    case 'crashed':
      return '✗ CRASHED';
    case 'inconclusive':
      return '? INCONCLUSIVE';
  }
}

export function formatDesignCheck(check: DesignCheck, design?: AnyDesign, config?: string): string {
  const shard = check.budget.shard === null ? '' : `, shard ${check.budget.shard.index}/${check.budget.shard.count}`;
  const cut = check.cutShort === null ? '' : ` (${cutShortWords[check.cutShort]} at run ${check.lastRun})`;
  const lines = [
    `${check.design} [${check.stack}] expected ${check.expected}, ${check.verdict} ${outcomeMark(check.outcome)} — ${check.runs} runs${shard}, seed ${check.seed}, ${formatMs(check.elapsedMs)}${cut}`,
  ];
  if (check.reason !== null) lines.push(`  ${check.reason}`);
  if (check.undeclared.length > 0) lines.push(`  also broke, not declared in breaks: ${check.undeclared.join(', ')}`);
  if (check.firstFailure !== null) {
    lines.push(
      `  first failure at run ${check.firstFailure.run} after ${formatMs(check.firstFailure.elapsedMs)} (${check.firstFailure.invariant})`,
    );
  }
  if (check.crash !== null) lines.push(...formatCrashReport(check.crash, design));
  else if (check.crashedAt !== null) {
    const { crash, run } = check.crashedAt;
    lines.push(
      `  ✗ crashed at ${crashWhere(crash)} of run ${run} (not shrunk: stopped): ${crash.name}: ${crash.message}`,
    );
    for (const frame of stackFrames(crash.stack, 6)) lines.push(`      ${frame}`);
  }
  for (const counterexample of check.violations) lines.push(...formatCounterexample(counterexample, design));
  const missed = check.brokenAt.filter(
    (broken) => !check.violations.some((found) => found.invariant === broken.invariant),
  );
  if (missed.length > 0 && check.interrupted) {
    lines.push(
      `  not shrunk (stopped): ${missed.map((broken) => `${broken.invariant} at run ${broken.run}`).join(', ')}`,
    );
  }
  if (check.outcome !== 'met' || check.verdict !== 'holds') {
    const replay = replayCommand(check, config);
    lines.push(`  replay: ${replay.command}`);
    if (replay.note !== null) lines.push(`    (${replay.note})`);
  }
  return lines.join('\n');
}

export function formatSummary(checks: readonly DesignCheck[]): string {
  const by = (outcome: Outcome): DesignCheck[] => checks.filter((check) => check.outcome === outcome);
  const parts = [`${by('met').length} as expected`];
  const named = (outcome: Outcome, words: string): void => {
    const matching = by(outcome);
    if (matching.length > 0 || outcome === 'unmet') {
      const ids = matching.length === 0 ? '' : ` (${[...new Set(matching.map((check) => check.design))].join(', ')})`;
      parts.push(`${matching.length} ${words}${ids}`);
    }
  };
  named('unmet', 'not');
  named('crashed', 'crashed');
  named('inconclusive', 'inconclusive');
  return `${checks.length} design${checks.length === 1 ? '' : 's'} checked: ${parts.join(', ')}`;
}

/** The JSON of a crash (`check --json`). */
export function crashJson(report: CrashReport): Record<string, unknown> {
  return {
    ...crashFields(report.crash),
    length: report.length,
    steps: report.steps,
    results: report.executed.map((step) => step.result),
    replay: report.replay,
  };
}

function crashFields(crash: Crash): Record<string, unknown> {
  return {
    atStep: crash.atStep,
    site: crash.site,
    invariant: crash.invariant,
    name: crash.name,
    message: crash.message,
    stack: crash.stack,
  };
}

/** One check in `--json` output (the CLI contract; extra fields may be added, none removed). */
export function checkResultJson(check: DesignCheck, config?: string): Record<string, unknown> {
  const replay = replayCommand(check, config);
  return {
    design: check.design,
    stack: check.stack,
    expected: check.expected,
    verdict: check.verdict,
    met: check.met,
    outcome: check.outcome,
    reason: check.reason,
    runs: check.runs,
    lastRun: check.lastRun,
    seed: check.seed,
    shard: check.budget.shard,
    elapsedMs: Math.round(check.elapsedMs),
    interrupted: check.interrupted,
    cutShort: check.cutShort,
    firstFailure: check.firstFailure,
    brokenAt: check.brokenAt,
    missing: check.missing,
    undeclared: check.undeclared,
    unexecuted: check.unexecuted,
    unreached: check.unreached,
    guidance:
      check.guidance === null
        ? null
        : {
            pilotRuns: check.guidance.pilotRuns,
            targets: check.guidance.targets,
            seedLengths: check.guidance.seeds.map((seed) => seed.length),
          },
    violations: check.violations.map(counterexampleJson),
    crash: check.crash === null ? null : crashJson(check.crash),
    crashedAt: check.crashedAt === null ? null : { run: check.crashedAt.run, ...crashFields(check.crashedAt.crash) },
    crashedRuns: check.crashedRuns,
    replay: replay.command,
    replayNote: replay.note,
  };
}

/** The JSON shape of `dmaprop check --json` (the CLI contract; extra fields may be added, none removed). */
export function checkJson(checks: readonly DesignCheck[]): { results: Record<string, unknown>[] } {
  return { results: checks.map((check) => checkResultJson(check)) };
}

/** One counterexample in `--json` output (`check` and `explore` alike). */
export function counterexampleJson(counterexample: Counterexample): Record<string, unknown> {
  const actors = counterexample.executed.map((step) => step.actor ?? null);
  return {
    invariant: counterexample.invariant,
    class: counterexample.class,
    length: counterexample.length,
    steps: counterexample.steps,
    results: counterexample.executed.map((step) => step.result),
    ...(actors.some((actor) => actor !== null) ? { actors } : {}),
    message: counterexample.violation.message,
    actual: counterexample.violation.actual,
    expectedValue: counterexample.violation.expected,
    replay: counterexample.replay,
  };
}

/** What `check --shortest`'s search of the explore scope did, in words ("" when none ran). */
function shortestWords(counterexample: Counterexample): string {
  const search = counterexample.shortest;
  if (search === undefined) return '';
  const states = `${search.states.toLocaleString('en-US')} states`;
  switch (search.outcome) {
    case 'shorter':
      return `, explored to ${counterexample.length} (a shorter trace in the explore scope, ${states})`;
    case 'confirmed':
      return `, none shorter in the explore scope (${states})`;
    case 'limit':
      return `, explore scope searched for a shorter one up to ${states}: undecided`;
  }
}
