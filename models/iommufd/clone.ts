/**
 * The copy of the iommufd state a step runs on (issue 23), written out field by field: it was a
 * `structuredClone`, most of a step's cost. The parts a step rarely writes are shared with the
 * input and copied on their first write (`../copy-on-write.ts`): the host memory's frames
 * (`cloneHostMemory`), the process's page table (`../vfio/process-pages.ts`), and each paging
 * hwpt's translations (`writableTranslations` below), keyed by iova page (page 511 makes V8 store
 * them as an array of 512 slots). Everything else is small and written by most steps: copied.
 *
 * A field added to a type of `types.ts` must be added here: `test/iommufd/clone.test.ts` compares
 * each copy with what it copies along walks of the explore scope, and fails on a field it does not
 * know.
 */
import { share, unshared } from '../copy-on-write.js';
import { cloneHostMemory } from '../memory/frames.js';
import type { Translation } from '../vfio/types.js';
import type {
  AccessObject,
  HwptPagingObject,
  IoasObject,
  IommufdGroup,
  IommufdObject,
  IommufdState,
  IoptArea,
  IoptPages,
} from './types.js';

/** The hwpt's translations, to edit in place: its own copy first, if another state shares them. */
export function writableTranslations(hwpt: HwptPagingObject): Record<string, Translation> {
  const own = unshared(hwpt.translations, (translations): Record<string, Translation> => ({ ...translations }));
  hwpt.translations = own;
  return own;
}

function cloneArea(area: IoptArea): IoptArea {
  return {
    iovaPage: area.iovaPage,
    npages: area.npages,
    pagesId: area.pagesId,
    pageIndex: area.pageIndex,
    read: area.read,
    write: area.write,
    numAccesses: area.numAccesses,
    preventAccess: area.preventAccess,
  };
}

function cloneIoas(ioas: IoasObject): IoasObject {
  return {
    id: ioas.id,
    users: ioas.users,
    type: ioas.type,
    areas: ioas.areas.map(cloneArea),
    // Their entries are read-only: added and removed, never edited in place.
    allowed: [...ioas.allowed],
    reserved: [...ioas.reserved],
    domainHwptIds: [...ioas.domainHwptIds],
    hwptIds: [...ioas.hwptIds],
    accessIds: [...ioas.accessIds],
    disableLargePages: ioas.disableLargePages,
  };
}

function cloneHwptPaging(hwpt: HwptPagingObject): HwptPagingObject {
  return {
    id: hwpt.id,
    users: hwpt.users,
    type: hwpt.type,
    ioasId: hwpt.ioasId,
    iommu: hwpt.iommu,
    autoDomain: hwpt.autoDomain,
    nestParent: hwpt.nestParent,
    enforceCacheCoherency: hwpt.enforceCacheCoherency,
    pgsizeBitmap: hwpt.pgsizeBitmap,
    // Read-only: replaced whole, never edited.
    aperture: hwpt.aperture,
    // Copied on its first write (`writableTranslations`).
    translations: share(hwpt.translations),
  };
}

function cloneAccess(access: AccessObject): AccessObject {
  return {
    id: access.id,
    users: access.users,
    type: access.type,
    needsPinPages: access.needsPinPages,
    ioasId: access.ioasId,
    // A pin is read-only (its frames too): pins are added and removed, never edited.
    pins: [...access.pins],
  };
}

function cloneObject(object: IommufdObject): IommufdObject {
  switch (object.type) {
    case 'ioas':
      return cloneIoas(object);
    case 'hwpt_paging':
      return cloneHwptPaging(object);
    case 'hwpt_nested':
      return {
        id: object.id,
        users: object.users,
        type: object.type,
        parentId: object.parentId,
        iommu: object.iommu,
        iotlb: object.iotlb,
      };
    case 'device':
      return { id: object.id, users: object.users, type: object.type, deviceIndex: object.deviceIndex };
    case 'access':
      return cloneAccess(object);
  }
}

function cloneCounts(counts: Record<string, number>): Record<string, number> {
  const copy: Record<string, number> = {};
  for (const key in counts) copy[key] = counts[key] as number;
  return copy;
}

function clonePages(pages: IoptPages): IoptPages {
  return {
    id: pages.id,
    vaddrPage: pages.vaddrPage,
    npages: pages.npages,
    writable: pages.writable,
    accountMode: pages.accountMode,
    users: pages.users,
    // Page indexes of one map (a few pages): small, and written by most steps that touch the pages.
    pinned: cloneCounts(pages.pinned),
    accessUsers: cloneCounts(pages.accessUsers),
  };
}

function cloneGroup(group: IommufdGroup): IommufdGroup {
  return { hwptId: group.hwptId, deviceIds: [...group.deviceIds] };
}

export function cloneIommufdState(state: IommufdState): IommufdState {
  const objects: IommufdState['objects'] = {};
  for (const key in state.objects) objects[key] = cloneObject(state.objects[key] as IommufdObject);
  const pages: IommufdState['pages'] = {};
  for (const key in state.pages) pages[key] = clonePages(state.pages[key] as IoptPages);
  const groups: IommufdState['groups'] = {};
  for (const key in state.groups) groups[key] = cloneGroup(state.groups[key] as IommufdGroup);
  return {
    memory: cloneHostMemory(state.memory),
    // The process is the type1 model's type (`VmmProcess`): spread, so that a field it gains is
    // kept; its page table is copied on its first write (`../vfio/process-pages.ts`).
    process: { ...state.process, pages: share(state.process.pages) },
    accountMode: state.accountMode,
    openedAsVfio: state.openedAsVfio,
    userLockedVmPages: state.userLockedVmPages,
    pinnedVmPages: state.pinnedVmPages,
    objects,
    pages,
    nextPagesId: state.nextPagesId,
    vfioIoasId: state.vfioIoasId,
    groups,
    boundDevices: cloneCounts(state.boundDevices),
  };
}
