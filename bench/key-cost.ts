/**
 * What the explorer pays per state for its visited-set entry, on the scopes that can fingerprint in
 * one pass: the key text hashed (`fingerprint128(scope.key(state))`) against the scope's own
 * `fingerprint` (`stableFingerprint` of the same view). The states are the first 4,000 a search of
 * each scope reaches; each is fingerprinted five times per side, after one warm-up pass each.
 *
 *   npm run build && node dist/bench/key-cost.js [design:depth ...]
 *
 * Prints CPU microseconds per state for each side and the key's length on the last state.
 */
import { pathToFileURL } from 'node:url';
import { findDesign } from '../properties/registry.js';
import { fingerprint128 } from '../src/state-table.js';
import { firstStates, measureScopes } from './scope-states.js';

const DEFAULT_SCOPES = [
  'iommu/lazy:4',
  'vfio/type1:4',
  'viommu/shadow:6',
  'xenpt/hvm-shared-pt:3',
  'gvt/write-protect:3',
];
const STATES = 4000;
const PASSES = 5;

function cpuMicroseconds(states: readonly unknown[], work: (state: unknown) => unknown): number {
  const started = process.cpuUsage();
  for (let pass = 0; pass < PASSES; pass++) for (const state of states) work(state);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / (states.length * PASSES);
}

export function keyCost(id: string, depth: number): string {
  const design = findDesign(id);
  const scope = design?.explore;
  if (design === undefined || scope === undefined) throw new Error(`no design with an explore scope: ${id}`);
  const fingerprint = scope.fingerprint?.bind(scope);
  if (fingerprint === undefined) throw new Error(`${id}: its scope hashes its key text only`);
  const states = firstStates(design, depth, STATES);
  const text = (state: unknown): unknown => fingerprint128(scope.key(state));
  cpuMicroseconds(states, text);
  cpuMicroseconds(states, fingerprint);
  const textCost = cpuMicroseconds(states, text);
  const wordCost = cpuMicroseconds(states, fingerprint);
  const length = scope.key(states[states.length - 1]).length;
  return `${id} depth ${depth}: ${states.length} states; key text hashed ${textCost.toFixed(1)} µs, one-pass fingerprint ${wordCost.toFixed(1)} µs (key ${length} characters)`;
}

// Run as a script, not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  measureScopes('key-cost', DEFAULT_SCOPES, keyCost);
