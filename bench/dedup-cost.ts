/**
 * What the explorer pays per state to tell apart the commands its templates resolve to
 * (`DistinctCommands` in src/explore.ts): each command compared with the earlier ones (`sameJson`)
 * against one fingerprint per command (`stableFingerprint`), whatever the templates' count. The states are the first 3,000 a
 * search of each scope reaches, their commands resolved once; each side runs five passes after a
 * warm-up pass.
 *
 *   npm run build && node dist/bench/dedup-cost.js [design:depth ...]   (anchor: the Promela anchor)
 *
 * Prints CPU microseconds per state for each side, with the templates and distinct commands per state.
 */
import { pathToFileURL } from 'node:url';
import { findDesign } from '../properties/registry.js';
import { anchorDesign } from '../src/bench-anchor.js';
import type { AnyDesign } from '../src/design.js';
import { DistinctCommands } from '../src/explore.js';
import { firstStates, measureScopes } from './scope-states.js';

const DEFAULT_SCOPES = ['anchor:6', 'iommu/lazy:3', 'vfio/type1:4', 'gvt/write-protect:2', 'xen/map:2'];
const STATES = 3000;
const PASSES = 5;

function cpuMicroseconds(lists: readonly (readonly unknown[])[], templates: number): number {
  const started = process.cpuUsage();
  for (let pass = 0; pass < PASSES; pass++) {
    for (const commands of lists) {
      const distinct = new DistinctCommands(templates);
      for (const command of commands) distinct.add(command);
    }
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / (lists.length * PASSES);
}

export function dedupCost(id: string, depth: number): string {
  const design: AnyDesign | undefined = id === 'anchor' ? (anchorDesign() as unknown as AnyDesign) : findDesign(id);
  const scope = design?.explore;
  if (design === undefined || scope === undefined) throw new Error(`no design with an explore scope: ${id}`);
  const states = firstStates(design, depth, STATES);
  const lists = states.map((state) => scope.templates(state).map((template) => design.resolve(state, template)));
  const templates = lists.reduce((sum, commands) => sum + commands.length, 0) / lists.length;
  let distinct = 0;
  for (const commands of lists) {
    const set = new DistinctCommands(0);
    for (const command of commands) if (set.add(command)) distinct += 1;
  }
  // `DistinctCommands(0)` compares pairwise, `DistinctCommands(Infinity)` by fingerprint.
  cpuMicroseconds(lists, 0);
  cpuMicroseconds(lists, Number.POSITIVE_INFINITY);
  const pairwise = cpuMicroseconds(lists, 0);
  const printed = cpuMicroseconds(lists, Number.POSITIVE_INFINITY);
  return `${id} depth ${depth}: ${lists.length} states, ${templates.toFixed(1)} templates and ${(distinct / lists.length).toFixed(1)} distinct commands a state; pairwise ${pairwise.toFixed(1)} µs, fingerprints ${printed.toFixed(1)} µs`;
}

// Run as a script, not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  measureScopes('dedup-cost', DEFAULT_SCOPES, dedupCost);
