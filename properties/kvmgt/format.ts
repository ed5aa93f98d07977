/** One line per KVMGT command for reports, and the shape of each for commands read from files. */
import { isGvtCommand } from '../../models/gvt/commands.js';
import type { KvmgtCommand, KvmgtCommandKind } from '../../models/kvmgt/types.js';
import type { CommandProblem } from '../../src/design.js';
import { validateCommand } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { formatGvtCommand, gvtCommandSchema } from '../gvt/commands.js';

export function formatKvmgtCommand(command: KvmgtCommand): string {
  if (isGvtCommand(command)) return formatGvtCommand(command);
  switch (command.kind) {
    case 'ggttWrite':
      return `guest writes GGTT entry ${command.index} = ${command.present ? `gfn ${command.gfn}` : 'not present'} (${command.sizeBytes} bytes at offset ${command.offsetBytes})`;
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
  }
}

type Schema = {
  readonly [K in KvmgtCommandKind]: Record<Exclude<keyof Extract<KvmgtCommand, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';

const schema: Schema = {
  ggttWrite: { index: nat, gfn: nat, present: bool, sizeBytes: nat, offsetBytes: nat },
  vmmUnmapRam: { gfn: nat, npages: nat },
  vmmMapRam: { gfn: nat, npages: nat },
  vmmUnplugRam: { gfn: nat, npages: nat },
  vmmPlugRam: { gfn: nat, npages: nat },
  otherVmAllocate: {},
  otherVmRelease: { mfn: nat },
  vgpuCreate: {},
  vgpuDestroy: {},
  vmDestroy: {},
  gpuDma: { entry: nat, write: bool },
  ...gvtCommandSchema,
};

export function validateKvmgtCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  return validateCommand(schema, command);
}
