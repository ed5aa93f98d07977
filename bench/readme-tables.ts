/**
 * The README's benchmark tables, written from a bench result (`bench/results.json` by default):
 * throughput per stack, time to bug per flawed design, and every declared break over the seeds.
 * Prettier aligns the columns once pasted.
 *
 *   npm run build && node dist/bench/readme-tables.js [bench/results.json]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { formatNumber } from '../src/bench-report.js';
import type { BenchResult } from '../src/bench.js';
import type { Spread } from '../src/bench-measure.js';
import { formatMs } from '../src/report.js';

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)];
}

function pair(value: Spread | null, format: (value: number) => string): string {
  return value === null ? '–' : `${format(value.median)} / ${format(value.worst)}`;
}

const runs = (value: number): string => formatNumber(value, 1);

export function readmeTables(result: BenchResult): string {
  const seeds = result.settings.seeds.length;
  const lines = table(
    ['stack', 'design', 'generated cmd/s', 'raw steps/s', 'checked steps/s', 'overhead', 'checkDesign steps/s'],
    result.throughput.map((row) => [
      row.stack,
      `\`${row.design}\``,
      formatNumber(row.generation.commandsPerSec),
      formatNumber(row.raw.stepsPerSec),
      formatNumber(row.checked.stepsPerSec),
      `${row.overhead.toFixed(2)}×`,
      formatNumber(row.endToEnd.stepsPerSec),
    ]),
  );
  lines.push('');
  lines.push(
    ...table(
      [
        'flawed design',
        'found',
        'every declared break',
        'runs to first failure',
        'time to first failure',
        'shrink time per counterexample',
        'shrink steps',
        `\`checkDesign\` (${formatNumber(result.settings.runs)} runs)`,
      ],
      result.timeToBug.map((row) => [
        `\`${row.design}\``,
        `${row.found}/${seeds}`,
        `${row.declaredFound}/${seeds}`,
        pair(row.runsToFailure, runs),
        pair(row.msToFailure, formatMs),
        pair(row.shrinkMs, formatMs),
        pair(row.shrinkSteps, runs),
        pair(row.checkMs, formatMs),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    ...table(
      ['flawed design', 'declared break', 'seeds', 'first run (median / worst)'],
      result.timeToBug.flatMap((row) =>
        row.declaredByInvariant.map((broken) => [
          `\`${row.design}\``,
          `\`${broken.invariant}\``,
          `${broken.seeds}/${seeds}`,
          pair(broken.runs, runs),
        ]),
      ),
    ),
  );
  return lines.join('\n');
}

function main(): void {
  const path = process.argv[2] ?? 'bench/results.json';
  const result = JSON.parse(readFileSync(path, 'utf8')) as BenchResult;
  console.log(readmeTables(result));
}

// Run as a script, not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
