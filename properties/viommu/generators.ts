/**
 * Generators of the vIOMMU stack, over the world's GIOVA pages (four by default) and mostly the
 * first four GPA pages of its RAM, so that maps, DMAs, balloon requests and frame reuse collide. The GIOVA pages are the first ones, not a
 * range across a leaf-table boundary as for VFIO over VT-d: the minimizer lowers page numbers one
 * coupled step at a time, and the host's page tables are exercised by that stack already.
 * Invalidations come correct (the guest's DID, one page or an aligned pair) most of the time, and
 * also domain-selective, global, misdirected (another DID) and malformed (refused). An unmap
 * mostly picks a page the guest maps, a balloon request back in a page the balloon holds
 * (`resolve.ts`); a balloon request out draws from the first pages, which the guest maps most.
 */
import fc from 'fast-check';
import type { ViommuCommand, ViommuCommandKind } from '../../models/viommu/types.js';
import { GUEST_DID, RID_PASID } from '../../models/viommu/types.js';
import type { CommandSpace } from '../../src/design.js';
import { commandSpaceOf } from '../generic/command-space.js';
import { phasedSpace } from '../generic/interleave.js';
import { pickOr } from '../pick.js';
import { preferOr } from '../prefer.js';
import type { ViommuTemplate } from './resolve.js';
import { OTHER_OWNER } from '../vfio/world.js';
import type { ViommuWorldLayout } from './world.js';

/** GPA pages: mostly the first four, which the guest maps most, so that maps, DMAs and balloon requests collide. */
export function gpaPageArbitrary(world: ViommuWorldLayout): fc.Arbitrary<number> {
  const low = fc.integer({ min: 0, max: Math.min(3, world.ramPages - 1) });
  if (world.ramPages <= 4) return low;
  return fc.oneof(
    { weight: 5, arbitrary: low },
    { weight: 1, arbitrary: fc.integer({ min: 4, max: world.ramPages - 1 }) },
  );
}

/** GIOVA pages: every one of the world's, [0, giovaPages). */
export function giovaPageArbitrary(world: ViommuWorldLayout): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: world.giovaPages - 1 });
}

/**
 * The DID of a correct invalidation: a pick, resolved to the DID in the device's context entry
 * (`resolve.ts`), so that invalidations follow the device to the domain it was attached to.
 */
const currentDid = { pick: 0 } as const;

