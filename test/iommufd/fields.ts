/**
 * The fields of each record of the stack over iommufd that a written-out copy
 * (`models/iommufd/clone.ts`) or a hand-written fingerprint (`properties/iommufd/state-fingerprint.ts`)
 * names one by one (optional ones too), and a walk that reports every field of a state outside
 * them: a field added to a type and forgotten by either fails the tests that walk reachable
 * states with it.
 */
import type { IommufdState } from '../../models/iommufd/types.js';
import type { IommufdPtState } from '../../models/iommufd-pt/types.js';

export const KNOWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  stack: ['iommufd', 'iommu', 'dids', 'held', 'otherFrames'],
  state: [
    'memory',
    'process',
    'accountMode',
    'openedAsVfio',
    'userLockedVmPages',
    'pinnedVmPages',
    'objects',
    'pages',
    'nextPagesId',
    'vfioIoasId',
    'groups',
    'boundDevices',
  ],
  ioas: [
    'id',
    'users',
    'type',
    'areas',
    'allowed',
    'reserved',
    'domainHwptIds',
    'hwptIds',
    'accessIds',
    'disableLargePages',
  ],
  area: ['iovaPage', 'npages', 'pagesId', 'pageIndex', 'read', 'write', 'numAccesses', 'preventAccess'],
  hwpt_paging: [
    'id',
    'users',
    'type',
    'ioasId',
    'iommu',
    'autoDomain',
    'nestParent',
    'enforceCacheCoherency',
    'pgsizeBitmap',
    'aperture',
    'translations',
  ],
  hwpt_nested: ['id', 'users', 'type', 'parentId', 'iommu', 'iotlb'],
  device: ['id', 'users', 'type', 'deviceIndex'],
  access: ['id', 'users', 'type', 'needsPinPages', 'ioasId', 'pins'],
  pages: ['id', 'vaddrPage', 'npages', 'writable', 'accountMode', 'users', 'pinned', 'accessUsers'],
  group: ['hwptId', 'deviceIds'],
  // Other models' records the fingerprint writes field by field.
  memory: ['frames', 'freeList', 'policy', 'randomSeed', 'allocCount'],
  process: [
    'owner',
    'pages',
    'lockedVmPages',
    'memlockLimitPages',
    'capIpcLock',
    'addressSpaceLimitPages',
    'zeroMfn',
    'mm',
    'lastExecShiftPages',
  ],
  iommu: [
    'caps',
    'domains',
    'contexts',
    'tables',
    'iotlb',
    'flat',
    'nextFlushSeq',
    'unsynced',
    'requests',
    'pasidCache',
    'contextCache',
    'unflushed',
  ],
};

function unknownFields(record: object, kind: string): string[] {
  const known = KNOWN_FIELDS[kind] ?? [];
  return Object.keys(record)
    .filter((key) => !known.includes(key))
    .map((key) => `${kind}.${key}`);
}

/** Every field of the iommufd state's records outside `KNOWN_FIELDS`. */
export function unknownIommufdFields(state: IommufdState): string[] {
  const missed = unknownFields(state, 'state');
  missed.push(...unknownFields(state.memory, 'memory'), ...unknownFields(state.process, 'process'));
  for (const object of Object.values(state.objects)) {
    missed.push(...unknownFields(object, object.type));
    if (object.type === 'ioas') for (const area of object.areas) missed.push(...unknownFields(area, 'area'));
  }
  for (const pages of Object.values(state.pages)) missed.push(...unknownFields(pages, 'pages'));
  for (const group of Object.values(state.groups)) missed.push(...unknownFields(group, 'group'));
  return missed;
}

/** Every field of the stack's state outside `KNOWN_FIELDS`. */
export function unknownStackFields(state: IommufdPtState): string[] {
  return [
    ...unknownFields(state, 'stack'),
    ...unknownIommufdFields(state.iommufd),
    ...unknownFields(state.iommu, 'iommu'),
  ];
}
