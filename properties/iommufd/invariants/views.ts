/**
 * Views of the passthrough stack over iommufd that several invariants read: what every device can
 * reach (the assigned devices through VT-d, page table and IOTLB, stale entries included, by the
 * type1 stack's `computeIommuReach` over the passthrough view; the access drivers through their
 * pins), and which frames are pinned (iopt_pages) or held for a flush.
 */
import type { IommufdConfig } from '../../../models/iommufd/index.js';
import { passthroughView } from '../../../models/iommufd-pt/host-view.js';
import type { IommufdPtState } from '../../../models/iommufd-pt/types.js';
import { computeIommuReach } from '../../../models/passthrough/views.js';
import type { IommuReach } from '../../../models/passthrough/views.js';

const reachMemo = new WeakMap<IommufdPtState, readonly IommuReach[]>();

/** Every frame a device can reach now: assigned devices through VT-d, access drivers through their pins. */
export function iommufdPtReach(state: IommufdPtState, config: IommufdConfig): readonly IommuReach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  const reach: IommuReach[] = [...computeIommuReach(passthroughView(state, config))];
  for (const object of Object.values(state.iommufd.objects)) {
    if (object.type !== 'access') continue;
    for (const pin of object.pins) {
      pin.mfns.forEach((mfn, i) =>
        reach.push({ deviceId: 100 + object.id, via: 'pin', iovaPage: pin.iovaPage + i, mfn, write: pin.write }),
      );
    }
  }
  reachMemo.set(state, reach);
  return reach;
}

/** Frames pinned by an iopt_pages (mfn → how many pinned page indexes hold it). */
export function pinnedFrames(state: IommufdPtState): Map<number, number> {
  const pinned = new Map<number, number>();
  for (const pages of Object.values(state.iommufd.pages))
    for (const mfn of Object.values(pages.pinned)) pinned.set(mfn, (pinned.get(mfn) ?? 0) + 1);
  return pinned;
}

/** `access 4 (driver)` for an access's reach, `device 0` for an assigned device's. */
export function deviceName(deviceId: number): string {
  return deviceId >= 100 ? `access ${deviceId - 100}'s driver` : `device ${deviceId}`;
}
