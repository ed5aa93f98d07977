/**
 * What the per-state benchmarks of an explore scope share (`key-cost.ts`, `dedup-cost.ts`): the
 * states to measure on, and their `design:depth` arguments.
 */
import type { AnyDesign } from '../src/design.js';
import { exploreDesign } from '../src/explore.js';

/** The first `count` distinct states a search of `design`'s scope to `depth` keys, in that order. */
export function firstStates(design: AnyDesign, depth: number, count: number): unknown[] {
  const scope = design.explore;
  if (scope === undefined) throw new Error(`${design.id}: no explore scope`);
  const states: unknown[] = [];
  exploreDesign(design, {
    depth,
    key: (state) => {
      if (states.length < count) states.push(state);
      return scope.key(state);
    },
  });
  return states;
}

/**
 * `measure` of each `design:depth` of the command line (else of `defaults`), printed a line each;
 * a malformed argument prints `script`'s usage and exits 2.
 */
export function measureScopes(
  script: string,
  defaults: readonly string[],
  measure: (id: string, depth: number) => string,
): void {
  const scopes = process.argv.slice(2);
  for (const argument of scopes.length > 0 ? scopes : defaults) {
    const [id, depth] = argument.split(':');
    const parsed = Number(depth);
    if (id === undefined || !Number.isInteger(parsed) || parsed < 1) {
      process.stderr.write(`usage: node dist/bench/${script}.js [design:depth ...] (got '${argument}')\n`);
      process.exit(2);
    }
    process.stdout.write(`${measure(id, parsed)}\n`);
  }
}
