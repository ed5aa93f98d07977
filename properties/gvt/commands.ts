/**
 * The mediator's commands (`models/gvt/commands.ts`) for reports and files, shared by the stacks
 * that run it: one line each in the real systems' words, and the shape and range of each.
 */
import type { GvtCommand, GvtCommandKind } from '../../models/gvt/commands.js';
import { upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';

/** What a report adds to a command started and left in flight (on a stack that runs its kind in phases). */
function started(command: object): string {
  return 'phased' in command && command.phased === true ? ' (started, left in flight)' : '';
}

export function formatGvtCommand(command: GvtCommand): string {
  switch (command.kind) {
    case 'guestWritePte':
      return `guest stores entry ${command.index} of page gfn ${command.gfn} = ${command.present ? `gfn ${command.targetGfn}` : 'not present'}${command.ips === true ? ' with IPS (64K)' : ''}${command.pse === true ? ' with PS (2M)' : ''} (${command.sizeBytes} bytes)${started(command)}`;
    case 'guestWriteCmd':
      return `guest stores command ${command.index} of page gfn ${command.gfn} = ${command.op === 'store' ? `store to GGTT ${command.ggttIndex}` : command.op}${started(command)}`;
    case 'ppgttCreate':
      return `guest announces a PPGTT rooted at gfn ${command.rootGfn}${command.pse === true ? ' under a PDP entry with PS (1G)' : ''}${started(command)}`;
    case 'ppgttDestroy':
      return `guest retires the PPGTT rooted at gfn ${command.rootGfn}`;
    case 'submitBatch':
      return `guest submits the batch buffer at GGTT ${command.ggttIndex}${started(command)}`;
    case 'gpuExecute':
      return 'GPU runs the next workload';
    case 'gpuDmaPpgtt':
      return `GPU ${command.write ? 'writes' : 'reads'} through PPGTT ${command.rootGfn} [${command.pdIndex}][${command.ptIndex}]${started(command)}`;
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

/**
 * The fields of each command, without `phased`: a stack that runs a kind in phases adds
 * `phasedField` to it (`properties/generic/interleave.ts`); one that does not refuses the flag.
 */
export const gvtCommandSchema: {
  readonly [K in GvtCommandKind]: Record<Exclude<keyof Extract<GvtCommand, { kind: K }>, 'kind' | 'phased'>, FieldType>;
} = {
  guestWritePte: {
    gfn: nat,
    index: tableIndex,
    present: bool,
    targetGfn: nat,
    sizeBytes: storeSize,
    ips: 'optional boolean',
    pse: 'optional boolean',
  },
  guestWriteCmd: { gfn: nat, index: tableIndex, op: '"store", "forbidden" or "end"', ggttIndex },
  ppgttCreate: { rootGfn: nat, pse: 'optional boolean' },
  ppgttDestroy: { rootGfn: nat },
  submitBatch: { ggttIndex },
  gpuExecute: {},
  gpuDmaPpgtt: { rootGfn: nat, pdIndex: tableIndex, ptIndex: tableIndex, write: bool },
};
