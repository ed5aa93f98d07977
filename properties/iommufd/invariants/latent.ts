/**
 * Latent invariants of the passthrough stack over iommufd: every frame a device can reach — an
 * assigned device through VT-d (a present leaf, or any IOTLB entry, stale ones included), an access
 * driver through a pin (`views.ts`, access `n` reported as device `100 + n`) — belongs to the guest
 * (the type1 stack's own `reachable-frame-owned-by-guest`, over this stack's reach) and is pinned by
 * an iopt_pages, or held until the flush that retires a stale entry.
 */
import type { IommufdConfig } from '../../../models/iommufd/index.js';
import { passthroughView } from '../../../models/iommufd-pt/host-view.js';
import type { IommufdPtCommand, IommufdPtState } from '../../../models/iommufd-pt/types.js';
import { reachInvariants } from '../../passthrough/invariants/latent.js';
import type { IommufdPtInvariant } from './effect.js';
import { deviceName, iommufdPtReach, pinnedFrames } from './views.js';

export function reachableFrameOwnedByGuest(config: IommufdConfig): IommufdPtInvariant {
  return reachInvariants<IommufdPtState, IommufdPtCommand>({
    reach: (state) => iommufdPtReach(state, config),
    host: (state) => passthroughView(state, config),
    reads: (state) => [state.iommufd],
  }).owned;
}

export function reachableFramePinned(config: IommufdConfig): IommufdPtInvariant {
  return {
    name: 'reachable-frame-pinned',
    reads: (state) => [state.iommu, state.iommufd, state.held],
    class: 'latent',
    description:
      'every frame a device can reach, through the IOMMU or an access pin, is pinned by an iopt_pages or held until the flush that retires it',
    check({ after }) {
      const reach = iommufdPtReach(after, config);
      if (reach.length === 0) return null;
      const pinned = pinnedFrames(after);
      const held = new Set(after.held.map((hold) => hold.mfn));
      for (const found of reach) {
        if (pinned.has(found.mfn) || held.has(found.mfn)) continue;
        return {
          message: `${deviceName(found.deviceId)} can reach mfn ${found.mfn} (iova page ${found.iovaPage}, ${found.via}), which no iopt_pages pins`,
          actual: `mfn ${found.mfn} not pinned`,
          expected: 'pinned by an iopt_pages or held for a flush',
        };
      }
      return null;
    },
  };
}
