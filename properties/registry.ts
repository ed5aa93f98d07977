/**
 * The design registry: every built-in design, by id. Sound designs are expected to hold,
 * flawed ones to be caught.
 */
import type { AnyDesign } from '../src/design.js';
import {
  cmdbufScanInPlace,
  cmdbufScanThenCopy,
  cmdbufShadowCopy,
  gvtNoWriteProtect,
  gvtWriteProtect,
  kvmgt64kRemovalFirstPage,
  kvmgt64kSplitUnmasked,
  kvmgt64kSplitErrorKeepsSlots,
  kvmgt2mSizeChangeRemaps,
  kvmgt2mLookupIgnoresSize,
  kvmgt2mPinSkipsContiguity,
  kvmgt2mReleaseUnpins4k,
  kvmgt2mSplitErrorLeaks,
  kvmgtCacheAddErrorKeepsMap,
  kvmgtDestroyKeepsGgtt,
  kvmgtDmaMapErrorKeepsPin,
  kvmgtIgnoresUnmap,
  kvmgtNoGgttReset,
  kvmgtShippedFreeSkips2m,
  kvmgtShippedPopulateUnwind,
  kvmgtShippedUnmap,
  kvmgtTrackAddErrorKeepsRegistration,
  kvmgtUnmapCallback,
  kvmgtUnmapUnderCacheLock,
  kvmgtUnmapUnderIommuLock,
  kvmgtUnmapUnlocked,
} from './kvmgt/designs.js';
import { iommuLazy, iommuLazyHeld, iommuStrict, iommuUnpinBeforeSync } from './passthrough/designs.js';
import { passthroughLifecycleDesigns } from './passthrough/lifecycle-designs.js';
import { passthroughPasidDesigns } from './passthrough/pasid-designs.js';
import { passthroughCoherencyDesigns } from './passthrough/coherency-designs.js';
import { passthroughKdumpDesigns } from './passthrough/kdump-designs.js';
import { passthroughFirstLevelDesigns } from './passthrough/first-level-designs.js';
import {
  mdevIgnoresUnmap,
  mdevUnmapCallback,
  vfioMixed,
  vfioMixedUnmapSkipsUnpin,
  vfioNoiommu,
  vfioType1,
} from './vfio/designs.js';
import { viommuDifferential } from './viommu/differential/design.js';
import { iommufdDesigns } from './iommufd/designs.js';
import { type1IommufdDifferential } from './iommufd/differential/design.js';
import { iommufdDifferentialMutants, iommufdMutants } from './iommufd/mutants.js';
import {
  viommuNested,
  viommuNestedFlushLeavesCombined,
  viommuShadow,
  viommuShadowUnmapSkipsFlush,
  viommuShadowWaitBeforeUnmap,
  viommuContextClearKeepsShadow,
  viommuShadowSameDidSkipsSync,
  viommuNestedSameDidSkipsFlush,
  viommuTeOnKeepsNoDmar,
  viommuScalable,
  viommuPasidCacheIgnored,
  viommuPasidCacheGated,
} from './viommu/designs.js';
import { xenLookup, xenLookupThenMap, xenMap } from './xengt/designs.js';
import { xenGtGgttDesigns } from './xengt/ggtt-designs.js';
import { xenGtHuge2mDesigns } from './xengt/huge2m-designs.js';
import { xenGtLifecycleDesigns } from './xengt/lifecycle-designs.js';
import { xenPtDesigns } from './xenpt/designs.js';
import { xenPtMutants } from './xenpt/mutants.js';
import { xenPtPvDesigns } from './xenpt/pv-designs.js';
import { kvmgtInterleavingMutants, kvmgtMutants } from './kvmgt/mutants.js';
import { passthroughInterleavingMutants, passthroughMutants } from './passthrough/mutants.js';
import { vfioInterleavingMutants, vfioMutants } from './vfio/mutants.js';
import { vfioLifecycleDesigns } from './vfio/lifecycle-designs.js';
import { vfioExecDesigns } from './vfio/exec-designs.js';
import { vfioMemoryDesigns } from './vfio/memory-designs.js';
import { differentialMutants, viommuMutants } from './viommu/mutants.js';
import { xenGtMediatorMutants, xenGtMutants } from './xengt/mutants.js';

