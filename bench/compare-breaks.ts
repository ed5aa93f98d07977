/**
 * Before and after: two outputs of `declared-breaks.js` over the same seeds (say, `--biased`
 * against the default generation), compared design by design. For each flawed design and mutant
 * in both, and each of its declared breaks: on how many seeds it was found, and the runs to first
 * failure (median, p90, worst), before → after; then the totals, with geometric means over the
 * declared breaks found on every seed in both.
 *
 *   node dist/bench/compare-breaks.js BEFORE.txt AFTER.txt [--markdown]
 *
 * Exits 2 on a bad argument or a file that is not such an output, 1 when the after side misses a
 * declared break on some seed, 0 otherwise.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** One declared break of one design, as `declared-breaks.js` prints it. */
export interface BreakFigures {
  readonly seeds: number;
  readonly median: number | null;
  readonly p90: number | null;
  readonly worst: number | null;
}

export interface DesignFigures {
  readonly found: number;
  readonly of: number;
  readonly breaks: ReadonlyMap<string, BreakFigures>;
}

export interface BreaksOutput {
  readonly seeds: readonly number[];
  readonly designs: ReadonlyMap<string, DesignFigures>;
}

/** Parses one output; throws an Error naming the file and the line that does not fit. */
export function parseBreaks(text: string, file: string): BreaksOutput {
  let seeds: number[] | null = null;
  const designs = new Map<string, { found: number; of: number; breaks: Map<string, BreakFigures> }>();
  let current: { breaks: Map<string, BreakFigures> } | null = null;
  text.split('\n').forEach((line, index) => {
    const seedLine = /^seeds \(\d+\): ([\d ]+)$/.exec(line);
    if (seedLine !== null) {
      seeds = (seedLine[1] ?? '').trim().split(' ').map(Number);
      return;
    }
    const design = /^(\S+): every declared break on (\d+)\/(\d+) seeds/.exec(line);
    if (design !== null) {
      current = { breaks: new Map() };
      designs.set(design[1] ?? '', { found: Number(design[2]), of: Number(design[3]), breaks: current.breaks });
      return;
    }
    const figures = /^ {2}(\S+): (\d+)\/\d+; (?:first run median (\d+), p90 (\d+), worst (\d+)|never)/.exec(line);
    if (figures !== null) {
      if (current === null) throw new Error(`${file}:${index + 1}: a declared break before any design`);
      const number = (value: string | undefined): number | null => (value === undefined ? null : Number(value));
      current.breaks.set(figures[1] ?? '', {
        seeds: Number(figures[2]),
        median: number(figures[3]),
        p90: number(figures[4]),
        worst: number(figures[5]),
      });
    }
  });
  if (seeds === null) throw new Error(`${file}: no "seeds (N): …" line: not an output of declared-breaks.js`);
  return { seeds, designs };
}

function arrow(before: number | null, after: number | null): string {
  return `${before ?? 'never'} → ${after ?? 'never'}`;
}

/** The comparison as lines of text (or a markdown table), and whether the after side found everything. */
export function compareBreaks(
  before: BreaksOutput,
  after: BreaksOutput,
  markdown = false,
): { lines: string[]; complete: boolean } {
  const lines: string[] = [];
  if (before.seeds.join(' ') !== after.seeds.join(' '))
    lines.push('warning: the two outputs were run over different seeds; the comparison is not paired');
  if (markdown) {
    lines.push('| design | declared break | seeds | median | p90 | worst |');
    lines.push('| --- | --- | --- | --- | --- | --- |');
  }
  const logs = { before: [0, 0, 0], after: [0, 0, 0] };
  const add = (sums: number[], values: readonly (number | null)[]): void =>
    values.forEach((value, at) => (sums[at] = (sums[at] ?? 0) + Math.log(value ?? 1)));
  let compared = 0;
  let everyBefore = 0;
  let everyAfter = 0;
  let designs = 0;
  let complete = true;
  for (const [id, was] of before.designs) {
    const now = after.designs.get(id);
    if (now === undefined) continue;
    designs += 1;
    everyBefore += was.found === was.of ? 1 : 0;
    everyAfter += now.found === now.of ? 1 : 0;
    if (now.found !== now.of) complete = false;
    if (!markdown) lines.push(`${id}: every declared break on ${was.found}/${was.of} → ${now.found}/${now.of} seeds`);
    for (const [name, old] of was.breaks) {
      const fresh = now.breaks.get(name);
      if (fresh === undefined) continue;
      const cells = [
        `${old.seeds} → ${fresh.seeds}`,
        arrow(old.median, fresh.median),
        arrow(old.p90, fresh.p90),
        arrow(old.worst, fresh.worst),
      ];
      if (markdown) lines.push(`| \`${id}\` | ${name} | ${cells.join(' | ')} |`);
      else lines.push(`  ${name}: seeds ${cells[0]}; median ${cells[1]}, p90 ${cells[2]}, worst ${cells[3]}`);
      const values = [old.median, old.p90, old.worst, fresh.median, fresh.p90, fresh.worst];
      if (values.some((value) => value === null)) continue;
      compared += 1;
      add(logs.before, [old.median, old.p90, old.worst]);
      add(logs.after, [fresh.median, fresh.p90, fresh.worst]);
    }
  }
  const mean = (sum: number): string => (compared === 0 ? '-' : Math.exp(sum / compared).toFixed(1));
  const [median, p90, worst] = [0, 1, 2].map(
    (at) => `${mean(logs.before[at] ?? 0)} → ${mean(logs.after[at] ?? 0)}`,
  ) as [string, string, string];
  lines.push('');
  lines.push(
    `designs and mutants in both: ${designs}; every declared break on every seed: ${everyBefore} → ${everyAfter}`,
  );
  lines.push(
    `geometric mean of the runs to first failure over ${compared} declared breaks: median ${median}, p90 ${p90}, worst ${worst}`,
  );
  return { lines, complete };
}

function main(): void {
  const args = process.argv.slice(2);
  const markdown = args.includes('--markdown');
  const files = args.filter((arg) => arg !== '--markdown');
  if (files.length !== 2 || files.some((file) => file.startsWith('--'))) {
    console.error('usage: node dist/bench/compare-breaks.js BEFORE.txt AFTER.txt [--markdown]');
    process.exitCode = 2;
    return;
  }
  try {
    const [before, after] = files.map((file) => parseBreaks(readFileSync(file, 'utf8'), file)) as [
      BreaksOutput,
      BreaksOutput,
    ];
    const { lines, complete } = compareBreaks(before, after, markdown);
    console.log(lines.join('\n'));
    process.exitCode = complete ? 0 : 1;
  } catch (error) {
    console.error(`compare-breaks: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  }
}

// Run as a script, not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
