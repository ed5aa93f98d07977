/**
 * The frame renaming of the VFIO, vIOMMU and KVMGT scopes (`properties/generic/frame-symmetry.ts`):
 * every merge the key makes is of two equivalent states. A breadth-first search of the scope keeps
 * the first state of each key; each later state with that key but other contents is checked against
 * it one step deep: the same invariants broken in the state itself, and from both the same
 * multiset over the templates of (answer, errno, successor key, invariants broken by the step). A
 * renaming of an identity the model does arithmetic on fails this (the last test). The fingerprint
 * must partition the states as the key does. The deep tier checks every design of the three stacks.
 */
import { describe, expect, test } from 'vitest';
import type { AnyDesign } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { designs, findDesign, mutants } from '../../properties/registry.js';
import { FrameSymmetry } from '../../properties/generic/frame-symmetry.js';
import { vfioFrameFields, vfioFrameSplit } from '../../properties/vfio/explore-scope.js';
import type { VfioState } from '../../models/vfio/types.js';
import { DEEP } from '../helpers.js';

interface MergeReport {
  readonly keys: number;
  readonly merges: number;
  readonly problems: readonly string[];
  /** States whose fingerprints agree with their keys' partition, and those that do not. */
  readonly partitionMismatches: number;
}

function brokenBy(design: AnyDesign, before: unknown, command: unknown, result: unknown, after: unknown): string {
  const broken: string[] = [];
  for (const invariant of design.invariants) {
    // Both states of a merge get the same treatment: an invariant that throws is a verdict too.
    try {
      if (invariant.check({ before, command, result, after } as never) !== null) broken.push(invariant.name);
    } catch {
      broken.push(`${invariant.name}!`);
    }
  }
  return broken.join(',');
}

/** What a state's successors are, up to the key: a sorted multiset over the templates. */
function successors(design: AnyDesign, key: (state: unknown) => string, state: unknown): string {
  const scope = design.explore!;
  const lines: string[] = [];
  for (const template of scope.templates(state)) {
    let command;
    try {
      command = design.resolve(state, template);
    } catch {
      lines.push('unresolved');
      continue;
    }
    const { state: after, result } = design.step(state, command);
    const broken = brokenBy(design, state, command, result, after);
    lines.push(`${result.ok}|${result.error ?? ''}|${result.blocked === undefined ? '' : 'B'}|${key(after)}|${broken}`);
  }
  return lines.sort().join('\n');
}

/** Every merge `key` makes up to `depth`, the first `checks` of them checked (see the header). */
export function mergeReport(
  design: AnyDesign,
  depth: number,
  checks: number,
  key: (state: unknown) => string = (state) => design.explore!.key(state),
): MergeReport {
  const scope = design.explore!;
  const first = new Map<string, { readonly state: unknown; readonly json: string }>();
  const fingerprintOf = new Map<string, string>();
  const keyOf = new Map<string, string>();
  let partitionMismatches = 0;
  const record = (state: unknown, stateKey: string): void => {
    if (scope.fingerprint === undefined) return;
    const fingerprint = scope.fingerprint(state).join(',');
    if ((fingerprintOf.get(stateKey) ?? fingerprint) !== fingerprint) partitionMismatches += 1;
    if ((keyOf.get(fingerprint) ?? stateKey) !== stateKey) partitionMismatches += 1;
    fingerprintOf.set(stateKey, fingerprint);
    keyOf.set(fingerprint, stateKey);
  };
  const init = design.init();
  first.set(key(init), { state: init, json: stableJson(init) });
  record(init, key(init));
  let frontier = [init];
  let merges = 0;
  const problems: string[] = [];
  for (let level = 0; level < depth; level++) {
    const next: unknown[] = [];
    for (const state of frontier) {
      for (const template of scope.templates(state)) {
        let command;
        try {
          command = design.resolve(state, template);
        } catch {
          continue;
        }
        const after = design.step(state, command).state;
        const afterKey = key(after);
        record(after, afterKey);
        const kept = first.get(afterKey);
        if (kept === undefined) {
          first.set(afterKey, { state: after, json: stableJson(after) });
          next.push(after);
          continue;
        }
        const json = stableJson(after);
        if (json === kept.json) continue;
        merges += 1;
        if (merges > checks) continue;
        if (brokenBy(design, null, null, null, kept.state) !== brokenBy(design, null, null, null, after)) {
          problems.push(`${design.id}: merged states break different invariants`);
        } else if (successors(design, key, kept.state) !== successors(design, key, after)) {
          problems.push(`${design.id}: merged states step differently`);
        }
      }
    }
    frontier = next;
  }
  return { keys: first.size, merges, problems, partitionMismatches };
}

const design = (id: string): AnyDesign => {
  const found = findDesign(id);
  if (found === undefined) throw new Error(`no design ${id}`);
  return found;
};

describe('frame renaming merges only equivalent states', () => {
  // The default tier's share (about a second at load 2, 3 s at load 12): the first merges of VFIO and the vIOMMU; the deep
  // tier checks more of them, KVMGT's, every design's (about 5 s each) and the negative case.
  const cases: readonly (readonly [string, number, number])[] = DEEP
    ? [
        ['vfio/type1', 3, 60],
        ['viommu/shadow', 4, 60],
        ['gvt/write-protect', 2, 60],
      ]
    : [
        ['vfio/type1', 2, 3],
        ['viommu/shadow', 3, 3],
      ];
  test.for(cases)('%s to depth %i', ([id, depth, checks]) => {
    const report = mergeReport(design(id), depth, checks);
    expect(report.merges).toBeGreaterThan(0);
    expect(report.problems).toEqual([]);
    expect(report.partitionMismatches).toBe(0);
  });

  test.runIf(DEEP)('a frame field left out of the renaming is caught', () => {
    // A started MAP_DMA's frames kept as numbers while the frames they name are renamed: two states
    // whose operations will map different frames get one key.
    const unsound = new FrameSymmetry(vfioFrameFields.filter((field) => field !== 'mfns'));
    const report = mergeReport(design('vfio/type1'), 3, 60, (state) => unsound.key(vfioFrameSplit(state as VfioState)));
    expect(report.problems.length).toBeGreaterThan(0);
  });

  const renamed = [...designs, ...mutants].filter((each) =>
    ['VFIO,', 'vIOMMU:', 'KVMGT:'].some((prefix) => each.explore?.description.startsWith(prefix) === true),
  );
  test.runIf(DEEP).for(renamed.map((each) => [each.id, each] as const))(
    '%s, the first 200 merges to depth 3 (deep tier)',
    ([, each]) => {
      const report = mergeReport(each, 3, 200);
      expect(report.problems).toEqual([]);
      expect(report.partitionMismatches).toBe(0);
    },
  );
});
