/**
 * The VFIO records keyed by iova page that a step rarely writes, copied on write
 * (`../copy-on-write.ts`): a domain's translations (a map or an unmap writes them), a mapping's
 * external pins and a mediated device's own pin record (a driver's pin or unpin). A copy of the
 * state shares them (`cloneVfioState`); a write goes through the functions below, which give the
 * draft its own copy first. Their types make them read-only elsewhere.
 */
import { unshared } from '../copy-on-write.js';
import type { Translation, VfioDevice, VfioDma, VfioDomain, VfioPfn } from './types.js';

/** An external pin the caller may edit in place. */
export type WritablePfn = { -readonly [K in keyof VfioPfn]: VfioPfn[K] };

/** The domain's translations, to edit in place. */
export function writableTranslations(domain: VfioDomain): Record<string, Translation> {
  const own = unshared(domain.translations, (translations) => ({ ...translations }));
  domain.translations = own;
  return own;
}

function copyExternalPins(pins: VfioDma['externalPins']): Record<string, WritablePfn> {
  const copy: Record<string, WritablePfn> = {};
  for (const key in pins) {
    const pin = pins[key] as VfioPfn;
    copy[key] = { mfn: pin.mfn, refCount: pin.refCount };
  }
  return copy;
}

/** The mapping's external pins (`pfn_list`), to edit in place, each pin too. */
export function writableExternalPins(dma: VfioDma): Record<string, WritablePfn> {
  const own = unshared(dma.externalPins, copyExternalPins);
  dma.externalPins = own;
  return own;
}

/** The driver's own pin record of the device, to edit in place. */
export function writableDevicePins(device: VfioDevice): Record<string, number> {
  const own = unshared(device.pins, (pins) => ({ ...pins }));
  device.pins = own;
  return own;
}
