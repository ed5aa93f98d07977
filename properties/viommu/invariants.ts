/**
 * Every invariant of the vIOMMU stack, in report order: effect, latent, accounting. Both designs
 * check the same ones, and they must hold whatever the guest does — skip, misdirect or delay its
 * invalidations, balloon pages it still maps: that may hurt the guest (its device faults, or still
 * reaches its own memory), never anything else.
 *
 * - effect: where the device's DMA landed (the VFIO invariants, on the host's VFIO part);
 * - latent: every frame the device can reach — through the host's page table, any host IOTLB entry
 *   (combined ones included), and for a nested domain each entry of the guest's table through
 *   stage 2 — is the guest's and pinned by VFIO; and no host IOTLB entry outlives the second-level
 *   translation it came from (for a combined entry: the stage-2 translation of its GPA page);
 * - the guest's contract: a GIOVA page whose invalidation completed is reachable through nothing;
 * - hardware outlives software: a device the guest blocked reaches nothing, and nothing of an
 *   earlier domain, once its context-cache invalidation completed (`models/viommu/lifecycle.ts`);
 * - accounting: each frame's reference count equals its holders, and every counter of the host,
 *   the guest and the VMM stays in its range (`bounds.ts`);
 * - teardown: a shadow mapping a guest invalidation created is undone by the guest's clear and
 *   invalidation, giving back every pin, charge and slot (`viommuDesignInvariants`, `bounds.ts`).
 *
 * The passthrough stack's other checks (locked_vm, slots, disjointness, the page table against its
 * flat map, the IOMMU against VFIO) are not repeated: the VMM drives VFIO only with well-formed
 * single-page requests, which those stacks check at length.
 */
import type { PassthroughState } from '../../models/passthrough/types.js';
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { viommuReach } from '../../models/viommu/views.js';
import type { Invariant } from '../../src/design.js';
import { liftInvariant } from '../generic/lift.js';
import { frameRefcountMatchesHolders } from '../passthrough/invariants/accounting.js';
import { noStaleIotlbOutsideFlushQueue } from '../passthrough/invariants/iommu.js';
import { reachInvariants } from '../passthrough/invariants/latent.js';
import { noDmaToForeignFrame, noDmaToFreeFrame } from '../vfio/invariants/effect.js';
import type { ViommuConfig } from '../../models/viommu/types.js';
import { viommuCountersInRange, viommuShadowRoundTrip } from './bounds.js';

export type ViommuInvariant = Invariant<ViommuState, ViommuCommand>;

const host = (state: ViommuState): PassthroughState => state.host;

const reach = reachInvariants<ViommuState, ViommuCommand>({
  reach: viommuReach,
  host,
  // The nested first level: the guest's table, or guest RAM at IOVA = GPA with translation off.
  reads: (state) => [state.guest.table, state.guest.translation],
});

/**
 * The vIOMMU's contract with its guest (VT-d: an invalidation wait descriptor completes only after
 * every invalidation queued before it has taken effect): once the guest's invalidation of a GIOVA
 * page it cleared has completed, the device reaches nothing through that page — no host page-table
 * entry, IOTLB entry (combined ones included) or translated request — until the guest maps it
 * again. A VMM that lets the wait complete before its UNMAP_DMA (or never unmaps, or never
 * forwards) breaks it; a guest that skips or misdirects its invalidation does not, since only what
 * it invalidated counts (`models/viommu/phased.ts`).
 */
export const invalidatedGiovaUnreachable: ViommuInvariant = {
  name: 'invalidated-giova-unreachable',
  class: 'latent',
  description: 'no GIOVA page whose invalidation the guest saw complete is reachable by the device',
  reads: (state) => [state.host, state.guest.invalidated, state.guest.table, state.guest.translation],
  check({ after }) {
    // With translation off the guest gave the device all of its RAM (GCMD.TE: the no-DMAR region).
    if (after.guest.invalidated.length === 0 || !after.guest.translation) return null;
    const found = viommuReach(after).find((reach) => after.guest.invalidated.includes(reach.iovaPage));
    if (found === undefined) return null;
    return {
      message: `the guest's invalidation of GIOVA page ${found.iovaPage} has completed, yet the device still reaches mfn ${found.mfn} through it (${found.via})`,
      actual: `GIOVA page ${found.iovaPage} → mfn ${found.mfn} via ${found.via}`,
      expected: 'nothing reachable through an invalidated GIOVA page',
    };
  },
};

