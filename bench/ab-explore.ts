/**
 * Two builds of dmaprop explore the same scopes in one process, alternating, so that both meet the
 * same load on a shared machine (separate runs minutes apart differed by ±30% here):
 *
 *   cp -r dist /tmp/before-dist   # the build to compare against, before the change
 *   npm run build && node dist/bench/ab-explore.js /tmp/before-dist dist anchor:30 iommu/lazy:5 [--rounds 2]
 *
 * A build directory is a `dist` (it must sit where it can resolve fast-check: a node_modules and a
 * package.json of `"type": "module"` beside it, or the repository's). Each argument is
 * `design:depth`, `anchor` the Promela anchor's universe (`src/bench-anchor.ts`). Each round runs
 * the before build then the after build (every other round the other way round); prints per scope
 * the states and transitions of each (which must be equal), the CPU seconds per run of each, and
 * the gain.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as BenchAnchor from '../src/bench-anchor.js';
import type * as Explore from '../src/explore.js';
import type * as Registry from '../properties/registry.js';

interface Side {
  readonly explore: (depth: number) => { states: number; transitions: number; cpuMs: number };
}

async function loadSide(dist: string, id: string): Promise<Side> {
  const base = pathToFileURL(`${resolve(dist)}/`).href;
  const engine = (await import(`${base}src/explore.js`)) as typeof Explore;
  const design =
    id === 'anchor'
      ? ((await import(`${base}src/bench-anchor.js`)) as typeof BenchAnchor).anchorDesign()
      : ((await import(`${base}properties/registry.js`)) as typeof Registry).findDesign(id);
  if (design === undefined) throw new Error(`${dist}: no design ${id}`);
  return {
    explore(depth) {
      const started = process.cpuUsage();
      const result = engine.exploreDesign(design, { depth, maxStates: 10_000_000 });
      const used = process.cpuUsage(started);
      return { states: result.states, transitions: result.transitions, cpuMs: (used.user + used.system) / 1000 };
    },
  };
}

async function main(args: readonly string[]): Promise<number> {
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt < 0 ? 2 : Number(args[roundsAt + 1]);
  const rest = roundsAt < 0 ? args : [...args.slice(0, roundsAt), ...args.slice(roundsAt + 2)];
  const [before, after, ...scopes] = rest;
  if (before === undefined || after === undefined || scopes.length === 0 || !Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('usage: ab-explore BEFORE_DIST AFTER_DIST design:depth ... [--rounds N]\n');
    return 2;
  }
  for (const scope of scopes) {
    const [id = '', depthText = ''] = scope.split(':');
    const depth = Number(depthText);
    const sides = [await loadSide(before, id), await loadSide(after, id)];
    const cpu = [0, 0];
    const shape = ['', ''];
    for (let round = 0; round < rounds; round++) {
      for (const which of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const run = sides[which]?.explore(depth);
        if (run === undefined) continue;
        cpu[which] = (cpu[which] ?? 0) + run.cpuMs;
        shape[which] = `${run.states} states, ${run.transitions} transitions`;
      }
    }
    const [beforeMs = 0, afterMs = 0] = cpu.map((ms) => ms / rounds);
    const same = shape[0] === shape[1] ? '' : ` — DIFFERENT GRAPHS: before ${shape[0]}`;
    process.stdout.write(
      `${scope}: ${shape[1]}; CPU per run before ${(beforeMs / 1000).toFixed(1)} s, after ${(afterMs / 1000).toFixed(1)} s, ×${(beforeMs / afterMs).toFixed(2)}${same}\n`,
    );
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
