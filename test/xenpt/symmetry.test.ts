/**
 * The Xen passthrough scope's renaming symmetry (properties/xenpt/symmetry.ts) is a symmetry: along
 * seeded random walks through the scope, each state renamed by a random permutation of the
 * interchangeable frames (those from the gfn space up) has the same key; its templates are the
 * renamed templates; and each template, renamed, steps the renamed state to a state with the same
 * key, the same answer and the same invariant verdicts. A merge of two states by the key is then
 * sound: whatever one reaches, the other reaches renamed.
 */
import seedrandom from 'seedrandom';
import { describe, expect, test } from 'vitest';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import { xenPtNoQuarantine, xenPtPutBeforeFlush, xenPtReleaseDevicesLate } from '../../properties/xenpt/designs.js';
import { renameXenPtFrames } from '../../properties/xenpt/symmetry.js';
import { stableJson } from '../../src/explore.js';

type Rename = (mfn: number) => number;

/** A random permutation of the frames from `fixedBelow` up; the others keep their numbers. */
function permutation(random: () => number, fixedBelow: number, frames: number): Rename {
  const movable = Array.from({ length: frames - fixedBelow }, (_, index) => fixedBelow + index);
  const shuffled = [...movable];
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other] as number, shuffled[index] as number];
  }
  return (mfn) => (mfn >= fixedBelow && mfn < frames ? (shuffled[mfn - fixedBelow] as number) : mfn);
}

/** The command with its frame numbers renamed (the scope's only such field is a DMA's dfn). */
function renameCommand(command: XenPtCommand, rename: Rename): XenPtCommand {
  return command.kind === 'dma' ? { ...command, dfn: rename(command.dfn) } : command;
}

function verdicts(
  design: XenPtDesign,
  before: XenPtState,
  command: XenPtCommand,
): { key: string; answer: string; broken: string[] } {
  const scope = design.explore;
  if (scope === undefined) throw new Error('no scope');
  const step = design.step(before, command);
  const transition = { before, command, result: step.result, after: step.state };
  return {
    key: scope.key(step.state),
    answer: step.result.ok ? 'ok' : (step.result.error ?? 'error'),
    broken: design.invariants
      .filter((invariant) => invariant.check(transition) !== null)
      .map((invariant) => invariant.name),
  };
}

describe('the Xen passthrough scope key renames frames soundly', () => {
  for (const design of [xenPtNoQuarantine, xenPtPutBeforeFlush, xenPtReleaseDevicesLate]) {
    test(`${design.id}: renamed states, templates and steps agree along random walks`, () => {
      const scope = design.explore;
      if (scope === undefined) throw new Error('no scope');
      const world = design.config.world;
      const random = seedrandom(`symmetry/${design.id}`);
      let renamedStates = 0;
      let state = design.init();
      for (let depth = 0; depth < 14; depth++) {
        const rename = permutation(random, world.gfnSpace, world.frames);
        const renamed = renameXenPtFrames(state, rename);
        if (stableJson(renamed) !== stableJson(state)) renamedStates++;
        expect(scope.key(renamed)).toBe(scope.key(state));
        const templates = scope.templates(state).map((template) => design.resolve(state, template));
        const expected = templates.map((command) => stableJson(renameCommand(command, rename))).sort();
        expect(
          scope
            .templates(renamed)
            .map((command) => stableJson(command))
            .sort(),
        ).toEqual(expected);
        for (const command of templates) {
          expect(verdicts(design, renamed, renameCommand(command, rename)), stableJson(command)).toEqual(
            verdicts(design, state, command),
          );
        }
        const next = templates[Math.floor(random() * templates.length)];
        if (next === undefined) break;
        state = design.step(state, next).state;
      }
      // The walk met states that a renaming changes (else the test above would prove nothing).
      expect(renamedStates).toBeGreaterThan(5);
    });
  }
});
