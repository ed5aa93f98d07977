/**
 * The design registry: every built-in design, by id. Sound designs are expected to hold,
 * flawed ones to be caught.
 */
import type { AnyDesign } from '../src/design.js';
import {
  cmdbufScanInPlace,
  cmdbufShadowCopy,
  gvtNoWriteProtect,
  gvtWriteProtect,
  kvmgtIgnoresUnmap,
  kvmgtShippedUnmap,
  kvmgtUnmapCallback,
} from './kvmgt/designs.js';
import { iommuLazy, iommuLazyHeld, iommuStrict } from './passthrough/designs.js';
import { mdevIgnoresUnmap, mdevUnmapCallback, vfioNoiommu, vfioType1 } from './vfio/designs.js';
import { viommuDifferential } from './viommu/differential/design.js';
import {
  viommuNested,
  viommuNestedFlushLeavesCombined,
  viommuShadow,
  viommuShadowUnmapSkipsFlush,
} from './viommu/designs.js';
import { xenLookup, xenMap } from './xengt/designs.js';

export const designs: readonly AnyDesign[] = [
  xenMap,
  xenLookup,
  vfioType1,
  vfioNoiommu,
  iommuStrict,
  iommuLazy,
  iommuLazyHeld,
  mdevUnmapCallback,
  mdevIgnoresUnmap,
  gvtWriteProtect,
  gvtNoWriteProtect,
  cmdbufShadowCopy,
  cmdbufScanInPlace,
  kvmgtUnmapCallback,
  kvmgtIgnoresUnmap,
  kvmgtShippedUnmap,
  viommuShadow,
  viommuNested,
  viommuShadowUnmapSkipsFlush,
  viommuNestedFlushLeavesCombined,
  viommuDifferential,
];

export function findDesign(id: string): AnyDesign | undefined {
  return designs.find((design) => design.id === id);
}
