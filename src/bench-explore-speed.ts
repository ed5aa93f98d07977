/**
 * The explorer's speed on named scopes, for before/after comparisons (issue 23):
 *
 *     npm run build && node dist/src/bench-explore-speed.js anchor:30 xen/map:4 iommu/lazy:6
 *     node dist/src/bench-explore-speed.js --workers 2 anchor:30 xen/map:4
 *     node dist/src/bench-explore-speed.js --no-flat anchor:30
 *
 * Each argument is `design:depth`; `anchor` is the scaled XenGT universe of the Promela anchor
 * (`bench-anchor.ts`: 63,576 states, 890,064 transitions when exhausted), `anchor-large` the
 * same model with five frames (733,920 states, 10,274,880 transitions). Prints per scope the
 * states and transitions (which must not change with a faster engine), wall and CPU time, states
 * per second of each, the verdict with each counterexample's length, and the load average (the
 * machine is shared: CPU time is the steadier figure). With `--workers N` the search runs on N
 * worker threads (`explore-parallel.ts`); CPU time is then the process's, every thread's. A scope
 * with a flat encoding (`ExploreScope.flat`) is searched on it, and the line says `flat`; with
 * `--no-flat` on its objects, for the comparison.
 *
 * `design@seconds` (e.g. `xen/map@43`) asks how deep the scope gets in that wall time instead:
 * the search runs with `timeLimitMs` and no depth bound, and the line gives the depth every
 * sequence was explored to (`depthReached`) and the states and transitions up to the cut.
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { findDesign } from '../properties/registry.js';
import { anchorDesign, largeAnchorDesign } from './bench-anchor.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';

export interface SpeedLine {
  readonly id: string;
  readonly depth: number;
  readonly workers: number;
  readonly states: number;
  readonly transitions: number;
  readonly ms: number;
  readonly cpuMs: number;
  readonly verdict: string;
  readonly lengths: Readonly<Record<string, number>>;
  /** What the search ran on (`ExploreResult.engine`). */
  readonly engine: 'objects' | 'flat';
  /** Every sequence of this many commands explored (`ExploreResult.depthReached`). */
  readonly depthReached: number;
  /** Every reachable state of the scope was visited (`ExploreResult.exhausted`). */
  readonly exhausted: boolean;
  /** The wall-clock limit of a `design@seconds` run, in ms; null for `design:depth`. */
  readonly timeLimitMs: number | null;
}

/** The anchor universes by name: the scaled one and the large one (`bench-anchor.ts`). */
const ANCHORS: Readonly<Record<string, { design: () => AnyDesign; export: string }>> = {
  anchor: { design: () => anchorDesign(), export: 'anchorDesign' },
  'anchor-large': { design: largeAnchorDesign, export: 'largeAnchorDesign' },
};

export function measureSpeed(
  id: string,
  depth: number,
  workers = 1,
  flat = true,
  timeLimitMs: number | null = null,
): SpeedLine {
  const anchor = ANCHORS[id];
  const design: AnyDesign | undefined = anchor === undefined ? findDesign(id) : anchor.design();
  if (design === undefined) throw new Error(`no design ${id}`);
  // The workers build the anchor from this module's sibling, the others come from the registry.
  const designSource =
    anchor === undefined
      ? undefined
      : { module: new URL('./bench-anchor.js', import.meta.url).href, export: anchor.export };
  const cpu = process.cpuUsage();
  const result = exploreDesign(design, {
    depth,
    maxStates: 10_000_000,
    flat,
    ...(timeLimitMs === null ? {} : { timeLimitMs }),
    ...(workers > 1 ? { workers, ...(designSource === undefined ? {} : { designSource }) } : {}),
  });
  const used = process.cpuUsage(cpu);
  return {
    id,
    depth,
    workers,
    states: result.states,
    transitions: result.transitions,
    ms: Math.round(result.elapsedMs),
    cpuMs: Math.round((used.user + used.system) / 1000),
    verdict: result.verdict,
    lengths: Object.fromEntries(result.violations.map((found) => [found.invariant, found.length])),
    engine: result.engine ?? 'objects',
    depthReached: result.depthReached,
    exhausted: result.exhausted,
    timeLimitMs,
  };
}

export function formatSpeed(line: SpeedLine): string {
  const perSecond = (count: number, ms: number): number => Math.round((count * 1000) / Math.max(ms, 1));
  const lengths = Object.entries(line.lengths)
    .map(([name, length]) => `${name}:${length}`)
    .join(' ');
  const cut = line.verdict === 'inconclusive' ? ` (cut in level ${line.depthReached + 1})` : '';
  const bound =
    line.timeLimitMs === null
      ? `depth ${line.depth}`
      : `within ${line.timeLimitMs / 1000} s: ${line.exhausted ? 'the whole scope' : `depth ${line.depthReached} in full${cut}`}`;
  return (
    `${line.id} ${bound}${line.workers > 1 ? ` (${line.workers} workers)` : ''}${line.engine === 'flat' ? ' (flat)' : ''}: ${line.states} states, ${line.transitions} transitions, ` +
    `${line.ms} ms (${perSecond(line.states, line.ms)} states/s), cpu ${line.cpuMs} ms ` +
    `(${perSecond(line.states, line.cpuMs)} states/cpu-s), ${line.verdict}${lengths === '' ? '' : ` ${lengths}`} ` +
    `(load ${(loadavg()[0] ?? 0).toFixed(2)})`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--workers');
  const workers = at < 0 ? 1 : Number(args[at + 1]);
  if (at >= 0) args.splice(at, 2);
  const objects = args.indexOf('--no-flat');
  if (objects >= 0) args.splice(objects, 1);
  for (const spec of args) {
    const timed = spec.split('@');
    if (timed.length === 2) {
      const [id = '', seconds = ''] = timed;
      console.log(formatSpeed(measureSpeed(id, 64, workers, objects < 0, Number(seconds) * 1000)));
      continue;
    }
    const [id = '', depth = ''] = spec.split(':');
    console.log(formatSpeed(measureSpeed(id, Number(depth), workers, objects < 0)));
  }
  process.exit(0);
}
