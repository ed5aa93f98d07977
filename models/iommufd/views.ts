/**
 * Read-only views a stack needs: where a bound device's DMA goes. A device translates through its
 * group's hwpt; a nested hwpt is modelled by its parent's stage-2 content (the selftest mock's
 * stage 1 is an opaque iotlb value, no translation).
 * Reference: docs/reference/iommufd.md §4.3.
 */
import type { IommufdConfig } from './config.js';
import type { IommufdState, Translation } from './types.js';

/** The translation `deviceIndex`'s DMA to `iovaPage` uses, or null (not attached, or not mapped: a fault). */
export function deviceTranslation(
  state: IommufdState,
  config: IommufdConfig,
  deviceIndex: number,
  iovaPage: number,
): Translation | null {
  const spec = config.devices[deviceIndex];
  const deviceId = state.boundDevices[deviceIndex];
  if (spec === undefined || deviceId === undefined) return null;
  const group = state.groups[spec.groupId];
  // The whole group follows its attachment (iommu_attach_group), attached device or not.
  if (group === undefined || group.hwptId === null) return null;
  let hwpt = state.objects[group.hwptId];
  if (hwpt?.type === 'hwpt_nested') hwpt = state.objects[hwpt.parentId];
  if (hwpt?.type !== 'hwpt_paging') return null;
  return hwpt.translations[iovaPage] ?? null;
}
