/**
 * The guest's scalable mode (`models/viommu/pasid.ts`), pinned against QEMU v10.2.0
 * hw/i386/intel_iommu.c and Linux v6.12 drivers/iommu/intel/pasid.c: the RID_PASID entry names the
 * device's domain; the teardown (PASID-cache, then domain-selective IOTLB invalidation of the old
 * DID) unmaps the shadow at the PASID-cache invalidation, the setup's PASID-based IOTLB
 * invalidation replays the new table; each malformed descriptor is refused as QEMU's invalidation
 * queue error reaches the guest (EINVAL), with nothing changed. The flawed VMMs leave a blocked
 * device reaching its old domain, and the generic invariants say so.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { stepViommu } from '../../models/viommu/step.js';
import { GUEST_DID, RID_PASID } from '../../models/viommu/types.js';
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { viommuReach } from '../../models/viommu/views.js';
import { shadowedEntries } from '../../models/viommu/vmm.js';
import { viommuDesign } from '../../properties/viommu/design.js';
import {
  viommuPasidCacheGated,
  viommuPasidCacheIgnored,
  viommuScalable,
  viommuShadow,
} from '../../properties/viommu/designs.js';
import { blockedDeviceReachesNothing, earlierDomainUnreachable } from '../../properties/viommu/invariants.js';
import { generation } from '../../src/check.js';
import { traceArbitrary } from '../../src/generate.js';
import { runViommu } from './run-steps.js';

const map: ViommuCommand = { kind: 'guestMap', giovaPage: 0, gpaPage: 0, write: false };
const invalidatePage: ViommuCommand = {
  kind: 'guestInvalidate',
  granularity: 'page',
  did: GUEST_DID,
  giovaPage: 0,
  mask: 0,
};
const dsi = (did = GUEST_DID): ViommuCommand => ({
  kind: 'guestInvalidate',
  granularity: 'domain',
  did,
  giovaPage: 0,
  mask: 0,
});
const dma: ViommuCommand = { kind: 'deviceDma', giovaPage: 0, write: false };
const clear: ViommuCommand = { kind: 'guestClearPasid' };
const setup = (did = GUEST_DID): ViommuCommand => ({ kind: 'guestSetupPasid', did });
const pc = (
  did = GUEST_DID,
  granularity: 'domain' | 'pasid' | 'global' = 'pasid',
  pasid = RID_PASID,
): ViommuCommand => ({
  kind: 'guestInvalidatePasidCache',
  granularity,
  did,
  pasid,
});
type Piotlb = Extract<ViommuCommand, { kind: 'guestInvalidatePiotlb' }>;
const piotlb = (did = GUEST_DID, pasid = RID_PASID): Piotlb => ({
  kind: 'guestInvalidatePiotlb',
  granularity: 'pasid',
  did,
  pasid,
  giovaPage: 0,
  mask: 0,
});
/** `intel_pasid_tear_down_entry` of a second-level entry: clear, PASID-cache (old DID), DSI IOTLB (old DID). */
const teardown = (did = GUEST_DID): ViommuCommand[] => [clear, pc(did), dsi(did)];
/** `intel_pasid_setup_second_level` then `pasid_flush_caches`: set up, PASID-cache, PASID-IOTLB of the new DID. */
const setUp = (did = GUEST_DID): ViommuCommand[] => [setup(did), pc(did), piotlb(did)];

const holds = (state: ViommuState): boolean =>
  [blockedDeviceReachesNothing, earlierDomainUnreachable].every(
    (invariant) => invariant.check({ before: null, command: null, result: null, after: state }) === null,
  );

