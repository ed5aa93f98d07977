/**
 * The iommufd model's step: `(state, config, command) → { state, result }`, pure. The command runs
 * on a copy; a refusal answers the errno name with the caller's state unchanged, except the
 * refusals the source leaves effects behind for (`Refusal.keep`, refusal.ts). It never throws for
 * a request, however malformed; an `Error` from inside is a bug of the model itself.
 * Reference: docs/reference/iommufd.md §7.
 *
 * Sources (v6.12): main.c iommufd_fops_ioctl / iommufd_destroy / iommufd_object_remove and each
 * object's destroy op (iommufd_ioas_destroy: unmap all; iommufd_hwpt_paging_destroy: the domain
 * leaves its IOAS; iommufd_hwpt_nested_destroy: the parent's reference goes); the VFIO
 * group path drivers/vfio/group.c vfio_group_ioctl_set_container and drivers/vfio/iommufd.c
 * vfio_iommufd_compat_attach_ioas.
 */
import type { IommufdCommand } from './commands.js';
import type { IommufdConfig } from './config.js';
import {
  accessAttach,
  accessCreate,
  accessDestroy,
  accessDetach,
  accessPinPages,
  accessReplace,
  accessRw,
  accessUnpinHeld,
  accessUnpinPages,
} from './access.js';
import { deviceAttach, deviceBind, deviceDetach, deviceUnbind } from './device.js';
import { destroyHwpt, hwptAlloc } from './hwpt.js';
import { unmapAll } from './io-pagetable.js';
import {
  ioasAllowIovas,
  ioasAlloc,
  ioasCopy,
  ioasIovaRanges,
  ioasMap,
  ioasUnmap,
  option,
  pageArg,
  u64Arg,
} from './ioas.js';
import { getObject, objectsOfType, removeObject } from './objects.js';
import { reserveIova } from './iova.js';
import { mmap, munmap } from './process.js';
import { cloneIommufdState } from './clone.js';
import { collectEffects } from './effects.js';
import { Refusal } from './refusal.js';
import type { IommufdState, IommufdStepResult } from './types.js';
import {
  checkExtension,
  compatGetInfo,
  compatIoas,
  compatIoasCreate,
  compatMapDma,
  compatUnmapDma,
  setIommu,
  vfioIoas,
} from './vfio-compat.js';
import type { ResultDetail } from '../result.js';
import type { TranslationEffect } from '../vfio/types.js';

/** IOMMU_DESTROY: iommufd_object_remove, then the object's destroy op. */
function destroy(state: IommufdState, config: IommufdConfig, id: unknown): void {
  const object = removeObject(state, id);
  switch (object.type) {
    case 'ioas':
      if (config.hooks.ioasDestroyUnmaps(object)) unmapAll(state, config, object);
      return;
    case 'hwpt_paging':
    case 'hwpt_nested':
      destroyHwpt(state, config, object);
      return;
    case 'device':
    case 'access':
      // Never reached: their driver's reference keeps users above 1 (EBUSY above).
      return;
  }
}

/**
 * The VMM exits and every fd it held closes: each VFIO device cdev's release detaches and unbinds
 * its device (vfio_df_iommufd_unbind), each emulated device's driver destroys its access
 * (iommufd_access_destroy), then /dev/iommu's release (iommufd_fops_release) destroys what is
 * left, each object once nothing else holds it (an IOAS after the hwpts that hold it).
 */
function vmmExit(state: IommufdState, config: IommufdConfig): void {
  for (const device of objectsOfType(state, 'device')) deviceUnbind(state, config, device.deviceIndex);
  for (const access of objectsOfType(state, 'access')) accessDestroy(state, config, access.id);
  for (;;) {
    const free = Object.values(state.objects)
      .filter((object) => object.users === 1)
      .sort((left, right) => left.id - right.id)[0];
    if (free === undefined) return;
    destroy(state, config, free.id);
  }
}

