/**
 * The shape of every VFIO command and the range of each field, for commands read from files (the
 * corpus) and commands handed to a design through the library. ioctl u64 arguments are decimal
 * strings up to 2^64 − 1, `argsz` and `flags` are u32; group and device fds are ints; addresses and
 * lengths in pages are below 2^52 (a 64-bit address space); `vfio_pin_pages` takes an `int npage`.
 */
import type { VfioCommand, VfioCommandKind } from '../../models/vfio/commands.js';
import type { CommandProblem } from '../../src/design.js';
import {
  commandValidator,
  fd,
  frameOwner,
  pageCount,
  pageNumber,
  templateValidator,
  u32,
  upTo,
} from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { ADVANCE, advanceSchema, phasedField } from '../generic/interleave.js';

type Schema = {
  readonly [K in VfioCommandKind]: Record<Exclude<keyof Extract<VfioCommand, { kind: K }>, 'kind'>, FieldType>;
};

const bool = 'boolean';
const u64 = 'u64 string';
const pages = pageCount;
const npage = upTo(0x7fff_ffff, 'npage is an int');

export const vfioCommandSchema: Schema = {
  groupSetContainer: { groupId: fd },
  groupUnsetContainer: { groupId: fd, ...phasedField },
  setIommu: { type: 'whole number' },
  openDevice: { deviceId: fd },
  closeDevice: { deviceId: fd },
  mapDma: { argsz: u32('argsz'), flags: u32('flags'), vaddr: u64, iova: u64, sizeBytes: u64, ...phasedField },
  unmapDma: { argsz: u32('argsz'), flags: u32('flags'), iova: u64, sizeBytes: u64, ...phasedField },
  checkExtension: { extension: 'whole number' },
  getInfo: { argsz: u32('argsz') },
  mmap: { vaddrPage: pageNumber, npages: pages, writable: bool },
  munmap: { vaddrPage: pageNumber, npages: pages },
  discard: { vaddrPage: pageNumber, npages: pages },
  touch: { vaddrPage: pageNumber, write: bool },
  exec: { shiftPages: pageNumber },
  allocateToOther: { owner: frameOwner },
  releaseFromOther: { mfn: pageNumber },
  mdevPinPages: { deviceId: fd, iovaPage: pageNumber, npage, read: bool, write: bool, ...phasedField },
  mdevUnpinPages: { deviceId: fd, iovaPage: pageNumber, npage },
  ccwStartIo: { deviceId: fd, program: 'transfer list' },
  ccwCompleteIo: { deviceId: fd },
  ccwRunIo: { deviceId: fd, program: 'transfer list' },
  deviceDma: { deviceId: fd, addressPage: pageNumber, write: bool, ...phasedField },
  advance: advanceSchema[ADVANCE] as Schema['advance'],
  injectFault: { point: '"pin", "alloc" or "map"', nth: u32('nth') },
  clearFault: {},
};

export const validateVfioCommand: (command: unknown) => CommandProblem | null = commandValidator(vfioCommandSchema);
const validateCommandTemplate = templateValidator(vfioCommandSchema);

/**
 * Templates (a whole-number field may hold a pick), for a resolve behind `guardResolve`; and the
 * VMM's re-supply of an invalidated vaddr (`resolve.ts` `ResupplyVaddrTemplate`): `mapDma` with
 * only a pick `resupplyVaddr` (and `phased`, when the scheduler starts it).
 */
export function validateVfioTemplate(template: unknown): CommandProblem | null {
  if (typeof template !== 'object' || template === null || !('resupplyVaddr' in template))
    return validateCommandTemplate(template);
  const fields = template as Record<string, unknown>;
  const pick = fields['resupplyVaddr'] as Record<string, unknown> | null;
  const valid =
    fields['kind'] === 'mapDma' &&
    Object.keys(fields).every((key) => ['kind', 'resupplyVaddr', 'phased'].includes(key)) &&
    (fields['phased'] === undefined || typeof fields['phased'] === 'boolean') &&
    typeof pick === 'object' &&
    pick !== null &&
    Object.keys(pick).length === 1 &&
    Number.isSafeInteger(pick['pick']) &&
    (pick['pick'] as number) >= 0;
  return valid ? null : validateCommandTemplate(template);
}