describe('scalable mode: the guest moves its device by the RID_PASID entry', () => {
  test("Linux's teardown: the shadow stays until the PASID-cache invalidation, which unmaps it", () => {
    const { states, results } = runViommu(viommuScalable, [map, invalidatePage, dma, ...teardown(), dma]);
    const cleared = states[3]!;
    // Guest memory only: the host still maps the page, and the guest owes both invalidations.
    expect(cleared.guest).toMatchObject({ did: null, contextPending: true, retired: [0] });
    expect(cleared.guest.pasidFlush).toEqual({ stage: 'pasid-cache', dids: [GUEST_DID] });
    expect([...shadowedEntries(cleared).keys()]).toEqual([0]);
    // vtd_pasid_cache_sync_locked: the entry is not valid, the cache held it: unmap everything.
    expect(results[4]!.detail).toMatchObject({ handled: true, unmappedPages: 1, cached: null });
    expect(states[4]!.pasidCache).toBeNull();
    expect(states[4]!.guest.pasidFlush?.stage).toBe('iotlb');
    expect(viommuReach(states[4]!)).toEqual([]);
    // The DSI of the old DID reaches no address space (the RID2PASID check fails) but settles the flush.
    expect(results[5]!.detail).toEqual({ handled: false });
    expect(states[5]!.guest).toMatchObject({ pasidFlush: null, contextPending: false });
    expect(results[6]!.accesses.map((access) => access.outcome)).toEqual(['fault']);
    expect(states.every(holds)).toBe(true);
  });

  test('the setup: the PASID-cache invalidation caches the entry and replays, the PASID-IOTLB one settles', () => {
    const { states, results } = runViommu(viommuScalable, [...teardown(), ...setUp(2), map, invalidatePage]);
    expect(results[3]!.detail).toEqual({ reusedDid: false });
    expect(states[4]!.pasidCache).toEqual({ did: 2, current: true });
    expect(states[5]!.guest).toMatchObject({ did: 2, pasidFlush: null, contextPending: false });
    // The IOTLB invalidation of DID 1 no longer reaches the device; DID 2's does (guest memory's DID).
    expect(stepViommu(states[6]!, viommuScalable.config, invalidatePage).result.detail).toEqual({ handled: false });
    const viaPiotlb = stepViommu(states[6]!, viommuScalable.config, piotlb(2));
    expect(viaPiotlb.result.detail).toMatchObject({ handled: true, mappedPages: 1 });
    expect(states.every(holds)).toBe(true);
  });

  test("QEMU's PASID-cache decisions: another DID, another PASID, an unchanged entry re-sync nothing", () => {
    const { state } = runViommu(viommuScalable, [map, invalidatePage]);
    // The cached entry is current (the guest has not rewritten it): vtd_pasid_entry_compare, no sync.
    for (const command of [pc(), pc(GUEST_DID + 1), pc(GUEST_DID, 'pasid', 1), pc(0, 'global')]) {
      const step = stepViommu(state, viommuScalable.config, command);
      expect(step.result).toMatchObject({ ok: true, detail: { handled: true, mappedPages: 0, unmappedPages: 0 } });
      expect(step.state.host).toBe(state.host);
    }
    // A cleared entry is unmapped whatever the descriptor names (the check comes first).
    const cleared = stepViommu(state, viommuScalable.config, clear).state;
    const misdirected = stepViommu(cleared, viommuScalable.config, pc(7, 'domain'));
    expect(misdirected.result.detail).toMatchObject({ unmappedPages: 1 });
    // ...but it does not settle what the guest owes: DID 7 named no entry it wrote.
    expect(misdirected.state.guest.pasidFlush?.stage).toBe('pasid-cache');
  });

  test('refusals, each leaving the state as it was', () => {
    const { state } = runViommu(viommuScalable, []);
    const refused = (command: ViommuCommand, design = viommuScalable, from = state): string => {
      const step = stepViommu(from, design.config, command);
      expect(step.state).toBe(from);
      return String(step.result.error);
    };
    // intel_pasid_setup_second_level: "if (pasid_pte_is_present(pte)) … return -EBUSY".
    expect(refused(setup(2))).toBe('EBUSY');
    const cleared = stepViommu(state, viommuScalable.config, clear).state;
    // DID 0 is reserved in caching mode; a DID is 16 bits.
    expect(refused(setup(0), viommuScalable, cleared)).toBe('EINVAL');
    expect(refused(setup(0x10000), viommuScalable, cleared)).toBe('EINVAL');
    // vtd_process_pasid_desc: granularity 2 is reserved ("invalid granularity field") → IQE, -EINVAL.
    expect(refused({ ...pc(), granularity: 'reserved' } as unknown as ViommuCommand)).toBe('EINVAL');
    // vtd_process_piotlb_desc: granularity 0 and 1 are not PASID-IOTLB ones ("invalid piotlb inv desc").
    expect(refused({ ...piotlb(), granularity: 'global' } as unknown as ViommuCommand)).toBe('EINVAL');
    // Fields the descriptor cannot hold: DID 16 bits, PASID 20 bits, AM 6 bits.
    expect(refused(pc(0x10000))).toBe('EINVAL');
    expect(refused(pc(GUEST_DID, 'pasid', 0x100000))).toBe('EINVAL');
    expect(refused({ ...piotlb(), granularity: 'page', mask: 64 })).toBe('EINVAL');
    // No MAMV check on a PASID-IOTLB page invalidation (QEMU checks it for IOTLB invalidations only: `vtd_process_iotlb_desc`, `vtd_iotlb_flush`).
    expect(stepViommu(state, viommuScalable.config, { ...piotlb(), granularity: 'page', mask: 19 }).result.ok).toBe(
      true,
    );
    // The model's form: all of a PASID names no address.
    expect(refused({ ...piotlb(), giovaPage: 1 })).toBe('EINVAL');
    // Legacy mode: a 256-bit descriptor in a 128-bit queue (vtd_inv_desc_reserved_check) → IQE, -EINVAL.
    const legacy = viommuShadow.init();
    expect(refused(pc(), viommuShadow, legacy)).toBe('EINVAL');
    expect(refused(piotlb(), viommuShadow, legacy)).toBe('EINVAL');
    // The model's own: RID_PASID writes in legacy mode, context-entry writes in scalable mode.
    expect(refused(clear, viommuShadow, legacy)).toBe('EOPNOTSUPP');
    expect(refused({ kind: 'guestDetach' })).toBe('EOPNOTSUPP');
    expect(refused({ kind: 'guestAttach', did: 2 })).toBe('EOPNOTSUPP');
    // intel_pasid_tear_down_entry on a non-present entry returns at once.
    const again = stepViommu(cleared, viommuScalable.config, clear);
    expect(again.result.detail).toEqual({ changed: false });
    expect(again.state).toBe(cleared);
    expect(() =>
      viommuDesign({ id: 'mine/x', mode: 'nested', scalable: true, expected: 'holds', description: '' }),
    ).toThrow('scalable: the scalable-mode guest is modelled over the shadow (caching-mode) VMM only');
  });
});

