/**
 * Holds a design's flat encoding (`ExploreScope.flat`, `flat-scope.ts`) to its object model on a
 * whole graph, for the tests of whoever writes one (the explorer's own audit covers only the first
 * states of each search, `explore-flat-audit.ts`): a breadth-first search over the object states
 * (deduplicated by the scope's key) that, at every state and command position, compares the flat
 * scope's answer with the design's own — the concrete command, duplicates, the next state's vector
 * (`encode` of the object step's state), the mask of every invariant the transition
 * (per-transition invariants) and the next state (state-only ones) break — and that the vectors
 * partition the states as the key does (one key, one vector; one vector, one key). Returns the
 * first disagreements in words, the states and transitions covered, and how often each invariant
 * broke (a graph that never breaks one does not test its verdicts).
 */
import type { AnyDesign, Invariant } from './design.js';
import { designVerdicts } from './explore-flat-audit.js';
import { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from './flat-scope.js';
import { stableJson } from './stable-json.js';

export interface FlatAgreement {
  readonly states: number;
  readonly transitions: number;
  /** Transitions on which each invariant was broken (by name): the graph exercised it. */
  readonly broken: Readonly<Record<string, number>>;
  readonly problems: readonly string[];
}

/**
 * `encode`: the vector of an object state of the scope into `out` at 0 (what the encoding's `init`
 * and `step` must give for it). `depth`: the levels walked; `maxProblems`: the disagreements kept
 * (5 by default). A throw of either model's code is a disagreement too.
 */
export function flatAgreement(
  design: AnyDesign,
  encode: (state: unknown, out: Int32Array) => void,
  options: { readonly depth: number; readonly maxProblems?: number },
): FlatAgreement {
  const scope = design.explore;
  const factory = scope?.flat;
  if (scope === undefined || factory === undefined) throw new Error(`${design.id}: no flat encoding`);
  const flat = factory.call(scope);
  const width = flat.width;
  const invariants: readonly Invariant<unknown, unknown>[] = design.invariants;
  const problems: string[] = [];
  const note = (problem: string): void => {
    if (problems.length < (options.maxProblems ?? 5)) problems.push(problem);
  };
  const vectorOf = (state: unknown): Int32Array => {
    const out = new Int32Array(width);
    encode(state, out);
    return out;
  };
  const perTransition = invariants.filter((invariant) => invariant.reads === undefined);
  const stateOnly = invariants.filter((invariant) => invariant.reads !== undefined);
  const broken: Record<string, number> = {};
  const count = (mask: number): void => {
    flat.invariants.forEach((name, index) => {
      if ((mask & (1 << index)) !== 0) broken[name] = (broken[name] ?? 0) + 1;
    });
  };
  const init = design.init();
  const start = new Int32Array(width);
  flat.init(start);
  if (stableJson([...start]) !== stableJson([...vectorOf(init)])) note('init: the vectors differ');
  const keyToVector = new Map<string, string>();
  const vectorToKey = new Map<string, string>();
  const remember = (state: unknown, vector: Int32Array): boolean => {
    const key = scope.key(state);
    const text = vector.join(',');
    const knownVector = keyToVector.get(key);
    const knownKey = vectorToKey.get(text);
    if (knownVector !== undefined && knownVector !== text) note(`one key, two vectors: ${knownVector} / ${text}`);
    if (knownKey !== undefined && knownKey !== key) note(`one vector, two keys: ${text}`);
    keyToVector.set(key, text);
    vectorToKey.set(text, key);
    return knownVector === undefined;
  };
  remember(init, start);
  let frontier: unknown[] = [init];
  let transitions = 0;
  const out = new Int32Array(width);
  try {
    for (let level = 0; level < options.depth && frontier.length > 0; level++) {
      const next: unknown[] = [];
      for (const state of frontier) {
        const vector = vectorOf(state);
        const commands: string[] = [];
        scope.templates(state).forEach((template, position) => {
          const command = design.resolve(state, template);
          const flatCommand = flat.command(vector, 0, position);
          if (stableJson(command) !== stableJson(flatCommand))
            note(`position ${position}: command ${stableJson(command)}, flat ${stableJson(flatCommand)}`);
          const text = stableJson(command);
          const duplicate = commands.includes(text);
          commands.push(text);
          const status = flat.step(vector, 0, position, out);
          if (duplicate !== (status === FLAT_DUPLICATE)) note(`${text}: duplicate ${duplicate}, flat status ${status}`);
          if (duplicate) return;
          transitions += 1;
          const stepped = design.step(state, command);
          const after = vectorOf(stepped.state);
          const flatAfter = status === FLAT_CHANGED ? out : vector;
          if (status !== FLAT_CHANGED && status !== FLAT_SAME) note(`${text}: status ${status}`);
          if (after.join(',') !== flatAfter.join(','))
            note(`${text} from ${vector.join(',')}: object ${after.join(',')}, flat ${flatAfter.join(',')}`);
          const transition = { before: state, command, result: stepped.result, after: stepped.state };
          const wantTransition = designVerdicts(flat, perTransition, transition);
          const gotTransition = flat.checkTransition(vector, 0, position, out, status);
          if (wantTransition !== gotTransition)
            note(`${text}: transition invariants ${wantTransition}, flat ${gotTransition}`);
          const wantState = designVerdicts(flat, stateOnly, transition);
          const gotState = flat.checkState(flatAfter, 0);
          if (wantState !== gotState)
            note(`${text} to ${after.join(',')}: state invariants ${wantState}, flat ${gotState}`);
          count(wantTransition | wantState);
          if (remember(stepped.state, after)) next.push(stepped.state);
        });
      }
      frontier = next;
    }
  } catch (error) {
    note(`the walk threw: ${(error as Error)?.message ?? String(error)}`);
  }
  return { states: keyToVector.size, transitions, broken, problems };
}
