/**
 * Commands of the passthrough stack over iommufd as the tests write them out, on the world's IOAS
 * (1), access (4) and device 0 (`properties/iommufd/world.ts`).
 */
import type { IommufdPtCommand } from '../../models/iommufd-pt/types.js';

/** Page `n` in bytes, as the ioctls' u64 strings. */
export const page = (n: number): string => String(n * 4096);

/** IOAS_MAP FIXED_IOVA | READABLE | WRITEABLE of guest RAM page `vaddr` (16 + n) at IOVA page `iova`. */
export const map = (iova: number, npages = 1, vaddr = 16 + iova): IommufdPtCommand => ({
  kind: 'ioasMap',
  ioasId: 1,
  flags: 7,
  userVa: page(vaddr),
  iova: page(iova),
  length: page(npages),
});

export const unmap = (iova: number, npages = 1): IommufdPtCommand => ({
  kind: 'ioasUnmap',
  ioasId: 1,
  iova: page(iova),
  length: page(npages),
});

/** The access's driver pins `npages` for writing at IOVA page `iova`. */
export const pin = (iova: number, npages = 1): IommufdPtCommand => ({
  kind: 'accessPinPages',
  accessId: 4,
  iova: page(iova),
  length: page(npages),
  write: true,
});

/** Device 0 writes at IOVA page `iovaPage`. */
export const dma = (iovaPage: number): IommufdPtCommand => ({
  kind: 'deviceDma',
  deviceIndex: 0,
  iovaPage,
  write: true,
});
