/**
 * The iommufd stack seen as the type1 passthrough stack's state (`PassthroughState`), so that the
 * type1 stack's forwarding (`forwardEffects`), reach (`computeIommuReach`) and page-table checks
 * (`iommuDisagreements`) run on it unchanged instead of being copied. The view's VFIO part is a
 * shim: the host memory and the process are iommufd's own objects; the devices are the world's
 * physical devices (device `i` is VFIO device `i`, source-id `sourceIdOf(i)`, in its IOMMU group),
 * each a vfio-pci device whose hardware issues DMA whether or not its cdev is bound; there is no
 * type1 container, unless `expectedDomains` is asked for: then the container's type1 backend holds
 * one domain per paging hwpt with what that hwpt's domain must translate (the IOAS's areas,
 * iommufd's views.ts `expectedDomainContent`), for `iommuDisagreements` to compare with VT-d.
 */
import type { IommufdConfig } from '../iommufd/config.js';
import { expectedDomainContent } from '../iommufd/views.js';
import type { IommufdState } from '../iommufd/types.js';
import type { PassthroughState } from '../passthrough/types.js';
import type { Type1Backend, VfioDomain, VfioState } from '../vfio/types.js';
import type { IommufdPtState } from './types.js';

function expectedBackend(state: IommufdState): Type1Backend {
  const domains: VfioDomain[] = [];
  for (const object of Object.values(state.objects)) {
    if (object.type !== 'hwpt_paging') continue;
    domains.push({ id: object.id, groupIds: [], translations: expectedDomainContent(state, object.id) });
  }
  return {
    kind: 'type1',
    v2: true,
    nesting: false,
    domains,
    emulatedGroupIds: [],
    deviceIds: [],
    dmas: [],
    dmaAvail: 0,
    dmaEntryLimit: 0,
    vaddrInvalidCount: 0,
    iovaListEmpty: false,
  };
}

/** The VFIO shim over iommufd's memory and process. */
export function vfioShim(state: IommufdState, config: IommufdConfig, expectedDomains = false): VfioState {
  return {
    memory: state.memory,
    process: state.process,
    otherAllocations: [],
    groups: [],
    devices: config.devices.map((spec, id) => ({
      id,
      groupId: spec.groupId,
      kind: 'pci',
      open: true,
      pins: {},
      io: null,
    })),
    container: { groupIds: [], noiommu: false, backend: expectedDomains ? expectedBackend(state) : null },
    params: { dmaEntryLimit: 0, allowUnsafeInterrupts: false },
    faultInjection: null,
    crash: null,
    inflight: [],
  };
}

const views = new WeakMap<IommufdPtState, PassthroughState>();

/**
 * The finished state as a passthrough state with the expected domains (memoized: call it on states
 * a step has returned, never on a draft).
 */
export function passthroughView(state: IommufdPtState, config: IommufdConfig): PassthroughState {
  const known = views.get(state);
  if (known !== undefined) return known;
  const view: PassthroughState = {
    vfio: vfioShim(state.iommufd, config, true),
    iommu: state.iommu,
    dids: state.dids,
    held: state.held,
  };
  views.set(state, view);
  return view;
}
