/**
 * One line per KVMGT command for reports, and the shape and range of each for commands read from
 * files or handed to a design through the library.
 */
import { isGvtCommand } from '../../models/gvt/commands.js';
import { KVMGT_FAULT_NTH_MAX } from '../../models/kvmgt/fault.js';
import type { KvmgtCommand, KvmgtCommandKind } from '../../models/kvmgt/types.js';
import type { CommandProblem } from '../../src/design.js';
import { commandValidator, pageCount, pageNumber, templateValidator, upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { ADVANCE, advanceSchema, phasedField } from '../generic/interleave.js';
import { formatGvtCommand, ggttIndex, gvtCommandSchema } from '../gvt/commands.js';

export function formatKvmgtCommand(command: KvmgtCommand): string {
  if (isGvtCommand(command)) return formatGvtCommand(command);
  switch (command.kind) {
    case ADVANCE:
      return `next phase of operation ${command.op} in flight`;
    case 'ggttWrite':
      return `guest writes GGTT entry ${command.index} = ${command.present ? `gfn ${command.gfn}` : 'not present'} (${command.sizeBytes} bytes at offset ${command.offsetBytes})${command.phased === true ? ' (started, left in flight)' : ''}`;
    case 'vmmUnmapRam':
      return `VMM: UNMAP_DMA of guest RAM gfn ${command.gfn}+${command.npages}`;
    case 'vmmMapRam':
      return `VMM: MAP_DMA of guest RAM gfn ${command.gfn}+${command.npages}`;
    case 'vmmUnplugRam':
      return `VMM: munmap of guest RAM gfn ${command.gfn}+${command.npages}`;
    case 'vmmPlugRam':
      return `VMM: mmap of guest RAM gfn ${command.gfn}+${command.npages}`;
    case 'otherVmAllocate':
      return 'another VM takes a free frame';
    case 'otherVmRelease':
      return `another VM frees mfn ${command.mfn}`;
    case 'vgpuCreate':
      return 'toolstack creates the vGPU';
    case 'vgpuDestroy':
      return 'toolstack destroys the vGPU';
    case 'vmDestroy':
      return 'the VM is destroyed (guest crash): the VMM closes the vGPU, releases guest RAM and exits';
    case 'gpuDma':
      return `GPU ${command.write ? 'writes' : 'reads'} through GGTT ${command.entry}`;
    case 'injectFault':
      return `inject fault: attempt ${command.nth} at ${command.point} of each command fails`;
    case 'clearFault':
      return 'clear fault injection';
  }
}

type Schema = {
  readonly [K in KvmgtCommandKind]: Record<Exclude<keyof Extract<KvmgtCommand, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';
/** The VMM's RAM requests are at IOVA == GPA: pages of a 64-bit address space. */
const ramPages = pageCount;

const schema: Schema = {
  ggttWrite: {
    index: ggttIndex,
    gfn: nat,
    present: bool,
    sizeBytes: upTo(8, 'an MMIO write is at most 8 bytes'),
    offsetBytes: upTo(7, 'an offset inside an 8-byte entry'),
    ...phasedField,
  },
  vmmUnmapRam: { gfn: pageNumber, npages: ramPages },
  vmmMapRam: { gfn: pageNumber, npages: ramPages },
  vmmUnplugRam: { gfn: pageNumber, npages: ramPages },
  vmmPlugRam: { gfn: pageNumber, npages: ramPages },
  otherVmAllocate: {},
  otherVmRelease: { mfn: pageNumber },
  vgpuCreate: {},
  vgpuDestroy: {},
  vmDestroy: {},
  gpuDma: { entry: ggttIndex, write: bool },
  injectFault: {
    point: '"pin", "dmaMap", "cacheAdd" or "trackAdd"',
    nth: upTo(KVMGT_FAULT_NTH_MAX, 'far beyond the attempts one command makes'),
  },
  clearFault: {},
  ...gvtCommandSchema,
  // The kinds that take time may be started and left in flight (`phased: true`).
  guestWritePte: { ...gvtCommandSchema.guestWritePte, ...phasedField },
  ppgttCreate: { ...gvtCommandSchema.ppgttCreate, ...phasedField },
  submitBatch: { ...gvtCommandSchema.submitBatch, ...phasedField },
  gpuDmaPpgtt: { ...gvtCommandSchema.gpuDmaPpgtt, ...phasedField },
  // `advance` names an operation in flight by its index.
  advance: advanceSchema[ADVANCE] as Record<'op', FieldType>,
};

export const validateKvmgtCommand: (command: unknown) => CommandProblem | null = commandValidator(schema);
export const validateKvmgtTemplate: (template: unknown) => CommandProblem | null = templateValidator(schema);
