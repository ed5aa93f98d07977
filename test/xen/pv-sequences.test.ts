/**
 * Random sequences of PV MMU commands, grant maps and unmaps between PV domains with IOMMU sync and
 * ballooning, over the tiny PV world: under Xen's rules every PV memory invariant, the page
 * reference census (`holderCensus`, properties/xengt/views.ts) and atomicity hold after every step;
 * under each flawed hook some sequence breaks the invariants the hook declares (pv-hooks.test.ts
 * shows one by hand).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deepEqual } from '../../models/deep-equal.js';
import type { XenConfig } from '../../models/xen/config.js';
import { endAccess, grantAccess, mapGrantRef, unmapGrantRef } from '../../models/xen/grant-table.js';
import { decreaseReservation } from '../../models/xen/memory-op.js';
import { pvMemoryVariants, soundPvMemory } from '../../models/xen/pv-rules.js';
import type { PvMemoryRules } from '../../models/xen/pv-rules.js';
import { pvMmuStep } from '../../models/xen/pv-mmu.js';
import type { PvMmuCommand } from '../../models/xen/pv-mmu.js';
import { shareXenState } from '../../models/xen/copy-on-write.js';
import { cloneXenState } from '../../models/xen/state.js';
import type { XenState } from '../../models/xen/types.js';
import type { OpResult } from '../../models/result.js';
import { pvMmuCommandArbitrary } from '../../properties/xen/pv-generators.js';
import { pvMemoryInvariants } from '../../properties/xen/pv-invariants.js';
import { pvMemoryFlawedVariants } from '../../properties/xen/pv-variants.js';
import { holderCensus } from '../../properties/xengt/views.js';
import { DEEP } from '../helpers.js';
import { DOM0, HVM, PV, pvWorld } from './pv-world.js';

type Command =
  | PvMmuCommand
  | { kind: 'grant'; domid: number; ref: number; granteeDomid: number; gfn: number; readonly: boolean }
  | { kind: 'endAccess'; domid: number; ref: number }
  | {
      kind: 'map';
      mapperDomid: number;
      granterDomid: number;
      ref: number;
      host: boolean;
      device: boolean;
      readonly: boolean;
      hostAddr: number;
    }
  | { kind: 'unmap'; mapperDomid: number; handle: number; hostAddr: number | null; devBusAddr: number | null }
  | { kind: 'balloon'; domid: number; gfn: number };

const domid = fc.constantFrom(DOM0, PV, PV, HVM);
/** Who grants to whom: a PV guest to the PV dom0 (IOMMU sync), the reverse, a PV guest to the HVM guest. */
const pair = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ granter: PV, grantee: DOM0 }) },
  { weight: 1, arbitrary: fc.constant({ granter: DOM0, grantee: PV }) },
  { weight: 1, arbitrary: fc.constant({ granter: PV, grantee: HVM }) },
);
const ref = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) });
const writable = fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: pvMmuCommandArbitrary({
      domids: [PV, PV, PV, PV, DOM0, HVM],
      frameCount: 10,
      hotMfns: [2, 3, 4],
      tableMfns: [2],
    }),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(pair, ref, fc.nat({ max: 3 }), writable).map(([{ granter, grantee }, r, gfn, readonly]) => ({
      kind: 'grant' as const,
      domid: granter,
      ref: r,
      granteeDomid: grantee,
      gfn,
      readonly,
    })),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('endAccess' as const), domid, ref }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(pair, ref, fc.constantFrom([true, false], [false, true], [true, true]), writable)
      .map(([{ granter, grantee }, r, [host, device], readonly]) => ({
        kind: 'map' as const,
        mapperDomid: grantee,
        granterDomid: granter,
        ref: r,
        host: host!,
        device: device!,
        readonly,
        hostAddr: 100,
      })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('unmap' as const),
      mapperDomid: fc.constantFrom(DOM0, DOM0, DOM0, PV, HVM),
      handle: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 2 }) }),
      hostAddr: fc.constantFrom(100, 100, null),
      devBusAddr: fc.option(fc.constantFrom(2, 3, 4, 5), { freq: 1 }),
    }),
  },
  // Ballooning gives back one frame of each PV domain (the rest stay for tables and data).
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      { kind: 'balloon' as const, domid: PV, gfn: 3 },
      { kind: 'balloon' as const, domid: DOM0, gfn: 1 },
    ),
  },
);

