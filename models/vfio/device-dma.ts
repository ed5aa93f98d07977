/**
 * DMA by an assigned (vfio-pci) device, through the translation its group's domain holds — the
 * translations VFIO programmed, read as an ideal IOMMU would (no IOTLB: the VT-d model adds
 * caching when the stacks wire the two together). On a noiommu container the device address is a
 * bus address: it lands on that frame, whoever owns it (no translation, no isolation: the
 * `vfio/noiommu` design).
 *
 * A device whose fd is not open is quiesced and performs no DMA (ENODEV); emulated devices have no
 * DMA of their own (their transfers go through the driver, see `ccw.ts`): ENOTTY. A DMA that meets
 * no translation, or a translation without the needed permission, is blocked by the IOMMU and
 * reported as a `fault` access; a bus address with no frame behind it is a `master-abort`.
 */
import type { VfioConfig } from './config.js';
import { deviceAt, domainOfGroup, err, ok, runOp, type1Backend } from './state.js';
import type { DmaAccess, VfioResult, VfioState } from './types.js';
import { isPageNumber } from './u64.js';

export interface DeviceDmaArgs {
  readonly deviceId: number;
  /** iova page (type1) or bus address page (noiommu). */
  readonly addressPage: number;
  readonly write: boolean;
}

/** Where a DMA of `deviceId` at `addressPage` would end, without performing it. */
export function resolveDeviceDma(state: VfioState, deviceId: number, addressPage: number, write: boolean): DmaAccess {
  const access = { deviceId, addressPage, write };
  const blocked = (outcome: 'fault' | 'master-abort'): DmaAccess => ({ ...access, outcome, mfn: null, owner: null });
  const device = state.devices[deviceId];
  if (device === undefined || !isPageNumber(addressPage)) return blocked('fault');
  if (state.container.backend?.kind === 'noiommu') {
    const frame = state.memory.frames[addressPage];
    if (frame === undefined) return blocked('master-abort');
    return { ...access, outcome: 'landed', mfn: frame.mfn, owner: frame.owner };
  }
  const backend = type1Backend(state);
  const domain = backend === null ? undefined : domainOfGroup(backend, device.groupId);
  const translation = domain?.translations[addressPage];
  if (translation === undefined || (write ? !translation.write : !translation.read)) return blocked('fault');
  const frame = state.memory.frames[translation.mfn];
  // No frame of host memory: the pfn of a BAR the VMM mapped for peer-to-peer DMA (`pfnmap.ts`),
  // memory of the guest's own assigned device.
  const owner = frame === undefined ? state.process.owner : frame.owner;
  return { ...access, outcome: 'landed', mfn: translation.mfn, owner };
}

/**
 * Why `args` names no DMA a device can perform: a closed device is quiesced (ENODEV), an emulated
 * device has no DMA of its own (ENOTTY). Null when the device may DMA. Shared with stacks that
 * translate the DMA through another IOMMU model.
 */
export function deviceDmaRefusal(state: VfioState, args: DeviceDmaArgs): string | null {
  const device = deviceAt(state, args.deviceId);
  if (device === undefined || !device.open) return 'ENODEV';
  if (device.kind !== 'pci') return 'ENOTTY';
  if (typeof args.write !== 'boolean') return 'EINVAL';
  return null;
}

/** The device performs one DMA read or write. */
export function deviceDma(state: VfioState, _config: VfioConfig, args: DeviceDmaArgs): VfioResult {
  return runOp(state, (ctx) => {
    const refusal = deviceDmaRefusal(state, args);
    if (refusal !== null) return err(refusal);
    const access = resolveDeviceDma(state, args.deviceId, args.addressPage, args.write);
    ctx.accesses.push(access);
    return ok({ outcome: access.outcome, mfn: access.mfn, owner: access.owner });
  });
}
