/** Rendering a bench result for people: one table per measurement. The JSON is the result itself. */
import { anchorRows } from './bench-anchor-speed.js';
import type { BenchResult } from './bench.js';
import type { Spread } from './bench-measure.js';
import { formatMs } from './report.js';

type Cell = string | number;

/** Thousands separated with commas, at most `digits` decimals. */
export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Columns padded to their widest cell; numbers (and cells that start with one) align right. */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string[] {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = header.map((title, column) =>
    Math.max(title.length, ...text.map((row) => (row[column] ?? '').length)),
  );
  const right = header.map((_, column) =>
    rows.every((row) => {
      const cell = row[column];
      return typeof cell === 'number' || (typeof cell === 'string' && /^[\d–<>]/.test(cell));
    }),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return right[column] === true ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...text.map(line)];
}

function pair(value: Spread | null, format: (value: number) => string): string {
  return value === null ? '–' : `${format(value.median)} / ${format(value.worst)}`;
}

function ms(value: number): string {
  return formatMs(value);
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatBench(result: BenchResult): string {
  const { settings, machine } = result;
  const lines: string[] = [];
  lines.push(
    `dmaprop bench (${settings.mode}) — ${result.date}, dmaprop ${result.toolVersion}${result.commit === null ? '' : `, commit ${result.commit}`}`,
  );
  lines.push(
    `machine: ${machine.cpuModel} × ${machine.cpus}, ${gib(machine.totalMemoryBytes)}, node ${machine.node}, ${machine.os}, load ${machine.loadAverage.join(' ')} at start`,
  );

  lines.push(
    '',
    `Throughput — the same ${formatNumber(settings.sequences)} pre-generated sequences per stack (seed ${settings.generationSeed}), median of ${settings.repetitions}; overhead = raw ÷ checked`,
  );
  lines.push(
    ...formatTable(
      [
        'stack',
        'design',
        'commands',
        'generated cmd/s',
        'raw steps/s',
        'checked steps/s',
        'overhead',
        'checkDesign steps/s',
      ],
      result.throughput.map((row) => [
        row.stack,
        row.design,
        row.commands,
        row.generation.commandsPerSec,
        row.raw.stepsPerSec,
        row.checked.stepsPerSec,
        `${row.overhead.toFixed(2)}×`,
        row.endToEnd.stepsPerSec,
      ]),
    ),
  );
  if (result.throughput.length > 0) {
    lines.push('', 'Costliest invariants (ns per check, each timed alone on the recorded transitions)');
    for (const row of result.throughput) {
      const top = row.invariants
        .slice(0, 4)
        .map((cost) => `${cost.invariant} ${formatNumber(cost.nsPerCheck)}`)
        .join(', ');
      const total = row.invariants.reduce((sum, cost) => sum + cost.nsPerCheck, 0);
      lines.push(`  ${row.design}: all ${row.invariants.length} together ${formatNumber(total)} ns; ${top}`);
    }
  }

  lines.push(
    '',
    `Time to bug — ${settings.seeds.length} fresh seeds, ${formatNumber(settings.runs)} runs each (median / worst); shrink = fast-check shrinking + minimize, per counterexample`,
  );
  lines.push(`  seeds: ${settings.seeds.join(' ')}`);
  lines.push(
    ...formatTable(
      [
        'design',
        'found',
        'declared found',
        'runs to failure',
        'time to failure',
        'shrink time',
        'shrink steps',
        'check (whole)',
      ],
      result.timeToBug.map((row) => [
        row.design,
        `${row.found}/${row.seeds.length}${row.foundOnAll ? '' : ' ✗'}`,
        `${row.declaredFound}/${row.seeds.length}${row.declaredFound === row.seeds.length ? '' : ' ✗'}`,
        pair(row.runsToFailure, (value) => formatNumber(value, 1)),
        pair(row.msToFailure, ms),
        pair(row.shrinkMs, ms),
        pair(row.shrinkSteps, (value) => formatNumber(value, 1)),
        pair(row.checkMs, ms),
      ]),
    ),
  );
  lines.push('  first run breaking each invariant (median / worst, on how many seeds):');
  for (const row of result.timeToBug) {
    const parts = row.byInvariant.map(
      (broken) =>
        `${broken.invariant} ${pair(broken.runs, (value) => formatNumber(value, 1))}${broken.seeds === row.seeds.length ? '' : ` (${broken.seeds}/${row.seeds.length})`}`,
    );
    lines.push(`    ${row.design}: ${parts.join(', ')}`);
  }
  lines.push(
    '  every declared break (seeds that broke it; first run, median / worst): a check meets its expectation only with all',
  );
  for (const row of result.timeToBug) {
    const parts = row.declaredByInvariant.map(
      (broken) =>
        `${broken.invariant} ${broken.seeds}/${row.seeds.length}${broken.seeds === row.seeds.length ? '' : ' ✗'} (${pair(broken.runs, (value) => formatNumber(value, 1))})`,
    );
    lines.push(`    ${row.design} ${row.declaredFound}/${row.seeds.length}: ${parts.join(', ')}`);
  }
  const drift = result.timeToBug.filter((row) => !row.consistent).map((row) => row.design);
  if (drift.length > 0) {
    lines.push(`  ✗ the phase-by-phase re-run differs from checkDesign's counterexample for ${drift.join(', ')}`);
  }

  lines.push(
    '',
    `Shrink quality — shrunk length vs the shortest counterexample explore finds (depth ${settings.shrinkDepth}, ≤ ${formatNumber(settings.shrinkMaxStates)} states)`,
  );
  lines.push(
    ...formatTable(
      ['design', 'invariant', 'shortest', 'shrunk min/median/max', 'optimal'],
      result.shrinkQuality.flatMap((quality) =>
        quality.invariants.map((row) => [
          quality.design,
          row.invariant,
          row.shortest === null ? `> ${quality.depthReached}` : row.shortest,
          row.shrunk === null ? '–' : `${row.shrunk.min} / ${formatNumber(row.shrunk.median, 1)} / ${row.shrunk.max}`,
          row.shrunk === null ? '–' : `${row.optimal}/${row.shrunk.seeds}`,
        ]),
      ),
    ),
  );

  lines.push(
    '',
    `Exploration — breadth-first to depth ${settings.exploreDepth}, at most ${formatNumber(settings.exploreMaxStates)} states`,
  );
  lines.push(
    ...formatTable(
      [
        'stack',
        'design',
        'depth reached',
        'states',
        'transitions',
        'time',
        'states/s',
        'transitions/s',
        'states/CPU-s',
        'on 2 workers',
        'with partial-order reduction',
      ],
      result.exploration.map((row) => [
        row.stack,
        row.design,
        `${row.depthReached}${row.limitReached ? ' (state cap)' : ''}`,
        row.states,
        row.transitions,
        ms(row.ms),
        row.statesPerSec,
        row.transitionsPerSec,
        row.statesPerCpuSec ?? '–',
        row.withWorkers === undefined
          ? '–'
          : `${ms(row.withWorkers.ms)}, CPU ${ms(row.withWorkers.cpuMs)}${row.withWorkers.states === row.states && row.withWorkers.transitions === row.transitions ? '' : ' ✗ different counts'}`,
        row.withReduction === null
          ? '– (no footprints)'
          : `${formatNumber(row.withReduction.states)} states, ${formatNumber(row.withReduction.transitions)} transitions (${formatNumber(row.withReduction.slept)} skipped), ${ms(row.withReduction.ms)}`,
      ]),
    ),
  );

  if (result.anchor !== undefined) {
    lines.push(
      '',
      "Anchor — the Promela model's graph (bench/anchor: XenGT, 4 frames, 2 gfns, 2 GTT entries), explored whole",
    );
    lines.push(
      ...formatTable(
        ['engine', 'states', 'transitions', 'CPU', 'states/CPU-s', "of Spin's"],
        anchorRows(result.anchor),
      ),
    );
  }

  lines.push('', 'Suite');
  if (result.suite === null) lines.push('  skipped (--quick or --no-suite)');
  else {
    for (const run of [result.suite.test, result.suite.check]) {
      const status = run.exitCode === 0 ? 'ok' : `✗ exit ${String(run.exitCode)}`;
      lines.push(
        `  ${run.command.padEnd(14)} ${ms(run.ms).padStart(7)}  ${status}${run.summary === null ? '' : `  (${run.summary})`}`,
      );
      if (run.tail !== null) lines.push(...run.tail.split('\n').map((line) => `      ${line}`));
    }
  }
  for (const note of result.skipped) lines.push(`  note: ${note}`);
  lines.push('', `bench took ${ms(result.totalMs)}; load ${result.loadAverageAtEnd.join(' ')} at the end`);
  return lines.join('\n');
}
