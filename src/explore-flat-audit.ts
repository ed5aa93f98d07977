/**
 * The flat search's check of its encoder against the design, near the initial state
 * (`explore-flat.ts`): the first records of the search (`AUDIT_RECORDS`) are rebuilt as the design's state objects, by the design's own steps along
 * the flat search's parent records, and every transition from them is taken both ways. The
 * encoder must give, at each, what the object search would see (the contract of `FlatScope`):
 * - from each audited record the search expanded in full: the same distinct concrete commands in the same order (the duplicates the design's
 *   `resolve` makes are the encoder's `FLAT_DUPLICATE`s);
 * - a `FLAT_SAME` where the design's step leads to a state of the same key, and otherwise a
 *   vector whose record holds a state of the next state's key (checked where both are audited:
 *   and two audited records never share a key);
 * - the same verdict of each per-transition invariant on each transition, and of each
 *   state-only one on each audited state.
 * What it costs: the object search's work on 64 states, about 900 transitions on the Promela
 * anchor (14 a state, 35 to 70 µs each near the root, measured with `maxStates: 2000`): some
 * 30 to 60 ms, once per search. What it buys: an encoder wrong near the root (a step, a verdict,
 * a command that differs) is a reported disagreement, not a silent `holds`. One wrong only deeper
 * is the stack's tests' to find.
 */