function run(state: IommufdState, config: IommufdConfig, command: IommufdCommand): ResultDetail {
  switch (command.kind) {
    case 'mmap':
      mmap(state, command.vaddrPage, command.npages, command.writable);
      return {};
    case 'munmap':
      munmap(state, command.vaddrPage, command.npages);
      return {};
    case 'destroy':
      destroy(state, config, command.id);
      return {};
    case 'ioasAlloc':
      return ioasAlloc(state, command.flags);
    case 'ioasMap':
      return ioasMap(state, config, command);
    case 'ioasUnmap':
      return ioasUnmap(state, config, command);
    case 'ioasCopy':
      return ioasCopy(state, config, command);
    case 'ioasIovaRanges':
      return ioasIovaRanges(state, command);
    case 'ioasAllowIovas':
      ioasAllowIovas(state, command);
      return {};
    case 'option':
      return option(state, config, command);
    case 'hwptAlloc':
      return { hwptId: hwptAlloc(state, config, command) };
    case 'vfioIoas':
      return vfioIoas(state, command.op, command.ioasId);
    case 'deviceBind':
      return { devId: deviceBind(state, config, command.deviceIndex, command.flags) };
    case 'deviceUnbind':
      deviceUnbind(state, config, command.deviceIndex);
      return {};
    case 'vmmExit':
      vmmExit(state, config);
      return {};
    case 'deviceAttach':
      return { ptId: deviceAttach(state, config, command.deviceIndex, command.ptId, command.flags) };
    case 'deviceDetach':
      deviceDetach(state, config, command.deviceIndex, command.flags);
      return {};
    case 'accessCreate':
      return { accessId: accessCreate(state, command.needsPinPages) };
    case 'accessAttach':
      accessAttach(state, config, command.accessId, command.ioasId);
      return {};
    case 'accessReplace':
      accessReplace(state, config, command.accessId, command.ioasId);
      return {};
    case 'accessDetach':
      accessDetach(state, config, command.accessId);
      return {};
    case 'accessDestroy':
      accessDestroy(state, config, command.accessId);
      return {};
    case 'accessPinPages':
      return { mfns: accessPinPages(state, config, command).join(',') };
    case 'accessUnpinPages':
      accessUnpinPages(state, config, command);
      return {};
    case 'accessUnpinHeld':
      accessUnpinHeld(state, config, command.accessId, command.pin);
      return {};
    case 'accessRw':
      return { mfns: accessRw(state, command).join(',') };
    case 'vfioGroupSetContainer':
      return { ioasId: compatIoasCreate(state) };
    case 'vfioGroupOpenDevice': {
      const devId = deviceBind(state, config, command.deviceIndex, 0);
      const ptId = deviceAttach(state, config, command.deviceIndex, compatIoas(state).id, 0);
      return { devId, ptId };
    }
    case 'vfioCheckExtension':
      return { value: checkExtension(state, command.extension) };
    case 'vfioSetIommu':
      setIommu(state, command.type);
      return {};
    case 'vfioMapDma':
      return compatMapDma(state, config, command);
    case 'vfioUnmapDma':
      return compatUnmapDma(state, config, command);
    case 'vfioGetInfo':
      return compatGetInfo(state, command.argsz);
    case 'testAddReserved':
      testAddReserved(state, command.ioasId, command.start, command.length);
      return {};
    case 'vfioDirtyPages':
      // iommufd_vfio_ioctl: VFIO_IOMMU_DIRTY_PAGES → -ENOIOCTLCMD, seen as ENOTTY.
      return refuseNotty();
  }
}

/** selftest.c iommufd_test_add_reserved: iopt_reserve_iova(start, start + length - 1, NULL). */
function testAddReserved(state: IommufdState, ioasId: unknown, start: string, length: string): void {
  const ioas = getObject(state, ioasId, 'ioas');
  const firstPage = pageArg(u64Arg(start));
  const npages = pageArg(u64Arg(length));
  reserveIova(ioas, { firstPage, lastPage: firstPage + npages - 1 }, 'test');
}

function refuseNotty(): never {
  throw new Refusal('ENOTTY');
}

/** The pure step. */
export function iommufdStep(state: IommufdState, config: IommufdConfig, command: IommufdCommand): IommufdStepResult {
  const next = cloneIommufdState(state);
  const effects: TranslationEffect[] = [];
  try {
    const detail = collectEffects(effects, () => run(next, config, command));
    return { state: next, result: { ok: true, detail }, effects };
  } catch (caught) {
    if (!(caught instanceof Refusal)) throw caught;
    const result =
      caught.detail === undefined
        ? { ok: false, error: caught.errno }
        : { ok: false, error: caught.errno, detail: caught.detail };
    if (caught.keep && caught.partial)
      return { state: next, result: { ...result, detail: { ...caught.detail, partial: true } }, effects };
    if (caught.keep) return { state: next, result, effects };
    return { state, result, effects: [] };
  }
}
