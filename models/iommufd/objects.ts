/**
 * The object table (`ictx->objects`, an xarray with XA_FLAGS_ALLOC1): ids from 1, the lowest free
 * id first (xa_alloc), typed look-up, and the removal rule of IOMMU_DESTROY.
 * Reference: docs/reference/iommufd.md §2.1.
 *
 * Sources (v6.12 main.c): _iommufd_object_alloc (xa_alloc of XA_ZERO_ENTRY, finalize stores the
 * object; an aborted object gives its id back), iommufd_get_object (missing id, or an object of
 * another type → -ENOENT), iommufd_object_remove (-ENOENT when absent, -EBUSY unless the xarray
 * holds the only `users` reference; clears `ictx->vfio_ioas` when it was that IOAS).
 */
import { refuse } from './refusal.js';
import type { IommufdObject, IommufdObjectType, IommufdState } from './types.js';

/** The id xa_alloc hands out next: the lowest free id from 1. */
export function nextObjectId(state: IommufdState): number {
  let id = 1;
  while (state.objects[id] !== undefined) id += 1;
  return id;
}

/** Stores a new object under the next id (alloc + finalize; the model has no half-made objects). */
export function insertObject<T extends IommufdObject>(state: IommufdState, make: (id: number) => T): T {
  const object = make(nextObjectId(state));
  state.objects[object.id] = object;
  return object;
}

type ObjectOf<K extends IommufdObjectType> = Extract<IommufdObject, { type: K }>;

/** iommufd_get_object(ictx, id, type): the object, or -ENOENT (absent, or of another type). */
export function getObject<K extends IommufdObjectType>(state: IommufdState, id: unknown, type: K): ObjectOf<K> {
  const object = typeof id === 'number' ? state.objects[id] : undefined;
  if (object === undefined || object.type !== type) refuse('ENOENT');
  return object as ObjectOf<K>;
}

/** iommufd_get_object(ictx, id, IOMMUFD_OBJ_ANY). */
export function getAnyObject(state: IommufdState, id: unknown): IommufdObject {
  const object = typeof id === 'number' ? state.objects[id] : undefined;
  if (object === undefined) refuse('ENOENT');
  return object;
}

/** The object `id` of type `type` if present (no refusal). */
export function findObject<K extends IommufdObjectType>(
  state: IommufdState,
  id: number | null,
  type: K,
): ObjectOf<K> | undefined {
  if (id === null) return undefined;
  const object = state.objects[id];
  return object?.type === type ? (object as ObjectOf<K>) : undefined;
}

/**
 * The xarray part of iommufd_object_remove: -ENOENT when `id` is absent, -EBUSY when anything but
 * the xarray holds a reference; else the object leaves the table (the caller runs its destroy).
 */
export function removeObject(state: IommufdState, id: unknown): IommufdObject {
  const object = getAnyObject(state, id);
  if (object.users !== 1) refuse('EBUSY');
  object.users = 0;
  delete state.objects[object.id];
  if (state.vfioIoasId === object.id) state.vfioIoasId = null;
  return object;
}

/** Every object of `type`, in id order (xa_for_each). */
export function objectsOfType<K extends IommufdObjectType>(state: IommufdState, type: K): ObjectOf<K>[] {
  return Object.values(state.objects)
    .filter((object): object is ObjectOf<K> => object.type === type)
    .sort((a, b) => a.id - b.id);
}
