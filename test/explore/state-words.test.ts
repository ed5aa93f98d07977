/**
 * The compact fingerprints of the VFIO-over-VT-d and KVMGT scopes (`properties/*\/state-words.ts`)
 * partition states exactly as the generic fingerprints they replace (`stableFingerprint` of the
 * state; `FrameSymmetry`'s over `kvmgtFrameSplit`; `stableFingerprint` with the vCPUs left out for
 * KVMGT's `2m` part): over the reachable states of each design's scope, two states share the new
 * fingerprint exactly when they share the old. The parts the writers leave out are constant across
 * every scope (each reachable state has the initial state's), and every other leaf of a sampled
 * reachable state counts: perturbed, it changes the new fingerprint exactly when it changes the
 * old (a field the writers miss fails this), over the states of a few walks of 8 steps. The
 * default tier checks the two anchors and a `2m` design to depth 1 and along one walk; the
 * deep tier every design of the two scopes to depth 2 and along 3 walks, the anchors to depth 3.
 */
import { describe, expect, test } from 'vitest';
import type { GvtOp } from '../../models/gvt/inflight.js';
import type { KvmgtState } from '../../models/kvmgt/types.js';
import type { PassthroughState } from '../../models/passthrough/types.js';
import { FrameSymmetry } from '../../properties/generic/frame-symmetry.js';
import { kvmgtFrameSplit } from '../../properties/kvmgt/explore-scope.js';
import { kvmgtStateFingerprint } from '../../properties/kvmgt/state-words.js';
import { passthroughStateFingerprint } from '../../properties/passthrough/state-words.js';
import { designs, findDesign, mutants } from '../../properties/registry.js';
import { vfioFrameFields } from '../../properties/vfio/explore-scope.js';
import type { AnyDesign } from '../../src/design.js';
import { stableFingerprint } from '../../src/stable-fingerprint.js';
import { DEEP } from '../helpers.js';

type Print = (state: unknown) => string;

const kvmgtSymmetry = new FrameSymmetry(vfioFrameFields);
const withoutVcpu = (op: GvtOp): GvtOp => ('vcpu' in op ? { ...op, vcpu: 0 } : op);

/** The old fingerprint and the new one of a design's scope (by its description). */
function printsOf(design: AnyDesign): { readonly old: Print; readonly fresh: Print } {
  const description = design.explore?.description ?? '';
  if (description.startsWith('VFIO over VT-d')) {
    return {
      old: (state) => stableFingerprint(state).join(','),
      fresh: (state) => passthroughStateFingerprint(state as PassthroughState).join(','),
    };
  }
  if (!description.startsWith('KVMGT')) throw new Error(`${design.id}: not a scope of the compact writers`);
  if (description.includes('frames renamed')) {
    return {
      old: (state) => kvmgtSymmetry.fingerprint(kvmgtFrameSplit(state as KvmgtState)).join(','),
      fresh: (state) => kvmgtStateFingerprint(state as KvmgtState, true).join(','),
    };
  }
  return {
    old: (state) => {
      const kvmgt = state as KvmgtState;
      return stableFingerprint({ ...kvmgt, inflight: kvmgt.inflight.map(withoutVcpu) }).join(',');
    },
    fresh: (state) => kvmgtStateFingerprint(state as KvmgtState, false).join(','),
  };
}

/** Every state a breadth-first search of the scope reaches to `depth`, one per old fingerprint. */
function reachable(design: AnyDesign, depth: number, old: Print): unknown[] {
  const scope = design.explore!;
  const init = design.init();
  const seen = new Set([old(init)]);
  const states = [init];
  let frontier = [init];
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
        const print = old(after);
        if (seen.has(print)) continue;
        seen.add(print);
        next.push(after);
        states.push(after);
      }
    }
    frontier = next;
  }
  return states;
}

/** Pairs of states one fingerprint merges and the other does not. */
function partitionMismatches(states: readonly unknown[], old: Print, fresh: Print): number {
  const freshOf = new Map<string, string>();
  const oldOf = new Map<string, string>();
  let mismatches = 0;
  for (const state of states) {
    const a = old(state);
    const b = fresh(state);
    if ((freshOf.get(a) ?? b) !== b) mismatches += 1;
    if ((oldOf.get(b) ?? a) !== a) mismatches += 1;
    freshOf.set(a, b);
    oldOf.set(b, a);
  }
  return mismatches;
}

/** The parts the writers leave out (constant across a scope), by path. */
const constantPath =
  /^(iommu\.caps\..*|vfio\.params\..*|vfio\.groups\.\d+\.(id|spec\..*)|vfio\.devices\.\d+\.(id|groupId|kind))$/;

function constantParts(state: unknown): unknown {
  const { vfio, iommu } = state as { vfio: PassthroughState['vfio']; iommu?: PassthroughState['iommu'] };
  return {
    caps: iommu?.caps,
    params: vfio.params,
    groups: vfio.groups.map((group) => [group.id, group.spec]),
    devices: vfio.devices.map((device) => [device.id, device.groupId, device.kind]),
  };
}

