/**
 * What the generators foresee of a PPGTT's population (`properties/kvmgt/population.ts`): its
 * attempts in order, which of them come after a translated entry, and the fault that strikes the
 * last of those — a population failing part-way, which the shipped `err_free_spt` leaves
 * half-given-back (`kvmgt/shipped-populate-unwind`) and the model's default unwinds whole.
 */
import { describe, expect, test } from 'vitest';
import type { KvmgtCommand } from '../../models/kvmgt/types.js';
import { gvtWriteProtect, kvmgtShippedPopulateUnwind } from '../../properties/kvmgt/designs.js';
import { kvmgtInvariants } from '../../properties/kvmgt/invariants/index.js';
import { partWayFault, populateAttempts, strikesPartWay } from '../../properties/kvmgt/population.js';
import { runRecordingErrors } from '../models/gvt/world.js';

const DIRECTORY = 1;
const TABLE = 2;

/** A directory at gfn 1 naming a page table at gfn 2, whose two leaves name gfns 0 and 3. */
const prepared: KvmgtCommand[] = [
  { kind: 'guestWritePte', gfn: TABLE, index: 0, present: true, targetGfn: 0, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: TABLE, index: 1, present: true, targetGfn: 3, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: DIRECTORY, index: 0, present: true, targetGfn: TABLE, sizeBytes: 8 },
];

describe("a PPGTT's population foreseen", () => {
  const { state, errors } = runRecordingErrors(gvtWriteProtect, prepared);
  const world = gvtWriteProtect.world;

  test('its attempts: the table, then its leaves; only the second leaf comes after a translated entry', () => {
    expect(errors).toEqual([]);
    expect(populateAttempts(world, state, DIRECTORY)).toEqual({
      attempts: [
        { kind: 'track', afterTranslated: false },
        { kind: 'map', afterTranslated: false },
        { kind: 'map', afterTranslated: true },
      ],
      stopped: false,
    });
  });

  test('the part-way fault strikes the second map; the first map or the table track is not part-way', () => {
    expect(partWayFault(world, state, DIRECTORY, 'pin')).toEqual({ point: 'pin', nth: 2 });
    expect(partWayFault(world, state, DIRECTORY, 'trackAdd')).toEqual({ point: 'pin', nth: 2 });
    const armed = (point: 'pin' | 'trackAdd', nth: number): boolean =>
      strikesPartWay(world, { ...state, fault: { point, nth } }, DIRECTORY);
    expect(armed('pin', 2)).toBe(true);
    expect(armed('pin', 1)).toBe(false);
    expect(armed('trackAdd', 2)).toBe(false);
    // Nothing armed: nothing strikes.
    expect(strikesPartWay(world, state, DIRECTORY)).toBe(false);
  });

  test('armed there, the announcement fails part-way (ENXIO, `translateLeaf`): the default unwind gives everything back, the shipped one does not', () => {
    const commands: KvmgtCommand[] = [
      ...prepared,
      { kind: 'injectFault', point: 'pin', nth: 2 },
      { kind: 'ppgttCreate', rootGfn: DIRECTORY },
    ];
    const broken = (design: typeof gvtWriteProtect): string[] => {
      const run = runRecordingErrors(design, commands);
      expect(run.errors).toEqual(['ppgttCreate: ENXIO']);
      return kvmgtInvariants(design.config)
        .filter(
          (invariant) => invariant.check({ before: null, command: null, result: null, after: run.state }) !== null,
        )
        .map((invariant) => invariant.name);
    };
    expect(broken(gvtWriteProtect)).toEqual([]);
    expect(broken(kvmgtShippedPopulateUnwind)).toEqual(['cache-kref-matches-shadow-users']);
  });
});
