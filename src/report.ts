/**
 * Rendering check results for people (text) and tools (JSON). The data is built first
 * (`DesignCheck`), then rendered here; nothing here decides a verdict.
 */
import type { OpResult } from '../models/result.js';
import type { Counterexample, DesignCheck } from './check.js';
import type { AnyDesign } from './design.js';

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
    lines.push(`    ${number}. ${(commands[index] ?? '').padEnd(width)}  → ${formatResult(step.result)}`);
  });
  const { violation } = counterexample;
  lines.push(`    violated after step ${counterexample.length}: ${violation.message}`);
  lines.push(`      actual:   ${violation.actual}`);
  lines.push(`      expected: ${violation.expected}`);
  lines.push(
    `    found at ${counterexample.foundLength} steps, shrunk by fast-check to ${counterexample.shrunkLength} (${counterexample.shrinks} shrinks), minimized to ${counterexample.length}`,
  );
  lines.push(`    steps: ${JSON.stringify(counterexample.steps)}`);
  return lines;
}

export function formatDesignCheck(check: DesignCheck, design?: AnyDesign): string {
  const mark = check.met ? '✓' : '✗ UNEXPECTED';
  const lines = [
    `${check.design} [${check.stack}] expected ${check.expected}, ${check.verdict} ${mark} — ${check.runs} runs, seed ${check.seed}, ${formatMs(check.elapsedMs)}${check.interrupted ? ' (time limit reached)' : ''}`,
  ];
  if (check.firstFailure !== null) {
    lines.push(
      `  first failure at run ${check.firstFailure.run} after ${formatMs(check.firstFailure.elapsedMs)} (${check.firstFailure.invariant})`,
    );
  }
  for (const counterexample of check.violations) lines.push(...formatCounterexample(counterexample, design));
  if (check.verdict === 'violated') {
    lines.push(`  replay: dmaprop check --design ${check.design} --seed ${check.seed} --runs ${check.runs}`);
  }
  return lines.join('\n');
}

export function formatSummary(checks: readonly DesignCheck[]): string {
  const unmet = checks.filter((check) => !check.met);
  const head = `${checks.length} design${checks.length === 1 ? '' : 's'} checked: ${checks.length - unmet.length} as expected, ${unmet.length} not`;
  return unmet.length === 0 ? head : `${head} (${unmet.map((check) => check.design).join(', ')})`;
}

/** The JSON shape of `dmaprop check --json` (the CLI contract; extra fields may be added, none removed). */
export function checkJson(checks: readonly DesignCheck[]): unknown {
  return {
    results: checks.map((check) => ({
      design: check.design,
      stack: check.stack,
      expected: check.expected,
      verdict: check.verdict,
      met: check.met,
      runs: check.runs,
      seed: check.seed,
      elapsedMs: Math.round(check.elapsedMs),
      interrupted: check.interrupted,
      firstFailure: check.firstFailure,
      brokenAt: check.brokenAt,
      violations: check.violations.map(counterexampleJson),
    })),
  };
}

/** One counterexample in `--json` output (`check` and `explore` alike). */
export function counterexampleJson(counterexample: Counterexample): Record<string, unknown> {
  return {
    invariant: counterexample.invariant,
    class: counterexample.class,
    length: counterexample.length,
    steps: counterexample.steps,
    results: counterexample.executed.map((step) => step.result),
    message: counterexample.violation.message,
    actual: counterexample.violation.actual,
    expectedValue: counterexample.violation.expected,
    replay: counterexample.replay,
  };
}