export const designs: readonly AnyDesign[] = [
  xenMap,
  xenLookup,
  xenLookupThenMap,
  ...xenGtLifecycleDesigns,
  ...xenGtGgttDesigns,
  ...xenGtHuge2mDesigns,
  vfioType1,
  vfioNoiommu,
  iommuStrict,
  iommuLazy,
  iommuLazyHeld,
  iommuUnpinBeforeSync,
  ...passthroughLifecycleDesigns,
  ...passthroughPasidDesigns,
  ...passthroughCoherencyDesigns,
  ...passthroughKdumpDesigns,
  ...passthroughFirstLevelDesigns,
  mdevUnmapCallback,
  mdevIgnoresUnmap,
  vfioMixed,
  vfioMixedUnmapSkipsUnpin,
  ...vfioLifecycleDesigns,
  ...vfioMemoryDesigns,
  ...vfioExecDesigns,
  gvtWriteProtect,
  gvtNoWriteProtect,
  cmdbufShadowCopy,
  cmdbufScanInPlace,
  cmdbufScanThenCopy,
  kvmgtUnmapCallback,
  kvmgtIgnoresUnmap,
  kvmgtShippedUnmap,
  kvmgtUnmapUnderCacheLock,
  kvmgtUnmapUnlocked,
  kvmgtDmaMapErrorKeepsPin,
  kvmgtCacheAddErrorKeepsMap,
  kvmgtDestroyKeepsGgtt,
  kvmgtNoGgttReset,
  kvmgtTrackAddErrorKeepsRegistration,
  kvmgtShippedPopulateUnwind,
  kvmgtUnmapUnderIommuLock,
  kvmgt64kRemovalFirstPage,
  kvmgt64kSplitUnmasked,
  kvmgt64kSplitErrorKeepsSlots,
  kvmgt2mSizeChangeRemaps,
  kvmgt2mLookupIgnoresSize,
  kvmgt2mPinSkipsContiguity,
  kvmgt2mReleaseUnpins4k,
  kvmgt2mSplitErrorLeaks,
  kvmgtShippedFreeSkips2m,
  viommuShadow,
  viommuNested,
  viommuShadowUnmapSkipsFlush,
  viommuNestedFlushLeavesCombined,
  viommuShadowWaitBeforeUnmap,
  viommuContextClearKeepsShadow,
  viommuShadowSameDidSkipsSync,
  viommuNestedSameDidSkipsFlush,
  viommuTeOnKeepsNoDmar,
  viommuScalable,
  viommuPasidCacheIgnored,
  viommuPasidCacheGated,
  viommuDifferential,
  ...xenPtDesigns,
  ...xenPtPvDesigns,
  ...iommufdDesigns,
  type1IommufdDifferential,
];

/**
 * Every mutant: a sound design with one deliberate bug, for the meta-tests (each must be caught)
 * and for the engine tests that want every code path the bugs take.
 */
export const mutants: readonly AnyDesign[] = [
  ...xenGtMutants,
  ...xenGtMediatorMutants,
  ...vfioMutants,
  ...vfioInterleavingMutants,
  ...passthroughMutants,
  ...passthroughInterleavingMutants,
  ...viommuMutants,
  ...differentialMutants,
  ...kvmgtMutants,
  ...kvmgtInterleavingMutants,
  ...xenPtMutants,
  ...iommufdMutants,
  ...iommufdDifferentialMutants,
];

export function findDesign(id: string): AnyDesign | undefined {
  return designs.find((design) => design.id === id);
}
