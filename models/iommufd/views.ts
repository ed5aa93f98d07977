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

/**
 * What a paging hwpt's domain must translate (§3.9): every area of its IOAS, page → the pinned
 * frame with the area's prot, while the domain is in the IOAS's `iopt->domains`; nothing once it
 * is not. A stack compares `hwpt.translations` with this after every step.
 */
export function expectedDomainContent(state: IommufdState, hwptId: number): Record<string, Translation> {
  const hwpt = state.objects[hwptId];
  const content: Record<string, Translation> = {};
  if (hwpt?.type !== 'hwpt_paging') return content;
  const ioas = state.objects[hwpt.ioasId];
  if (ioas?.type !== 'ioas' || !ioas.domainHwptIds.includes(hwpt.id)) return content;
  for (const area of ioas.areas) {
    const pages = state.pages[area.pagesId];
    for (let i = 0; i < area.npages; i++) {
      const mfn = pages?.pinned[area.pageIndex + i];
      if (mfn !== undefined) content[area.iovaPage + i] = { mfn, read: area.read, write: area.write };
    }
  }
  return content;
}

/** The frames the state holds a reference on, with how many: process pages and pins (frames.ts accounting). */
export function frameHolders(state: IommufdState): Map<number, number> {
  const holders = new Map<number, number>();
  const add = (mfn: number): void => void holders.set(mfn, (holders.get(mfn) ?? 0) + 1);
  for (const page of Object.values(state.process.pages)) if (page.mfn !== null) add(page.mfn);
  for (const pages of Object.values(state.pages)) for (const mfn of Object.values(pages.pinned)) add(mfn);
  return holders;
}