function invalidation(world: ViommuWorldLayout): fc.Arbitrary<ViommuTemplate> {
  const giovaPage = giovaPageArbitrary(world);
  const pairs = Array.from({ length: Math.ceil(world.giovaPages / 2) }, (_, index) => index * 2);
  return fc.oneof(
    {
      weight: 8,
      arbitrary: preferOr(giovaPage).map((page): ViommuTemplate => ({
        kind: 'guestInvalidate',
        granularity: 'page',
        did: currentDid,
        giovaPage: page,
        mask: 0,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...pairs).map((page): ViommuTemplate => ({
        kind: 'guestInvalidate',
        granularity: 'page',
        did: currentDid,
        giovaPage: page,
        mask: 1,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom('domain' as const, 'global' as const).map((granularity): ViommuTemplate => ({
        kind: 'guestInvalidate',
        granularity,
        did: currentDid,
        giovaPage: 0,
        mask: 0,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ giovaPage, did: fc.constantFrom(0, GUEST_DID + 1), mask: fc.constantFrom(0, 1, 19) })
        .map((args): ViommuCommand => ({ kind: 'guestInvalidate', granularity: 'page', ...args })),
    },
  );
}

type GeneratedKind = Exclude<ViommuCommandKind, 'advance'>;

function table(world: ViommuWorldLayout): Readonly<Record<GeneratedKind, fc.Arbitrary<ViommuTemplate>>> {
  const giovaPage = giovaPageArbitrary(world);
  const gpaPage = gpaPageArbitrary(world);
  return {
    guestMap: fc
      .record({ giovaPage, gpaPage, write: fc.boolean() })
      .map((args): ViommuCommand => ({ kind: 'guestMap', ...args })),
    guestUnmap: pickOr(giovaPage).map((page): ViommuTemplate => ({ kind: 'guestUnmap', giovaPage: page })),
    guestInvalidate: invalidation(world),
    guestBalloonOut: preferOr(gpaPage).map((page): ViommuTemplate => ({ kind: 'guestBalloonOut', gpaPage: page })),
    guestBalloonIn: pickOr(gpaPage).map((page): ViommuTemplate => ({ kind: 'guestBalloonIn', gpaPage: page })),
    guestTouch: gpaPage.map((page): ViommuCommand => ({ kind: 'guestTouch', gpaPage: page })),
    vmmDiscard: gpaPage.map((page): ViommuCommand => ({ kind: 'vmmDiscard', gpaPage: page })),
    allocateToOther: fc.constant<ViommuCommand>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
    releaseFromOther: fc
      .nat({ max: world.frames - 1 })
      .map((mfn): ViommuCommand => ({ kind: 'releaseFromOther', mfn })),
    deviceDma: fc
      .record({ giovaPage: preferOr(giovaPage), write: fc.boolean() })
      .map((args): ViommuTemplate => ({ kind: 'deviceDma', ...args })),
    guestDetach: fc.constant<ViommuCommand>({ kind: 'guestDetach' }),
    guestSetTranslation: fc.boolean().map((enabled): ViommuCommand => ({ kind: 'guestSetTranslation', enabled })),
    // The guest's driver hands the new domain the lowest free DID: mostly the one just freed
    // (reused), sometimes the next one, as when another domain still holds it.
    guestAttach: fc
      .oneof({ weight: 3, arbitrary: fc.constant(GUEST_DID) }, { weight: 1, arbitrary: fc.constant(GUEST_DID + 1) })
      .map((did): ViommuCommand => ({ kind: 'guestAttach', did })),
    guestInvalidateContext: fc
      .constantFrom('device' as const, 'global' as const)
      .map((granularity): ViommuCommand => ({ kind: 'guestInvalidateContext', granularity })),
    // Scalable mode (`models/viommu/pasid.ts`): the guest's RID_PASID entry and its invalidations.
    guestClearPasid: fc.constant<ViommuCommand>({ kind: 'guestClearPasid' }),
    guestSetupPasid: setupDid.map((did): ViommuCommand => ({ kind: 'guestSetupPasid', did })),
    guestInvalidatePasidCache: pasidCacheInvalidation(),
    guestInvalidatePiotlb: piotlbInvalidation(world),
  };
}

/**
 * The DID of a RID_PASID setup: the driver hands the new domain the lowest free DID, mostly the one
 * just freed (reused), sometimes the next one, as when another domain still holds it.
 */
const setupDid = fc.oneof(
  { weight: 3, arbitrary: fc.constant(GUEST_DID) },
  { weight: 1, arbitrary: fc.constant(GUEST_DID + 1) },
);

/** Linux's PASID-cache invalidation: PASID-selective, RID_PASID, the DID the entry names or named. */
const pasidSelective: ViommuTemplate = {
  kind: 'guestInvalidatePasidCache',
  granularity: 'pasid',
  did: currentDid,
  pasid: RID_PASID,
};

/** Linux's PASID-based IOTLB invalidation after a setup: all of RID_PASID in the current DID. */
const piotlbAll: ViommuTemplate = {
  kind: 'guestInvalidatePiotlb',
  granularity: 'pasid',
  did: currentDid,
  pasid: RID_PASID,
  giovaPage: 0,
  mask: 0,
};

/**
 * PASID-cache invalidations: mostly PASID-selective for RID_PASID with the DID the device's entry
 * names (or named, once cleared: `resolve.ts`), as Linux issues them; also domain-selective,
 * global, and misdirected (another PASID, another DID).
 */
function pasidCacheInvalidation(): fc.Arbitrary<ViommuTemplate> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(pasidSelective) },
    {
      weight: 2,
      arbitrary: fc.constantFrom('domain' as const, 'global' as const).map((granularity): ViommuTemplate => ({
        kind: 'guestInvalidatePasidCache',
        granularity,
        did: currentDid,
        pasid: 0,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ did: fc.constantFrom(GUEST_DID, GUEST_DID + 1), pasid: fc.constantFrom(RID_PASID, 1) })
        .map((args): ViommuCommand => ({ kind: 'guestInvalidatePasidCache', granularity: 'pasid', ...args })),
    },
  );
}

/** PASID-based IOTLB invalidations: mostly of all of RID_PASID in the current DID; also page-selective, and misdirected. */
function piotlbInvalidation(world: ViommuWorldLayout): fc.Arbitrary<ViommuTemplate> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(piotlbAll) },
    {
      weight: 3,
      arbitrary: giovaPageArbitrary(world).map((giovaPage): ViommuTemplate => ({
        kind: 'guestInvalidatePiotlb',
        granularity: 'page',
        did: currentDid,
        pasid: RID_PASID,
        giovaPage,
        mask: 0,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ did: fc.constantFrom(GUEST_DID, GUEST_DID + 1), pasid: fc.constantFrom(RID_PASID, 1) })
        .map((args): ViommuCommand => ({
          kind: 'guestInvalidatePiotlb',
          granularity: 'pasid',
          ...args,
          giovaPage: 0,
          mask: 0,
        })),
    },
  );
}

/**
 * Scalable mode: the guest driver's functions that write an entry and then issue what they owe, in
 * order, with no other domain operation of the guest in between (the device's group mutex
 * serialises them; other vCPUs' DMA-API traffic and the device can still run in between, which
 * preemption, shrinking and the bare commands of the kinds cover):
 *
 * - `intel_pasid_tear_down_entry` (Linux v6.12 drivers/iommu/intel/pasid.c): the present bit
 *   cleared, a PASID-selective PASID-cache invalidation with the old DID, then for a second-level
 *   entry a domain-selective IOTLB invalidation of the old DID;
 * - `intel_pasid_setup_second_level` → `pasid_flush_caches`: the entry written, a PASID-selective
 *   PASID-cache invalidation and a PASID-based IOTLB invalidation of all of RID_PASID, both with the
 *   new DID;
 * - suspend and resume (drivers/iommu/intel/iommu.c `iommu_suspend` → `iommu_disable_translation`;
 *   `iommu_resume` → `init_iommu_hw` → `iommu_set_root_entry`, `iommu_enable_translation`): GCMD.TE
 *   off, then on. The global invalidations around them reach nothing with translation off
 *   (`vtd_pasid_cache_sync` returns, no notifier is registered), so the model leaves them out.
 *
 * One teardown or setup in four is the bare write, whose invalidations come (or not) as the
 * sequence has them; one TE draw in two is a single switch to a random setting (shutdown, kexec).
 */
const driverRuns: Readonly<Record<string, fc.Arbitrary<readonly ViommuTemplate[]>>> = {
  guestClearPasid: fc.oneof(
    { weight: 1, arbitrary: fc.constant<readonly ViommuTemplate[]>([{ kind: 'guestClearPasid' }]) },
    {
      weight: 3,
      arbitrary: fc.constant<readonly ViommuTemplate[]>([
        { kind: 'guestClearPasid' },
        pasidSelective,
        { kind: 'guestInvalidate', granularity: 'domain', did: currentDid, giovaPage: 0, mask: 0 },
      ]),
    },
  ),
  guestSetupPasid: fc
    .record({ did: setupDid, flush: fc.nat({ max: 3 }) })
    .map(({ did, flush }): readonly ViommuTemplate[] => {
      const setup: ViommuTemplate = { kind: 'guestSetupPasid', did };
      if (flush === 0) return [setup];
      return [setup, pasidSelective, piotlbAll];
    }),
  guestSetTranslation: fc.oneof(
    {
      weight: 1,
      arbitrary: fc.boolean().map((enabled): readonly ViommuTemplate[] => [{ kind: 'guestSetTranslation', enabled }]),
    },
    {
      weight: 1,
      arbitrary: fc.constant<readonly ViommuTemplate[]>([
        { kind: 'guestSetTranslation', enabled: false },
        { kind: 'guestSetTranslation', enabled: true },
      ]),
    },
  ),
};

/** The commands of the guest's scalable mode, and those of its legacy mode they stand in for. */
const scalableKinds: readonly GeneratedKind[] = [
  'guestClearPasid',
  'guestSetupPasid',
  'guestInvalidatePasidCache',
  'guestInvalidatePiotlb',
];
const legacyKinds: readonly GeneratedKind[] = ['guestDetach', 'guestAttach', 'guestInvalidateContext'];

/**
 * Scalable mode's weights: GCMD.TE switches come more often, since QEMU empties its PASID cache at
 * each (`vtd_reset_caches`), and the entry's teardown after one is where a PASID-cache sync that
 * needs its cache falls short (docs/reference/viommu.md §7.9).
 */
const scalableWeights: Readonly<Record<string, number>> = { guestSetTranslation: 4, guestClearPasid: 2 };

/** The guest's DMA traffic dominates; balloon requests and frame reuse come often enough to race it. */
const weights: Readonly<Record<GeneratedKind, number>> = {
  guestMap: 6,
  guestUnmap: 5,
  guestInvalidate: 7,
  guestBalloonOut: 3,
  guestBalloonIn: 2,
  guestTouch: 1,
  vmmDiscard: 1,
  allocateToOther: 4,
  releaseFromOther: 1,
  deviceDma: 10,
  // The device's life: detached, attached to another domain (mostly while mapped), resynced.
  guestDetach: 1,
  guestAttach: 2,
  guestInvalidateContext: 3,
  guestSetTranslation: 1,
  // Scalable mode: the RID_PASID entry cleared and set up, and the invalidations each write owes.
  guestClearPasid: 1,
  guestSetupPasid: 2,
  guestInvalidatePasidCache: 3,
  guestInvalidatePiotlb: 3,
};

/**
 * The operation that takes time (`models/viommu/phased.ts`): a trapped guest invalidation, in up to
 * five phases (the trap, then UNMAP_DMA's clear, sync and unpin, or MAP_DMA's pin and map, then the
 * wait descriptor). One that needs more is finished by the next trap; extra advances are refused.
 */
export const viommuPhases: Readonly<Record<string, number>> = { guestInvalidate: 5, guestInvalidateContext: 5 };

/**
 * The generators over `world`'s GIOVA pages, guest RAM and frames; a `scalable` guest writes its
 * RID_PASID entry and invalidates the PASID cache and the PASID-based IOTLB where a legacy one
 * writes context entries and invalidates the context cache.
 */
export function viommuCommandSpace(world: ViommuWorldLayout, scalable = false): CommandSpace<ViommuTemplate> {
  const left = scalable ? legacyKinds : scalableKinds;
  const kinds = Object.fromEntries(
    Object.entries(table(world)).filter(([kind]) => !left.includes(kind as GeneratedKind)),
  );
  return {
    ...commandSpaceOf('vIOMMU', kinds, scalable ? { ...weights, ...scalableWeights } : weights),
    ...(scalable ? { run: (kind: string) => driverRuns[kind] } : {}),
    // No conflicts declared (`InterleavingSpace.conflicts`): the designs' windows are found at the
    // default budget without aiming, and aimed windows (the device's DMA, a map, a balloon inside a
    // five-phase invalidation) left seed 1's counterexamples of viommu/shadow-unmap-skips-flush one
    // to three steps longer than the explorer's shortest: the minimizer cannot take a command
    // out of a window the trace needs.
    interleaving: phasedSpace<ViommuTemplate>(viommuPhases),
  };
}
