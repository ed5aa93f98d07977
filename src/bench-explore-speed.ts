/**
 * The explorer's speed on named scopes, for before/after comparisons (issue 23):
 *
 *     npm run build && node dist/src/bench-explore-speed.js anchor:30 xen/map:4 iommu/lazy:6
 *
 * Each argument is `design:depth`; `anchor` is the scaled XenGT universe of the Promela anchor
 * (`bench-anchor.ts`: 63,576 states, 890,064 transitions when exhausted). Prints per scope the
 * states and transitions (which must not change with a faster engine), wall and CPU time, states
 * per second of each, the verdict with each counterexample's length, and the load average (the
 * machine is shared: CPU time is the steadier figure).
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { findDesign } from '../properties/registry.js';
import { anchorDesign } from './bench-anchor.js';
import type { AnyDesign } from './design.js';
import { exploreDesign } from './explore.js';

export interface SpeedLine {
  readonly id: string;
  readonly depth: number;
  readonly states: number;
  readonly transitions: number;
  readonly ms: number;
  readonly cpuMs: number;
  readonly verdict: string;
  readonly lengths: Readonly<Record<string, number>>;
}

export function measureSpeed(id: string, depth: number): SpeedLine {
  const design: AnyDesign | undefined = id === 'anchor' ? anchorDesign() : findDesign(id);
  if (design === undefined) throw new Error(`no design ${id}`);
  const cpu = process.cpuUsage();
  const result = exploreDesign(design, { depth, maxStates: 10_000_000 });
  const used = process.cpuUsage(cpu);
  return {
    id,
    depth,
    states: result.states,
    transitions: result.transitions,
    ms: Math.round(result.elapsedMs),
    cpuMs: Math.round((used.user + used.system) / 1000),
    verdict: result.verdict,
    lengths: Object.fromEntries(result.violations.map((found) => [found.invariant, found.length])),
  };
}

export function formatSpeed(line: SpeedLine): string {
  const perSecond = (count: number, ms: number): number => Math.round((count * 1000) / Math.max(ms, 1));
  const lengths = Object.entries(line.lengths)
    .map(([name, length]) => `${name}:${length}`)
    .join(' ');
  return (
    `${line.id} depth ${line.depth}: ${line.states} states, ${line.transitions} transitions, ` +
    `${line.ms} ms (${perSecond(line.states, line.ms)} states/s), cpu ${line.cpuMs} ms ` +
    `(${perSecond(line.states, line.cpuMs)} states/cpu-s), ${line.verdict}${lengths === '' ? '' : ` ${lengths}`} ` +
    `(load ${(loadavg()[0] ?? 0).toFixed(2)})`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const spec of process.argv.slice(2)) {
    const [id = '', depth = ''] = spec.split(':');
    console.log(formatSpeed(measureSpeed(id, Number(depth))));
  }
}
