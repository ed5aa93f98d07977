/**
 * Two builds of dmaprop explore the same scopes in one process, alternating, so that both meet the
 * same load on a shared machine (separate runs minutes apart differed by ±30% here):
 *
 *   cp -r dist /tmp/before-dist   # the build to compare against, before the change
 *   npm run build && node dist/bench/ab-explore.js /tmp/before-dist dist anchor:30 iommu/lazy:5 [--rounds 2] [--workers N]
 *
 * A build directory is a `dist` (it must sit where it can resolve fast-check: a node_modules and a
 * package.json of `"type": "module"` beside it, or the repository's). Each argument is
 * `design:depth`, `anchor` the Promela anchor's universe (`src/bench-anchor.ts`), `anchor-large` its five-frame one. Each round runs
 * the before build then the after build (every other round the other way round); prints per scope
 * the states and transitions of each (which must be equal), the CPU seconds per run of each (every
 * thread's), and the gain; with `--workers N` (a parallel search on N worker threads) the wall
 * seconds too.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as BenchAnchor from '../src/bench-anchor.js';
import type * as Explore from '../src/explore.js';
import type * as Registry from '../properties/registry.js';

interface Side {
  readonly explore: (depth: number) => { states: number; transitions: number; cpuMs: number; wallMs: number };
}

async function loadSide(dist: string, id: string, workers: number): Promise<Side> {
  const base = pathToFileURL(`${resolve(dist)}/`).href;
  // The workers load the design as the coordinator does: the anchor from its module's export.
  const anchors = { anchor: 'anchorDesign', 'anchor-large': 'largeAnchorDesign' } as const;
  const anchor = id === 'anchor' || id === 'anchor-large' ? anchors[id] : null;
  const designSource = anchor === null ? { config: null } : { module: `${base}src/bench-anchor.js`, export: anchor };
  const engine = (await import(`${base}src/explore.js`)) as typeof Explore;
  const design =
    anchor === null
      ? ((await import(`${base}properties/registry.js`)) as typeof Registry).findDesign(id)
      : ((await import(`${base}src/bench-anchor.js`)) as typeof BenchAnchor)[anchor]();
  if (design === undefined) throw new Error(`${dist}: no design ${id}`);
  return {
    explore(depth) {
      const started = process.cpuUsage();
      const wall = performance.now();
      const result = engine.exploreDesign(design, { depth, maxStates: 10_000_000, workers, designSource });
      const wallMs = performance.now() - wall;
      const used = process.cpuUsage(started);
      return {
        states: result.states,
        transitions: result.transitions,
        cpuMs: (used.user + used.system) / 1000,
        wallMs,
      };
    },
  };
}

async function main(args: readonly string[]): Promise<number> {
  const option = (name: string, fallback: number): { value: number; rest: readonly string[] } => {
    const at = rest.indexOf(name);
    if (at < 0) return { value: fallback, rest };
    return { value: Number(rest[at + 1]), rest: [...rest.slice(0, at), ...rest.slice(at + 2)] };
  };
  let rest: readonly string[] = args;
  const rounds = option('--rounds', 2);
  rest = rounds.rest;
  const workers = option('--workers', 1);
  rest = workers.rest;
  const [before, after, ...scopes] = rest;
  const counts = [rounds.value, workers.value];
  const wellFormed = counts.every((count) => Number.isInteger(count) && count >= 1);
  if (before === undefined || after === undefined || scopes.length === 0 || !wellFormed) {
    process.stderr.write('usage: ab-explore BEFORE_DIST AFTER_DIST design:depth ... [--rounds N] [--workers N]\n');
    return 2;
  }
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  for (const scope of scopes) {
    const [id = '', depthText = ''] = scope.split(':');
    const depth = Number(depthText);
    const sides = [await loadSide(before, id, workers.value), await loadSide(after, id, workers.value)];
    const cpu = [0, 0];
    const wall = [0, 0];
    const shape = ['', ''];
    for (let round = 0; round < rounds.value; round++) {
      for (const which of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const run = sides[which]?.explore(depth);
        if (run === undefined) continue;
        cpu[which] = (cpu[which] ?? 0) + run.cpuMs;
        wall[which] = (wall[which] ?? 0) + run.wallMs;
        shape[which] = `${run.states} states, ${run.transitions} transitions`;
      }
    }
    const [beforeMs = 0, afterMs = 0] = cpu.map((ms) => ms / rounds.value);
    const [beforeWall = 0, afterWall = 0] = wall.map((ms) => ms / rounds.value);
    const same = shape[0] === shape[1] ? '' : ` — DIFFERENT GRAPHS: before ${shape[0]}`;
    const walls =
      workers.value > 1
        ? `; wall per run (${workers.value} workers) before ${seconds(beforeWall)}, after ${seconds(afterWall)}, ×${(beforeWall / afterWall).toFixed(2)}`
        : '';
    process.stdout.write(
      `${scope}: ${shape[1]}; CPU per run before ${seconds(beforeMs)}, after ${seconds(afterMs)}, ×${(beforeMs / afterMs).toFixed(2)}${walls}${same}\n`,
    );
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
