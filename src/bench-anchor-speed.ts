/**
 * The explorer against Spin on the same graph (issue 23): the scaled XenGT universe of the
 * Promela anchor (`bench-anchor.ts`, 63,576 states and 890,064 transitions in both tools),
 * explored whole on its flat encoding (`properties/xengt/flat`), and — not in a quick run, it takes
 * some 20 s — on the model's objects, with Spin's own run of the Promela model where Spin is
 * installed (`bench-spin.ts`). States per CPU-second is the figure compared (the machine may be
 * shared), and the counts must be equal across all three.
 */
import type { BenchSettings } from './bench-settings.js';
import { measureSpeed } from './bench-explore-speed.js';
import { perSecond } from './bench-measure.js';
import { measureSpin } from './bench-spin.js';
import type { SpinRun } from './bench-spin.js';

/** Deeper than the graph's diameter (22 commands): the search exhausts it. */
const ANCHOR_DEPTH = 30;

export interface AnchorEngineRun {
  readonly engine: 'flat' | 'objects';
  readonly states: number;
  readonly transitions: number;
  readonly verdict: string;
  readonly ms: number;
  readonly cpuMs: number;
  readonly statesPerCpuSec: number;
}

export interface AnchorSpeed {
  readonly flat: AnchorEngineRun;
  /** Null in a quick run. */
  readonly objects: AnchorEngineRun | null;
  /** Spin's run, or why there is none. */
  readonly spin: SpinRun | { readonly skipped: string };
}

/** The anchor explored whole, as `bench-explore-speed` measures a scope (its CPU time is the process's). */
function exploreAnchor(flat: boolean): AnchorEngineRun {
  const line = measureSpeed('anchor', ANCHOR_DEPTH, 1, flat);
  return {
    engine: line.engine,
    states: line.states,
    transitions: line.transitions,
    verdict: line.verdict,
    ms: line.ms,
    cpuMs: line.cpuMs,
    statesPerCpuSec: Math.round(perSecond(line.states, line.cpuMs)),
  };
}

export function measureAnchorSpeed(settings: BenchSettings): AnchorSpeed {
  const spin = measureSpin();
  return {
    flat: exploreAnchor(true),
    objects: settings.mode === 'quick' ? null : exploreAnchor(false),
    spin: 'run' in spin ? spin.run : spin,
  };
}

/** The report's lines: one per engine and Spin, with each one's share of Spin's states per CPU-second. */
export function anchorRows(anchor: AnchorSpeed): (string | number)[][] {
  const spin = 'skipped' in anchor.spin ? null : anchor.spin;
  const share = (perCpuSec: number): string =>
    spin === null ? '–' : `${((perCpuSec * 100) / Math.max(spin.statesPerCpuSec, 1)).toFixed(1)}%`;
  const rows: (string | number)[][] = [];
  for (const run of [anchor.flat, anchor.objects]) {
    if (run === null) continue;
    rows.push([
      `explorer (${run.engine === 'flat' ? 'flat encoding' : 'objects'})`,
      run.states,
      run.transitions,
      `${run.cpuMs} ms`,
      run.statesPerCpuSec,
      share(run.statesPerCpuSec),
    ]);
  }
  if (spin === null) rows.push(['Spin', '–', '–', '–', '–', (anchor.spin as { skipped: string }).skipped]);
  else
    rows.push([
      'Spin 6 (pan -E, BFS)',
      spin.states,
      spin.transitions,
      `${spin.cpuMs} ms`,
      spin.statesPerCpuSec,
      '100%',
    ]);
  return rows;
}
