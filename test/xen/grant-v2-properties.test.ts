/**
 * The generator pieces against the invariants: random command sequences over the small universe
 * hold every invariant under Xen's hooks (and every refusal leaves the state as it was), and each
 * flawed hook is caught with a short shrunk trace. Fixed seeds; more runs in the deep tier.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { XenConfig } from '../../models/xen/config.js';
import { stepGrantV2 } from '../../models/xen/grant-v2-commands.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';
import { grantV2Flaws } from '../../properties/xen/grant-v2-flaws.js';
import { grantV2Sequence } from '../../properties/xen/grant-v2-generators.js';
import { DEEP, FIXED_SEEDS } from '../helpers.js';
import { sound, v2World, violated } from './world.js';

/** The first violated invariant's name along `commands`, or null; throws if a refusal changed the state. */
function firstViolation(config: XenConfig, commands: readonly GrantV2Command[]): string | null {
  let state = v2World();
  for (const command of commands) {
    const step = stepGrantV2(state, config, command);
    if (!step.result.ok && !isDeepStrictEqual(step.state, state)) {
      throw new Error(`${command.kind} refused (${step.result.error ?? '?'}) but changed the state`);
    }
    state = step.state;
    const violation = violated(state);
    if (violation !== null) return violation.name;
  }
  return null;
}

const runs = DEEP ? 1000 : 150;

describe('grant v2 / copy generators', () => {
  it("hold every invariant under Xen's hooks", () => {
    for (const seed of FIXED_SEEDS.slice(0, DEEP ? 20 : 2)) {
      fc.assert(
        fc.property(grantV2Sequence(), (commands) => firstViolation(sound, commands) === null),
        { seed, numRuns: runs },
      );
    }
  });

  for (const flaw of grantV2Flaws) {
    it(`catch ${flaw.name} with a short trace (${DEEP ? 20 : 1} seeds, 1,000 runs each)`, () => {
      for (const seed of FIXED_SEEDS.slice(0, DEEP ? 20 : 1)) {
        const found = fc.check(
          fc.property(grantV2Sequence(), (commands) => firstViolation(flaw.config, commands) === null),
          { seed, numRuns: 1000 },
        );
        expect(found.failed).toBe(true);
        const trace = found.counterexample?.[0] ?? [];
        expect(flaw.breaks).toContain(firstViolation(flaw.config, trace));
        expect(trace.length).toBeLessThanOrEqual(8);
      }
    });
  }
});
