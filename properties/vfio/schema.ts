/** The shape of every VFIO command, for commands read from files (the corpus). */
import type { VfioCommand, VfioCommandKind } from '../../models/vfio/commands.js';
import type { CommandProblem } from '../../src/design.js';
import { validateCommand } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';

type Schema = {
  readonly [K in VfioCommandKind]: Record<Exclude<keyof Extract<VfioCommand, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';
const u64 = 'u64 string';

const schema: Schema = {
  groupSetContainer: { groupId: nat },
  groupUnsetContainer: { groupId: nat },
  setIommu: { type: nat },
  openDevice: { deviceId: nat },
  closeDevice: { deviceId: nat },
  mapDma: { argsz: nat, flags: nat, vaddr: u64, iova: u64, sizeBytes: u64 },
  unmapDma: { argsz: nat, flags: nat, iova: u64, sizeBytes: u64 },
  mmap: { vaddrPage: nat, npages: nat, writable: bool },
  munmap: { vaddrPage: nat, npages: nat },
  discard: { vaddrPage: nat, npages: nat },
  touch: { vaddrPage: nat, write: bool },
  allocateToOther: { owner: nat },
  releaseFromOther: { mfn: nat },
  mdevPinPages: { deviceId: nat, iovaPage: nat, npage: nat, read: bool, write: bool },
  mdevUnpinPages: { deviceId: nat, iovaPage: nat, npage: nat },
  ccwStartIo: { deviceId: nat, program: 'transfer list' },
  ccwCompleteIo: { deviceId: nat },
  ccwRunIo: { deviceId: nat, program: 'transfer list' },
  deviceDma: { deviceId: nat, addressPage: nat, write: bool },
  injectFault: { point: '"pin" or "alloc"', nth: nat },
  clearFault: {},
};

export function validateVfioCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  return validateCommand(schema, command);
}
