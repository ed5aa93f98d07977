/**
 * Invariants of the group lifecycle over VT-d (docs/reference/vtd.md §3.10, §3.7 inv. 9–10): the
 * hardware outlives the software objects that programmed it, so what it still holds is checked
 * against who owns what now.
 *
 * - `unowned-device-reaches-nothing`: a vfio-pci device whose group no VFIO domain holds — blocked
 *   while VFIO owns the group, in its default domain once released — reaches no frame (a present
 *   leaf, an IOTLB entry, a DMA translated and not yet landed), whether or not its fd is open.
 * - `reused-did-carries-no-earlier-translations`: nothing the hardware holds under a DID (an IOTLB
 *   entry, a context entry naming it, a cached context or PASID entry naming it, a context or PASID entry
 *   memory still holds naming it) outlives the domain that held the DID when it was freed: the
 *   DID is handed out again, lowest first, and the next domain would inherit it.
 */
import { stackReach } from '../../../models/passthrough/views.js';
import { type1Backend } from '../../../models/vfio/state.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { PassthroughInvariant } from './lift.js';

/** Whether a VFIO domain of the container holds the group. */
function inVfioDomain(vfio: VfioState, groupId: number): boolean {
  return type1Backend(vfio)?.domains.some((domain) => domain.groupIds.includes(groupId)) ?? false;
}

function via(kind: string): string {
  if (kind === 'iotlb') return 'an IOTLB entry';
  if (kind === 'in-flight') return 'a DMA translated and not yet landed';
  return 'a present page-table leaf';
}

export const unownedDeviceReachesNothing: PassthroughInvariant = {
  name: 'unowned-device-reaches-nothing',
  reads: (state) => [state.iommu, state.vfio],
  class: 'latent',
  description:
    'a vfio-pci device whose group no VFIO domain holds (blocked while VFIO owns it, its default domain after release) reaches no frame',
  check({ after }) {
    const vfio = after.vfio;
    const reach = stackReach(after);
    if (reach.length === 0) return null;
    for (const found of reach) {
      const device = vfio.devices[found.deviceId];
      if (device === undefined || device.kind !== 'pci' || inVfioDomain(vfio, device.groupId)) continue;
      const group = vfio.groups[device.groupId];
      const owner =
        group?.inContainer === true ? 'blocked: its group is owned by VFIO but in no domain' : 'released by VFIO';
      return {
        message: `device ${found.deviceId} (${owner}) reaches mfn ${found.mfn} at iova page ${found.iovaPage} through ${via(found.via)}`,
        actual: `mfn ${found.mfn} reachable`,
        expected: 'no frame reachable',
      };
    }
    return null;
  },
};

export const reusedDidCarriesNoEarlierTranslations: PassthroughInvariant = {
  name: 'reused-did-carries-no-earlier-translations',
  reads: (state) => [
    state.iommu.iotlb,
    state.iommu.contexts,
    state.iommu.pasidCache,
    state.iommu.contextCache,
    state.iommu.unflushedPasids,
    state.iommu.unflushedContexts,
  ],
  class: 'latent',
  description:
    "no IOTLB entry, context entry (the CPU's or the IOMMU's view, or cached), cached PASID entry or PASID entry in the IOMMU's view under a DID outlives the domain that held the DID when it was freed",
  check({ after }) {
    const iommu = after.iommu;
    const entry = iommu.iotlb.find((cached) => cached.orphaned === true);
    if (entry !== undefined) {
      const now = Object.hasOwn(iommu.domains, entry.domainId) ? 'now held by another domain' : 'free';
      const target = entry.kind === 'not-present' ? 'not present' : `→ mfn ${entry.frame}`;
      return {
        message: `the IOTLB still caches iova page ${entry.iovaPage} ${target} under DID ${entry.domainId}, filled from a domain since freed (the DID is ${now})`,
        actual: `an IOTLB entry of a freed domain under DID ${entry.domainId}`,
        expected: 'no entry of a freed domain',
      };
    }
    const context = iommu.contextCache?.find((found) => found.orphaned === true);
    if (context !== undefined) {
      const now = Object.hasOwn(iommu.domains, context.domainId) ? 'now held by another domain' : 'free';
      return {
        message: `the context cache still holds source-id ${context.deviceId}'s context entry naming DID ${context.domainId}, of a domain since freed (the DID is ${now})`,
        actual: `cached context entry of a freed domain (DID ${context.domainId})`,
        expected: 'invalidated when the context entry was cleared',
      };
    }
    const cached = iommu.pasidCache?.find((found) => found.orphaned === true);
    if (cached !== undefined) {
      const now = Object.hasOwn(iommu.domains, cached.domainId) ? 'now held by another domain' : 'free';
      return {
        message: `the PASID cache still holds source-id ${cached.deviceId}'s PASID ${cached.pasid} entry naming DID ${cached.domainId}, of a domain since freed (the DID is ${now})`,
        actual: `cached PASID entry of a freed domain (DID ${cached.domainId})`,
        expected: 'invalidated when the PASID entry was torn down',
      };
    }
    for (const [sourceId, kept] of Object.entries(iommu.unflushedPasids ?? {})) {
      for (const [pasid, entry] of Object.entries(kept)) {
        if (entry.orphaned !== true || entry.domainId === null) continue;
        const now = Object.hasOwn(iommu.domains, entry.domainId) ? 'now held by another domain' : 'free';
        return {
          message: `memory still holds source-id ${sourceId}'s PASID ${pasid} entry naming DID ${entry.domainId}, of a domain since freed (the DID is ${now}): the CPU cleared it and never wrote it back`,
          actual: `PASID entry of a freed domain in the IOMMU's view (DID ${entry.domainId})`,
          expected: 'cleared and written back before the domain was freed',
        };
      }
    }
    for (const [sourceId, entry] of Object.entries(iommu.unflushedContexts ?? {})) {
      if (entry.orphaned !== true || entry.domainId === null) continue;
      const now = Object.hasOwn(iommu.domains, entry.domainId) ? 'now held by another domain' : 'free';
      return {
        message: `memory still holds source-id ${sourceId}'s context entry naming DID ${entry.domainId}, of a domain since freed (the DID is ${now}): the CPU cleared it and never wrote it back`,
        actual: `context entry of a freed domain in the IOMMU's view (DID ${entry.domainId})`,
        expected: 'cleared and written back before the domain was freed',
      };
    }
    for (const [sourceId, context] of Object.entries(iommu.contexts)) {
      if (context.orphaned !== true || context.domainId === null) continue;
      const now = Object.hasOwn(iommu.domains, context.domainId) ? 'now held by another domain' : 'free';
      return {
        message: `source-id ${sourceId}'s context entry still names DID ${context.domainId}, of a domain since freed (the DID is ${now})`,
        actual: `context entry of a freed domain (DID ${context.domainId})`,
        expected: 'cleared before the domain was freed',
      };
    }
    return null;
  },
};
