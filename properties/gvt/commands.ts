/**
 * The mediator's commands (`models/gvt/commands.ts`) for reports and files, shared by the stacks
 * that run it: one line each in the real systems' words, and the shape and range of each.
 */
import type { GvtCommand, GvtCommandKind } from '../../models/gvt/commands.js';
import { upTo } from '../generic/command-schema.js';
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
/** A GGTT maps at most 4 GiB of graphics memory: 2^20 entries of 4 KiB (an 8 MiB GTT on gen8+). */
export const ggttIndex = upTo(2 ** 20 - 1, 'a GGTT has at most 2^20 entries');
/** An 8-byte entry of a 4 KiB page-table page (I915_PDES = 512): a store past it is another page. */
const tableIndex = upTo(511, 'a table page holds 512 entries');
/** The widest CPU store (64 bytes: AVX-512, MOVDIR64B); the mediator takes 4 and 8 only. */
const storeSize = upTo(64, 'a CPU store is at most 64 bytes');

export const gvtCommandSchema: {
  readonly [K in GvtCommandKind]: Record<Exclude<keyof Extract<GvtCommand, { kind: K }>, 'kind'>, FieldType>;
} = {
  guestWritePte: { gfn: nat, index: tableIndex, present: bool, targetGfn: nat, sizeBytes: storeSize },
  guestWriteCmd: { gfn: nat, index: tableIndex, op: '"store", "forbidden" or "end"', ggttIndex },
  ppgttCreate: { rootGfn: nat },
  ppgttDestroy: { rootGfn: nat },
  submitBatch: { ggttIndex },
  gpuExecute: {},
  gpuDmaPpgtt: { rootGfn: nat, pdIndex: tableIndex, ptIndex: tableIndex, write: bool },
};
