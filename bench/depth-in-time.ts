/**
 * How deep this build's explorer gets in the wall time an earlier build took to a depth, on the
 * same machine, in one process (issue 23's "one more depth in the same wall time"): a wall-time
 * budget taken from another machine, or another evening of a shared one, moves with its speed
 * (the same build's depth-5 search of `gvt/write-protect` took 19.6 s and 24.4 s an hour apart),
 * so the budget is measured here, just before the run it bounds.
 *
 *   git worktree add --detach /tmp/then b4987dd     # the build before issue 23's changes
 *   (cd /tmp/then && ln -s "$OLDPWD/node_modules" . && npx tsc -p tsconfig.build.json)
 *   npm run build && node dist/bench/depth-in-time.js /tmp/then/dist gvt/write-protect:4 xen/map:4 [--workers 2]
 *
 * For each `design:depth`: the earlier build (`THEN_DIST`, a `dist` that resolves fast-check: a
 * node_modules and a package.json beside it) explores the design to that depth on one thread,
 * as it could; its wall time is the budget. Then this build explores the same design with that
 * time limit and no depth bound (`timeLimitMs`; with `--workers N` on N worker threads) and the
 * line gives the depth it explored in full (`depthReached`: a level finished past the limit does
 * not count), or that it visited the whole scope.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Explore from '../src/explore.js';
import type * as Registry from '../properties/registry.js';
import { exploreDesign } from '../src/explore.js';
import { findDesign } from '../properties/registry.js';

/** The earlier build's search: wall ms, states and transitions to `depth`. */
async function thenSearch(dist: string, id: string, depth: number): Promise<{ ms: number; states: number }> {
  const base = pathToFileURL(`${resolve(dist)}/`).href;
  const engine = (await import(`${base}src/explore.js`)) as typeof Explore;
  const design = ((await import(`${base}properties/registry.js`)) as typeof Registry).findDesign(id);
  if (design === undefined) throw new Error(`${dist}: no design ${id}`);
  const started = performance.now();
  const result = engine.exploreDesign(design, { depth, maxStates: 10_000_000 });
  return { ms: performance.now() - started, states: result.states };
}

async function main(args: readonly string[]): Promise<number> {
  const at = args.indexOf('--workers');
  const workers = at < 0 ? 1 : Number(args[at + 1]);
  const rest = at < 0 ? args : [...args.slice(0, at), ...args.slice(at + 2)];
  const [then, ...scopes] = rest;
  const specs = scopes.map((scope) => {
    const [id = '', depth = ''] = scope.split(':');
    return { id, design: findDesign(id), depth: Number(depth) };
  });
  const wellFormed =
    Number.isInteger(workers) &&
    workers >= 1 &&
    specs.length > 0 &&
    specs.every(({ design, depth }) => design !== undefined && Number.isInteger(depth) && depth >= 1);
  if (then === undefined || !wellFormed) {
    process.stderr.write('usage: depth-in-time THEN_DIST design:depth ... [--workers N]\n');
    return 2;
  }
  for (const { id, design, depth } of specs) {
    if (design === undefined) continue;
    const earlier = await thenSearch(then, id, depth);
    const budgetMs = Math.round(earlier.ms);
    const now = exploreDesign(design, {
      depth: 64,
      maxStates: 10_000_000,
      timeLimitMs: budgetMs,
      ...(workers > 1 ? { workers } : {}),
    });
    const reached = now.exhausted ? 'the whole scope' : `depth ${now.depthReached} in full`;
    const verdict = now.exhausted || now.depthReached > depth ? 'one more depth or more' : 'NOT one more depth';
    process.stdout.write(
      `${id}: then depth ${depth} in ${(budgetMs / 1000).toFixed(1)} s (${earlier.states} states); ` +
        `now ${reached} within it${workers > 1 ? ` on ${workers} workers` : ''} (${now.states} states): ${verdict} ` +
        `(load ${(loadavg()[0] ?? 0).toFixed(2)})\n`,
    );
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
  process.exit();
}
