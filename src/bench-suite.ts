/** Suite time: `npm test` and `npm run check`, spawned and timed, each summarised in a line. */
import { spawnSync } from 'node:child_process';

export interface SuiteRun {
  readonly command: string;
  readonly ms: number;
  readonly exitCode: number | null;
  /** What it reported: vitest's test count, the check's seed. */
  readonly summary: string | null;
  /** The end of its output when it failed. */
  readonly tail: string | null;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/** Spawns an npm script and times it; its output is kept only to summarise it. */
export function measureSuiteRun(
  args: readonly string[],
  cwd: string,
  summarize: (output: string) => string | null,
): SuiteRun {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const started = performance.now();
  const child = spawnSync(npm, [...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  const ms = performance.now() - started;
  const output = `${child.stdout ?? ''}\n${child.stderr ?? ''}`;
  return {
    command: `npm ${args.join(' ')}`,
    ms: Math.round(ms),
    exitCode: child.status,
    summary: summarize(output),
    tail: child.status === 0 ? null : lastLines(output, 15) || String(child.error ?? ''),
  };
}

export function vitestSummary(output: string): string | null {
  const files = /Test Files\s+([^\n]*)/.exec(output)?.[1]?.trim();
  const tests = /\n\s*Tests\s+([^\n]*)/.exec(output)?.[1]?.trim();
  if (files === undefined && tests === undefined) return null;
  return [files === undefined ? null : `files: ${files}`, tests === undefined ? null : `tests: ${tests}`]
    .filter((part) => part !== null)
    .join('; ');
}

export function checkSummary(output: string): string | null {
  const seed = /dmaprop check: seed (\d+)/.exec(output)?.[1];
  const summary = output
    .split('\n')
    .find((line) => /designs? checked/.test(line))
    ?.trim();
  const parts = [seed === undefined ? null : `seed ${seed}`, summary ?? null].filter((part) => part !== null);
  return parts.length === 0 ? null : parts.join('; ');
}