/**
 * Hardware outlives software, blocked device (VT-d §6.5.2.1; QEMU `vtd_address_space_sync`: a
 * context entry that is not present unmaps the device's whole address space): once the guest has
 * cleared the device's context entry and a context-cache invalidation submitted after that has
 * completed — in scalable mode, its RID_PASID entry and the PASID-cache and then IOTLB
 * invalidations it owes that write (`models/viommu/pasid-flush.ts`) — the device reaches nothing
 * (no host page-table entry, IOTLB entry, combined ones included, or translated request) until the
 * guest attaches it to a domain again.
 */
export const blockedDeviceReachesNothing: ViommuInvariant = {
  name: 'blocked-device-reaches-nothing',
  class: 'latent',
  description: 'a device whose cleared context (or RID_PASID) entry the guest saw invalidated reaches nothing',
  reads: (state) => [state.host, state.guest],
  check({ after }) {
    // With translation off the context entry is ignored (the no-DMAR region): not blocked.
    if (after.guest.did !== null || after.guest.contextPending || !after.guest.translation) return null;
    const found = viommuReach(after)[0];
    if (found === undefined) return null;
    return {
      message: `the guest cleared the device's ${after.scalable ? 'RID_PASID entry and the PASID-cache and IOTLB invalidations it owed have' : 'context entry and its context-cache invalidation has'} completed, yet the device still reaches mfn ${found.mfn} at GIOVA page ${found.iovaPage} (${found.via})`,
      actual: `GIOVA page ${found.iovaPage} → mfn ${found.mfn} via ${found.via}`,
      expected: 'nothing reachable by a blocked device',
    };
  },
};

/**
 * Hardware outlives software, reused identifiers: once the context-cache invalidation that followed
 * the guest's last context write has completed (scalable mode: the PASID-cache and IOTLB
 * invalidations its last RID_PASID write owes), the device reaches nothing through a GIOVA page an
 * earlier guest domain mapped (`GuestState.retired`) until the domain now attached maps it — whether
 * the new domain has a fresh DID or the one the earlier domain freed. The host's shadow mappings
 * and IOTLB entries are tagged by the host's domain, not the guest's DID, so a reused DID must not
 * let them survive.
 */
export const earlierDomainUnreachable: ViommuInvariant = {
  name: 'earlier-domain-unreachable',
  class: 'latent',
  description: 'no GIOVA page of an earlier guest domain is reachable once the context change was invalidated',
  reads: (state) => [state.host, state.guest],
  check({ after }) {
    if (after.guest.contextPending || after.guest.retired.length === 0 || !after.guest.translation) return null;
    const found = viommuReach(after).find((reach) => after.guest.retired.includes(reach.iovaPage));
    if (found === undefined) return null;
    const now = after.guest.did === null ? 'no domain' : `the domain with DID ${after.guest.did}`;
    return {
      message: `the device was moved to ${now} and ${after.scalable ? 'the PASID-cache and IOTLB invalidations its RID_PASID write owed have' : 'the context-cache invalidation has'} completed, yet it still reaches mfn ${found.mfn} through GIOVA page ${found.iovaPage} of an earlier domain (${found.via})`,
      actual: `GIOVA page ${found.iovaPage} → mfn ${found.mfn} via ${found.via}`,
      expected: "nothing reachable through an earlier domain's GIOVA pages",
    };
  },
};

export const viommuInvariants: readonly ViommuInvariant[] = [
  liftInvariant(noDmaToForeignFrame, (state: ViommuState) => state.host.vfio),
  liftInvariant(noDmaToFreeFrame, (state: ViommuState) => state.host.vfio),
  reach.owned,
  reach.pinned,
  liftInvariant(noStaleIotlbOutsideFlushQueue, host),
  invalidatedGiovaUnreachable,
  blockedDeviceReachesNothing,
  earlierDomainUnreachable,
  liftInvariant(frameRefcountMatchesHolders, host),
  viommuCountersInRange,
];

/** The invariants of a vIOMMU design built with `config`: `viommuInvariants` and the shadow round trip. */
export function viommuDesignInvariants(config: ViommuConfig): readonly ViommuInvariant[] {
  return [...viommuInvariants, viommuShadowRoundTrip(config)];
}