/** Every leaf's path (numbers, flags, texts; not nulls) of a plain value. */
function leafPaths(value: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (value === null || value === undefined) return out;
  if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) leafPaths(item, [...path, key], out);
    return out;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') out.push(path);
  return out;
}

/** A deep copy of `state` with the leaf at `path` changed (a number moved past every frame). */
function perturbed(state: unknown, path: readonly string[]): unknown {
  const copy = structuredClone(state) as Record<string, unknown>;
  let record = copy;
  for (const key of path.slice(0, -1)) record = record[key] as Record<string, unknown>;
  const last = path[path.length - 1] ?? '';
  const leaf = record[last];
  record[last] = typeof leaf === 'number' ? leaf + 7919 : typeof leaf === 'boolean' ? !leaf : `${String(leaf)}~`;
  return copy;
}

/** The leaves whose perturbation one fingerprint sees and the other does not (constant parts aside). */
function blindSpots(states: readonly unknown[], old: Print, fresh: Print): string[] {
  const found = new Set<string>();
  for (const state of states) {
    const before = [old(state), fresh(state)];
    for (const path of leafPaths(state)) {
      const name = path.join('.');
      const after = perturbed(state, path);
      const oldChanged = old(after) !== before[0];
      const freshChanged = fresh(after) !== before[1];
      const expected = constantPath.test(name) ? false : oldChanged;
      if (freshChanged !== expected)
        found.add(`${name.replace(/\.\d+(?=\.|$)/g, '.N')}: old ${oldChanged}, new ${freshChanged}`);
    }
  }
  return [...found];
}

/**
 * The states along `walks` walks of `length` steps through the scope, each step's template picked
 * by a fixed linear congruential sequence (deep states cheaply: operations in flight, records filled).
 */
function walked(design: AnyDesign, walks: number, length: number): unknown[] {
  const scope = design.explore!;
  const states: unknown[] = [];
  let seed = 12345;
  for (let walk = 0; walk < walks; walk++) {
    let state = design.init();
    for (let step = 0; step < length; step++) {
      const templates = scope.templates(state);
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const template = templates[seed % templates.length];
      let command;
      try {
        command = design.resolve(state, template);
      } catch {
        continue;
      }
      const result = design.step(state, command);
      if (!result.result.ok) continue;
      state = result.state;
      states.push(state);
    }
  }
  return states;
}

function check(design: AnyDesign, depth: number, walks: number): void {
  const { old, fresh } = printsOf(design);
  const states = reachable(design, depth, old);
  expect(partitionMismatches(states, old, fresh)).toBe(0);
  const init = JSON.stringify(constantParts(states[0]));
  const sample = walked(design, walks, 8);
  expect([...states, ...sample].filter((state) => JSON.stringify(constantParts(state)) !== init)).toEqual([]);
  expect(
    blindSpots(
      sample.filter((_, index) => index % 4 === 3),
      old,
      fresh,
    ),
  ).toEqual([]);
}

const design = (id: string): AnyDesign => {
  const found = findDesign(id);
  if (found === undefined) throw new Error(`no design ${id}`);
  return found;
};

describe('the compact fingerprints partition states as the generic ones', () => {
  test.for([
    ['iommu/lazy-held', 1, 1],
    ['gvt/write-protect', 1, 1],
    ['kvmgt/2m-pin-skips-contiguity', 1, 1],
  ] as const)('%s to depth %i', ([id, depth, sampled]) => {
    check(design(id), depth, sampled);
  });

  test('a leaf the writer leaves out is caught', () => {
    const { old } = printsOf(design('iommu/lazy-held'));
    const blind: Print = (state) => {
      const { held, ...rest } = state as PassthroughState;
      return passthroughStateFingerprint({ ...rest, held: held.map(() => ({ seq: 0, mfn: 0 })) }).join(',');
    };
    const state = structuredClone(design('iommu/lazy-held').init()) as PassthroughState;
    state.held.push({ seq: 3, mfn: 2 });
    expect(blindSpots([state], old, blind)).toEqual([
      'held.N.seq: old true, new false',
      'held.N.mfn: old true, new false',
    ]);
  });

  const scoped = [...designs, ...mutants].filter((each) =>
    ['VFIO over VT-d', 'KVMGT'].some((prefix) => each.explore?.description.startsWith(prefix) === true),
  );
  test.runIf(DEEP).for(scoped.map((each) => [each.id, each] as const))('%s to depth 2 (deep tier)', ([, each]) => {
    check(each, 2, 3);
  });

  test.runIf(DEEP).for(['iommu/lazy-held', 'gvt/write-protect'])('%s to depth 3 (deep tier)', (id) => {
    check(design(id), 3, 6);
  });
});
