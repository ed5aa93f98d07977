/** Every design of this repository, one stack after another: what the config and the tests check. */
import type { AnyDesign } from 'dmaprop';
import { kvmgtFlushRange, kvmgtFlushWholeCache } from './kvmgt.js';
import { passthroughTwoDomainsHeld, passthroughTwoDomainsLazy } from './passthrough.js';
import { vfioTwoMdevs, vfioTwoMdevsForeignUnpin } from './vfio.js';
import { viommuBalloonAware, viommuBalloonAwareVsNested, viommuBalloonOnly, viommuStockShadow } from './viommu.js';
import { xengtMapForReference, xengtReleaseFirstFound } from './xengt.js';

export const exampleDesigns: readonly AnyDesign[] = [
  xengtMapForReference,
  xengtReleaseFirstFound,
  kvmgtFlushRange,
  kvmgtFlushWholeCache,
  passthroughTwoDomainsHeld,
  passthroughTwoDomainsLazy,
  vfioTwoMdevs,
  vfioTwoMdevsForeignUnpin,
  viommuBalloonAware,
  viommuStockShadow,
  viommuBalloonOnly,
  viommuBalloonAwareVsNested,
];
