/** One line per operation of the type1 ↔ iommufd differential, and the shape of each. */
import type { VmmOp } from '../../../models/iommufd-pt/pair.js';
import type { CommandProblem } from '../../../src/design.js';
import { commandValidator, pageCount, pageNumber, u32, upTo } from '../../generic/command-schema.js';

function bytes(value: string): string {
  if (!/^\d+$/.test(value)) return value;
  const big = BigInt(value);
  return big % 4096n === 0n && big < 2n ** 60n ? `page ${big / 4096n}` : value;
}

export function formatVmmOp(op: VmmOp): string {
  switch (op.kind) {
    case 'startVm':
      return `VMM start-up: ${['SET_CONTAINER', `SET_IOMMU(${op.type})`, 'device open'].slice(0, op.steps).join(', ')}`;
    case 'setContainer':
      return 'VFIO_GROUP_SET_CONTAINER';
    case 'setIommu':
      return `VFIO_SET_IOMMU(${op.type})`;
    case 'openDevice':
      return 'VFIO_GROUP_GET_DEVICE_FD';
    case 'mapDma':
      return `MAP_DMA vaddr ${bytes(op.vaddr)} → iova ${bytes(op.iova)} size ${bytes(op.sizeBytes)} flags ${op.flags}`;
    case 'unmapDma':
      return `UNMAP_DMA iova ${bytes(op.iova)} size ${bytes(op.sizeBytes)} flags ${op.flags}`;
    case 'getInfo':
      return `GET_INFO argsz ${op.argsz}`;
    case 'checkExtension':
      return `CHECK_EXTENSION(${op.extension})`;
    case 'mmap':
      return `mmap vaddr page ${op.vaddrPage} (${op.writable ? 'rw' : 'r-'})`;
    case 'munmap':
      return `munmap vaddr page ${op.vaddrPage}`;
    case 'dma':
      return `device DMA ${op.write ? 'write' : 'read'} at iova page ${op.iovaPage}`;
  }
}

export const validateVmmOp: (command: unknown) => CommandProblem | null = commandValidator({
  startVm: { type: u32('the IOMMU type'), steps: upTo(3, 'the start-up has three steps') },
  setContainer: {},
  setIommu: { type: u32('the IOMMU type') },
  openDevice: {},
  mapDma: {
    argsz: u32('argsz'),
    flags: u32('flags'),
    vaddr: 'u64 string',
    iova: 'u64 string',
    sizeBytes: 'u64 string',
  },
  unmapDma: { argsz: u32('argsz'), flags: u32('flags'), iova: 'u64 string', sizeBytes: 'u64 string' },
  getInfo: { argsz: u32('argsz') },
  checkExtension: { extension: u32('the extension') },
  mmap: { vaddrPage: pageNumber, npages: pageCount, writable: 'boolean' },
  munmap: { vaddrPage: pageNumber, npages: pageCount },
  dma: { iovaPage: pageNumber, write: 'boolean' },
});
