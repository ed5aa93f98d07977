/**
 * The mediator's commands (`models/gvt/commands.ts`) for reports and files, shared by the stacks
 * that run it: one line each in the real systems' words, and the shape of each.
 */
import type { GvtCommand, GvtCommandKind } from '../../models/gvt/commands.js';
import type { FieldType } from '../generic/command-schema.js';

export function formatGvtCommand(command: GvtCommand): string {
  switch (command.kind) {
    case 'guestWritePte':
      return `guest stores entry ${command.index} of page gfn ${command.gfn} = ${command.present ? `gfn ${command.targetGfn}` : 'not present'} (${command.sizeBytes} bytes)`;
    case 'guestWriteCmd':
      return `guest stores command ${command.index} of page gfn ${command.gfn} = ${command.op === 'store' ? `store to GGTT ${command.ggttIndex}` : command.op}`;
    case 'ppgttCreate':
      return `guest announces a PPGTT rooted at gfn ${command.rootGfn}`;
    case 'ppgttDestroy':
      return `guest retires the PPGTT rooted at gfn ${command.rootGfn}`;
    case 'submitBatch':
      return `guest submits the batch buffer at GGTT ${command.ggttIndex}`;
    case 'gpuExecute':
      return 'GPU runs the next workload';
    case 'gpuDmaPpgtt':
      return `GPU ${command.write ? 'writes' : 'reads'} through PPGTT ${command.rootGfn} [${command.pdIndex}][${command.ptIndex}]`;
  }
}

const nat = 'whole number';
const bool = 'boolean';

export const gvtCommandSchema: {
  readonly [K in GvtCommandKind]: Record<Exclude<keyof Extract<GvtCommand, { kind: K }>, 'kind'>, FieldType>;
} = {
  guestWritePte: { gfn: nat, index: nat, present: bool, targetGfn: nat, sizeBytes: nat },
  guestWriteCmd: { gfn: nat, index: nat, op: '"store", "forbidden" or "end"', ggttIndex: nat },
  ppgttCreate: { rootGfn: nat },
  ppgttDestroy: { rootGfn: nat },
  submitBatch: { ggttIndex: nat },
  gpuExecute: {},
  gpuDmaPpgtt: { rootGfn: nat, pdIndex: nat, ptIndex: nat, write: bool },
};