function step(state: XenState, config: XenConfig, cmd: Command): OpResult {
  switch (cmd.kind) {
    case 'grant':
      return grantAccess(state, cmd);
    case 'endAccess':
      return endAccess(state, config, cmd);
    case 'map':
      return mapGrantRef(state, config, cmd);
    case 'unmap':
      return unmapGrantRef(state, config, cmd);
    case 'balloon':
      return decreaseReservation(state, config, cmd);
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      return pvMmuStep(state, config, cmd);
  }
}

const invariants = pvMemoryInvariants<XenState, Command>((state) => state);

/** The first problem after a step: an invariant's name, `census`, or `atomicity`; null if none. */
function problems(before: XenState, result: OpResult, after: XenState): string[] {
  const found = invariants
    .filter((invariant) => invariant.check({ before, command: null, result, after }) !== null)
    .map((invariant) => invariant.name);
  const census = holderCensus(after).total;
  if (after.memory.frames.some((frame) => frame.refcount !== (census[frame.mfn] ?? 0))) found.push('census');
  if (!result.ok && !deepEqual(before, after)) found.push('atomicity');
  return found;
}

/**
 * Runs the commands as the engine does, each step on `shareXenState(before)`; also reports `purity`
 * (a step changed the state it was given) and `reads` (an invariant whose parts are all the same
 * objects as before gave another verdict) when `strict`.
 */
function firstBreak(rules: PvMemoryRules, commands: readonly Command[], strict = false): string[] {
  const config: XenConfig = { bugs: [], pvMemory: rules };
  let state = pvWorld(config);
  for (const cmd of commands) {
    const before = state;
    const snapshot = strict ? cloneXenState(before) : before;
    state = shareXenState(before);
    const result = step(state, config, cmd);
    const found = problems(before, result, state);
    if (strict && !deepEqual(before, snapshot)) found.push('purity');
    if (strict) found.push(...staleReads(before, state));
    if (found.length > 0) return found;
  }
  return [];
}

function staleReads(before: XenState, after: XenState): string[] {
  return invariants
    .filter((invariant) => {
      const reads = invariant.reads;
      if (reads === undefined) return false;
      const [was, now] = [reads(before), reads(after)];
      if (was.length !== now.length || was.some((part, index) => part !== now[index])) return false;
      const verdict = (state: XenState) =>
        invariant.check({ before: null, command: null, result: null, after: state }) === null;
      return verdict(before) !== verdict(after);
    })
    .map((invariant) => `reads of ${invariant.name}`);
}

const sequences = fc.array(command, { minLength: 1, maxLength: 30, size: 'max' });

describe('PV memory under random sequences', () => {
  it("Xen's rules: every invariant, the reference census, atomicity, purity and the invariants' reads hold", () => {
    fc.assert(
      fc.property(sequences, (commands) => {
        expect(firstBreak(soundPvMemory, commands, true)).toEqual([]);
      }),
      { seed: 19, numRuns: DEEP ? 5000 : 300 },
    );
  });

  // The first invariant each flawed hook declares (properties/xen/pv-variants.ts).
  const declared: Record<string, string> = Object.fromEntries(
    pvMemoryFlawedVariants.map((variant) => [variant.rules.name, variant.breaks[0]!]),
  );
  // The deep tier: each flawed hook is caught on 20 fresh seeds at 1,000 runs.
  it.runIf(DEEP)('each flawed hook is caught on 20/20 seeds within 1,000 runs', () => {
    for (const rules of pvMemoryVariants) {
      for (let seed = 1; seed <= 20; seed++) {
        const caught = fc.check(
          fc.property(sequences, (commands) => !firstBreak(rules, commands).includes(declared[rules.name]!)),
          { seed, numRuns: 1000, endOnFailure: true },
        );
        expect(caught.failed, `${rules.name} seed ${seed}`).toBe(true);
      }
    }
  });

  for (const rules of pvMemoryVariants) {
    it(`${rules.name}: random sequences break ${declared[rules.name]}`, () => {
      const caught = fc.check(
        fc.property(sequences, (commands) => !firstBreak(rules, commands).includes(declared[rules.name]!)),
        { seed: 19, numRuns: DEEP ? 5000 : 1000, endOnFailure: true },
      );
      expect(caught.failed).toBe(true);
    });
  }
});