describe('flawed PASID-cache handling', () => {
  test('ignored (QEMU before v10.2.0): the blocked device still reaches its old page', () => {
    const { state, states } = runViommu(viommuPasidCacheIgnored, [map, invalidatePage, ...teardown()]);
    expect(states.slice(0, 4).every(holds)).toBe(true);
    expect(state.guest).toMatchObject({ did: null, contextPending: false });
    expect(viommuReach(state).map((found) => found.iovaPage)).toEqual([0]);
    expect(
      blockedDeviceReachesNothing.check({ before: null, command: null, result: null, after: state }),
    ).not.toBeNull();
  });

  test("QEMU v10.2.0's gate (viommu/pasid-cache-gated): a shadow built while the cache was empty outlives the entry", () => {
    const gated = viommuPasidCacheGated;
    // The guest sets its entry up without the PASID-cache invalidation (QEMU's cache stays empty),
    // a PASID-IOTLB invalidation shadows its map from guest memory; then a correct teardown.
    const program = [...teardown(), setup(), piotlb(), map, invalidatePage, ...teardown()];
    const flawed = runViommu(gated, program).state;
    expect(flawed.guest).toMatchObject({ did: null, contextPending: false });
    expect(viommuReach(flawed).map((found) => found.iovaPage)).toEqual([0]);
    expect(holds(flawed)).toBe(false);
    const sound = runViommu(viommuScalable, program).state;
    expect(viommuReach(sound)).toEqual([]);
    expect(holds(sound)).toBe(true);
    // A guest that skips nothing: GCMD.TE off and on empties QEMU's PASID cache
    // (`vtd_reset_caches`), the IOMMU region's replay shadows the table from guest memory, and the
    // teardown after it finds the cache empty.
    const te = (enabled: boolean): ViommuCommand => ({ kind: 'guestSetTranslation', enabled });
    const wellBehaved = [map, invalidatePage, te(false), te(true), ...teardown()];
    const afterTe = runViommu(gated, wellBehaved);
    expect(afterTe.states[3]!.pasidCache).toBeNull();
    expect(holds(afterTe.state)).toBe(false);
    expect(holds(runViommu(viommuScalable, wellBehaved).state)).toBe(true);
  });
});

describe("the scalable guest's generators draw the driver's runs", () => {
  test('teardown, setup and suspend-resume come as their commands in order, within the length', () => {
    const options = { ...generation(viommuScalable), preemptions: 0 };
    const sequences = fc.sample(traceArbitrary(viommuScalable.commands, options), { seed: 7, numRuns: 40 });
    const kinds = (templates: readonly { kind: string }[]): string => templates.map((t) => t.kind).join(' ');
    const all = sequences.map(kinds).join(' | ');
    // `intel_pasid_tear_down_entry` of a second-level entry: clear, PASID-cache, domain-selective IOTLB.
    expect(all).toContain('guestClearPasid guestInvalidatePasidCache guestInvalidate ');
    expect(all).toContain('guestSetTranslation guestSetTranslation');
    expect(all).toContain('guestSetupPasid guestInvalidatePasidCache guestInvalidatePiotlb');
    expect(sequences.every((templates) => templates.length <= options.maxCommands)).toBe(true);
    // The legacy guest's space has no runs: its generation is unchanged.
    expect(viommuShadow.commands.run).toBeUndefined();
  });
});
