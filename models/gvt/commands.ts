/**
 * The commands the mediator answers, as data, the same in every stack that runs it: the guest's
 * stores into its own page tables and batch buffers, its PVINFO notifications and submissions,
 * and the GPU's work. A stack's command union includes these beside its hypervisor's own (and its
 * own GGTT write and GGTT access), and hands them to `applyGvtCommand`.
 */
import { submitBatch } from './cmd.js';
import type { GvtConfig } from './config.js';
import type { HostGgtt } from './gpu.js';
import { gpuDmaPpgtt, gpuExecute } from './gpu-commands.js';
import type { GpuStep } from './gpu-commands.js';
import type { GvtHost } from './host.js';
import { createPpgtt, destroyPpgtt } from './ppgtt.js';
import type { GuestQword, GvtWorld } from './types.js';
import { storeGuestQword, trackedWrite } from './vgpu.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';

export type GvtCommand =
  // Guest actions (the guest is the attacker).
  /** A guest CPU store of a page-table entry into its own page `gfn` (traps if the page is write-protected). */
  | {
      readonly kind: 'guestWritePte';
      readonly gfn: number;
      readonly index: number;
      readonly present: boolean;
      readonly targetGfn: number;
      readonly sizeBytes: number;
    }
  /** A guest CPU store of a batch-buffer command into its own page `gfn`. */
  | {
      readonly kind: 'guestWriteCmd';
      readonly gfn: number;
      readonly index: number;
      readonly op: 'store' | 'forbidden' | 'end';
      readonly ggttIndex: number;
    }
  /** PVINFO g2v notification: a PPGTT rooted at page `rootGfn` is created / destroyed. */
  | { readonly kind: 'ppgttCreate'; readonly rootGfn: number }
  | { readonly kind: 'ppgttDestroy'; readonly rootGfn: number }
  /** The guest submits the privileged batch buffer at GGTT index `ggttIndex`. */
  | { readonly kind: 'submitBatch'; readonly ggttIndex: number }
  // Device actions.
  /** The GPU runs the oldest queued workload. */
  | { readonly kind: 'gpuExecute' }
  /** The GPU accesses a page through the PPGTT rooted at `rootGfn`. */
  | {
      readonly kind: 'gpuDmaPpgtt';
      readonly rootGfn: number;
      readonly pdIndex: number;
      readonly ptIndex: number;
      readonly write: boolean;
    };

export type GvtCommandKind = GvtCommand['kind'];

export const gvtCommandKinds: readonly GvtCommandKind[] = [
  'guestWritePte',
  'guestWriteCmd',
  'ppgttCreate',
  'ppgttDestroy',
  'submitBatch',
  'gpuExecute',
  'gpuDmaPpgtt',
];

const gvtKinds: ReadonlySet<string> = new Set(gvtCommandKinds);

/** One of the mediator's commands, out of a stack's command union. */
export function isGvtCommand<C extends { readonly kind: string }>(command: C): command is Extract<C, GvtCommand> {
  return gvtKinds.has(command.kind);
}

/**
 * What a guest store needs from its stack: whether the gfn is guest memory at all, faulting the
 * page in once the store's arguments are checked, and which gfns its hypervisor write-protects
 * for the vGPU (a store to one of them traps after it reached memory).
 */
export interface GuestMemory<W extends GvtWorld> {
  isGuestPage(world: W, gfn: number): boolean;
  faultIn(world: W, gfn: number): boolean;
  writeProtected(world: W): readonly number[];
}

/**
 * Every number of a mediator command is read from a register or guest memory (a gfn, an index, a
 * GGTT offset, a store size), so it is a whole number; a value no register holds (NaN, a fraction,
 * a negative) is refused (EINVAL) before the mediator looks anything up with it.
 */
function isWellFormed(command: GvtCommand): boolean {
  for (const value of Object.values(command)) {
    if (typeof value === 'number' && !(Number.isSafeInteger(value) && value >= 0)) return false;
  }
  return true;
}

/** One of the mediator's commands, on a stack's world with its hypervisor's services. */
export function applyGvtCommand<W extends GvtWorld>(
  world: W,
  host: GvtHost<W> & HostGgtt<W>,
  config: GvtConfig,
  memory: GuestMemory<W>,
  command: GvtCommand,
): GpuStep {
  if (!isWellFormed(command)) return { result: fail('EINVAL'), accesses: [] };
  switch (command.kind) {
    case 'guestWritePte': {
      const qword: GuestQword = { kind: 'pte', present: command.present, gfn: command.targetGfn };
      return { result: guestStore(world, host, config, memory, command, command.sizeBytes, qword), accesses: [] };
    }
    case 'guestWriteCmd': {
      const qword: GuestQword = { kind: 'cmd', op: command.op, ggttIndex: command.ggttIndex };
      return { result: guestStore(world, host, config, memory, command, 8, qword), accesses: [] };
    }
    case 'ppgttCreate':
      return { result: createPpgtt(world, host, config, command.rootGfn), accesses: [] };
    case 'ppgttDestroy':
      return { result: destroyPpgtt(world, host, config, command.rootGfn), accesses: [] };
    case 'submitBatch':
      return { result: submitBatch(world, host, config, command), accesses: [] };
    case 'gpuExecute':
      return gpuExecute(world, host, config);
    case 'gpuDmaPpgtt':
      return gpuDmaPpgtt(world, host, config, command);
  }
}

/**
 * A guest CPU store into its own memory: the page is faulted in, the bytes land, and if the
 * hypervisor write-protects the page the notifier runs afterwards (its error is logged, never seen
 * by the guest). Stores narrower than 4 bytes are left out.
 */
function guestStore<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  memory: GuestMemory<W>,
  target: { readonly gfn: number; readonly index: number },
  sizeBytes: number,
  qword: GuestQword,
): OpResult {
  if (!memory.isGuestPage(world, target.gfn)) return fail('EFAULT');
  const entries = config.layout.entriesPerTable;
  if (!Number.isInteger(target.index) || target.index < 0 || target.index >= entries) return fail('EINVAL');
  if (sizeBytes !== 4 && sizeBytes !== 8) return fail('EINVAL');
  if (!memory.faultIn(world, target.gfn)) return fail('EFAULT');
  storeGuestQword(world, config.layout, { gfn: target.gfn, index: target.index, qword });
  if (!memory.writeProtected(world).includes(target.gfn)) return succeed({ trapped: false });
  const handlerError = trackedWrite(world, host, config, { gfn: target.gfn, index: target.index, sizeBytes });
  return succeed({ trapped: true, ...(handlerError !== null ? { handlerError } : {}) });
}