import type { AnyDesign, ExploreScope, Invariant, Transition } from './design.js';
import { DistinctCommands } from './explore.js';
import { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from './flat-scope.js';
import type { FlatScope } from './flat-scope.js';
import type { FlatStateTable } from './flat-table.js';
import { sameJson, stableJson } from './stable-json.js';

/** The most records audited. */
export const AUDIT_RECORDS = 64;

/**
 * The first disagreement between the encoder and the design on the first `AUDIT_RECORDS` records
 * of `table`, in words; null when they agree throughout. Their transitions are checked on those of
 * them the search expanded in full (the first `expanded` records). `invariants`: the selected
 * ones, each named in `flat.invariants`.
 */
export function auditFlat(
  design: AnyDesign,
  scope: ExploreScope<unknown, unknown>,
  flat: FlatScope<unknown>,
  table: FlatStateTable,
  invariants: readonly Invariant<unknown, unknown>[],
  expanded: number,
): string | null {
  const width = flat.width;
  const bitOf = (invariant: Invariant<unknown, unknown>): number => 1 << flat.invariants.indexOf(invariant.name);
  const perTransition = invariants.filter((invariant) => invariant.reads === undefined);
  const stateOnly = invariants.filter((invariant) => invariant.reads !== undefined);
  const out = new Int32Array(Math.max(width, 1));
  // A record's vector, unpacked (`FlatStateTable.vector`), and its parent's.
  const vector = new Int32Array(Math.max(width, 1));
  const parentVector = new Int32Array(Math.max(width, 1));
  const states: unknown[] = [];
  const keys: string[] = [];
  const byKey = new Map<string, number>();
  const count = Math.min(AUDIT_RECORDS, table.size);
  const verdicts = (group: readonly Invariant<unknown, unknown>[], transition: Transition<unknown, unknown>): number =>
    designVerdicts(flat, group, transition);
  const names = (mask: number): string => {
    const broken = invariants.filter((invariant) => (mask & bitOf(invariant)) !== 0).map((invariant) => invariant.name);
    return broken.length === 0 ? 'none' : broken.join(', ');
  };
  const where = (record: number): string => {
    let steps = 0;
    for (let at = record; at > 0; at = table.parents[at] ?? 0) steps += 1;
    return steps === 0
      ? 'the initial state'
      : `the state ${steps} step${steps === 1 ? '' : 's'} deep (record ${record})`;
  };

  for (let record = 0; record < count; record++) {
    let state: unknown;
    if (record === 0) state = design.init();
    else {
      const parent = table.parents[record] ?? 0;
      const before = states[parent];
      const command: unknown = flat.command(table.vector(parent, parentVector), 0, table.positions[record] ?? 0);
      const step = design.step(before, command);
      state = step.state;
      const flatMask = flat.checkState(table.vector(record, vector), 0) & bitsOf(stateOnly, bitOf);
      const mask = verdicts(stateOnly, { before, command, result: step.result, after: state });
      if (flatMask !== mask) {
        return `the flat encoding disagrees with the design at ${where(parent)} after ${stableJson(command)}: it finds ${names(flatMask)} broken, the design ${names(mask)}`;
      }
    }
    const key = scope.key(state);
    const twin = byKey.get(key);
    if (twin !== undefined) {
      return `the flat encoding gives two vectors (records ${twin} and ${record}) to states of one key in the design`;
    }
    states.push(state);
    keys.push(key);
    byKey.set(key, record);
  }

  for (let record = 0; record < Math.min(count, expanded); record++) {
    const before = states[record];
    const held = table.vector(record, vector);
    const commands: unknown[] = [];
    const templates = scope.templates(before);
    const distinct = new DistinctCommands(templates.length);
    for (const template of templates) {
      const command: unknown = design.resolve(before, template);
      if (distinct.add(command)) commands.push(command);
    }
    let index = 0;
    for (let position = 0; position < flat.commands; position++) {
      const status = flat.step(held, 0, position, out);
      if (status === FLAT_DUPLICATE) continue;
      // Right after its step, as the search asks it (an encoder may keep what the step saw).
      const flatMask = flat.checkTransition(held, 0, position, out, status) & bitsOf(perTransition, bitOf);
      const command = commands[index];
      const given = flat.command(held, 0, position);
      if (index >= commands.length || !sameJson(command, given)) {
        return `the flat encoding disagrees with the design at ${where(record)}: its distinct command ${index} is ${stableJson(given)}, the design's ${command === undefined ? 'none' : stableJson(command)}`;
      }
      index += 1;
      const step = design.step(before, command);
      const transition = { before, command, result: step.result, after: step.state };
      const mask = verdicts(perTransition, transition);
      if (flatMask !== mask) {
        return `the flat encoding disagrees with the design at ${where(record)} on ${stableJson(command)}: it finds ${names(flatMask)} broken, the design ${names(mask)}`;
      }
      // The record the encoder steps to (every one is recorded: this record was expanded in full).
      const reached = status === FLAT_SAME ? record : status === FLAT_CHANGED ? table.find(out) : -1;
      const key = scope.key(step.state);
      const known = byKey.get(key);
      const agree = reached < 0 ? false : reached < count ? keys[reached] === key : known === undefined;
      if (!agree) {
        const flatSays = reached < 0 ? 'a state the search never recorded' : `record ${reached}`;
        const designSays = known === undefined ? 'a state of no record audited' : `record ${known}'s state`;
        return `the flat encoding disagrees with the design at ${where(record)} on ${stableJson(command)}: it steps to ${flatSays}, the design to ${designSays}`;
      }
    }
    if (index !== commands.length) {
      return `the flat encoding disagrees with the design at ${where(record)}: it gives ${index} distinct commands, the design ${commands.length}`;
    }
  }
  return null;
}

/**
 * The invariants of `group` the design's own checks find broken on `transition`, as a mask over
 * the encoder's bits (`flat.invariants`; one it does not name has no bit): what the encoder's
 * `checkTransition` or `checkState` must answer there.
 */
export function designVerdicts(
  flat: Pick<FlatScope<unknown>, 'invariants'>,
  group: readonly Invariant<unknown, unknown>[],
  transition: Transition<unknown, unknown>,
): number {
  let mask = 0;
  for (const invariant of group) {
    const index = flat.invariants.indexOf(invariant.name);
    if (index >= 0 && invariant.check(transition) !== null) mask |= 1 << index;
  }
  return mask;
}

function bitsOf(
  group: readonly Invariant<unknown, unknown>[],
  bitOf: (invariant: Invariant<unknown, unknown>) => number,
): number {
  let mask = 0;
  for (const invariant of group) mask |= bitOf(invariant);
  return mask;
}
