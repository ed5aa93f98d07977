/**
 * The shape of the commands the passthrough stack over iommufd generates and reads back from the
 * corpus, and one line per command for reports. Kinds the generators never emit (IOAS_ALLOW_IOVAS,
 * IOMMU_OPTION, the VFIO compat ioctls, the selftest's ADD_RESERVED) are outside the schema: the
 * stack answers them EINVAL with the field, as any unknown kind.
 */
import type { IommufdPtCommand } from '../../models/iommufd-pt/types.js';
import type { CommandProblem } from '../../src/design.js';
import { commandValidator, pageCount, pageNumber, u32 } from '../generic/command-schema.js';
import type { CommandSchema } from '../generic/command-schema.js';

const id = u32('an object id');
const flags = u32('flags');
const index = u32('a device index');

export const iommufdPtSchema: CommandSchema = {
  mmap: { vaddrPage: pageNumber, npages: pageCount, writable: 'boolean' },
  munmap: { vaddrPage: pageNumber, npages: pageCount },
  destroy: { id },
  ioasAlloc: { flags },
  ioasMap: { ioasId: id, flags, userVa: 'u64 string', iova: 'u64 string', length: 'u64 string' },
  ioasUnmap: { ioasId: id, iova: 'u64 string', length: 'u64 string' },
  ioasCopy: {
    dstIoasId: id,
    srcIoasId: id,
    flags,
    dstIova: 'u64 string',
    srcIova: 'u64 string',
    length: 'u64 string',
  },
  hwptAlloc: { devId: id, ptId: id, flags, dataType: u32('data_type'), dataLen: u32('data_len') },
  deviceBind: { deviceIndex: index, flags },
  deviceUnbind: { deviceIndex: index },
  vmmExit: {},
  deviceAttach: { deviceIndex: index, ptId: id, flags },
  deviceDetach: { deviceIndex: index, flags },
  accessCreate: { needsPinPages: 'boolean' },
  accessAttach: { accessId: id, ioasId: id },
  accessDetach: { accessId: id },
  accessDestroy: { accessId: id },
  accessPinPages: { accessId: id, iova: 'u64 string', length: 'u64 string', write: 'boolean' },
  accessUnpinPages: { accessId: id, iova: 'u64 string', length: 'u64 string' },
  accessUnpinHeld: { accessId: id, pin: u32('a pin index') },
  accessRw: { accessId: id, iova: 'u64 string', length: 'u64 string', write: 'boolean' },
  deviceDma: { deviceIndex: index, iovaPage: pageNumber, write: 'boolean' },
  accessDma: { accessId: id, iovaPage: pageNumber, write: 'boolean' },
  allocateToOther: {},
  releaseFromOther: {},
  drainFlushQueue: {},
};

export const validateIommufdPtCommand: (command: unknown) => CommandProblem | null = commandValidator(iommufdPtSchema);

/** `page 3` for a page-aligned byte value below 2^60, else the bytes as given. */
function pages(bytes: string): string {
  if (!/^\d+$/.test(bytes)) return bytes;
  const value = BigInt(bytes);
  return value % 4096n === 0n && value < 2n ** 60n ? `page ${value / 4096n}` : bytes;
}

function span(iova: string, length: string): string {
  return `iova ${pages(iova)} length ${pages(length)}`;
}

export function formatIommufdPtCommand(command: IommufdPtCommand): string {
  const c = command;
  if (c.kind === 'deviceDma')
    return `device ${c.deviceIndex} DMA ${c.write ? 'write' : 'read'} at iova page ${c.iovaPage}`;
  if (c.kind === 'accessDma')
    return `access ${c.accessId}'s driver ${c.write ? 'writes' : 'reads'} its pinned iova page ${c.iovaPage}`;
  if (c.kind === 'allocateToOther') return 'another VM takes a free frame';
  if (c.kind === 'releaseFromOther') return 'the other VM gives its oldest frame back';
  if (c.kind === 'drainFlushQueue') return 'flush-queue timer: flush and release every lazy queue';
  if (c.kind === 'ioasMap')
    return `IOAS_MAP ioas ${c.ioasId} vaddr ${pages(c.userVa)} → ${span(c.iova, c.length)} flags ${c.flags}`;
  if (c.kind === 'ioasUnmap') return `IOAS_UNMAP ioas ${c.ioasId} ${span(c.iova, c.length)}`;
  if (c.kind === 'accessPinPages')
    return `access ${c.accessId} pins ${span(c.iova, c.length)} ${c.write ? 'rw' : 'r-'}`;
  if (c.kind === 'accessUnpinPages') return `access ${c.accessId} unpins ${span(c.iova, c.length)}`;
  if (c.kind === 'accessUnpinHeld') return `access ${c.accessId}'s driver unpins its pin #${c.pin}`;
  if (c.kind === 'accessRw') return `access ${c.accessId} ${c.write ? 'writes' : 'reads'} ${span(c.iova, c.length)}`;
  const { kind, ...args } = c;
  return `${kind} ${JSON.stringify(args)}`;
}
