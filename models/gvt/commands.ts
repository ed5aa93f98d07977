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
import { createPpgtt, destroyPpgtt } from './ppgtt-mm.js';
import type { GuestQword, GvtWorld } from './types.js';
import { guestStore } from './guest-store.js';
import type { GuestMemory, GuestStore } from './guest-store.js';

// Stacks name the memory a store needs from here, as before the store had phases of its own.
export type { GuestMemory } from './guest-store.js';
import { fail } from '../result.js';

export type GvtCommand =
  // Guest actions (the guest is the attacker).
  /**
   * A guest CPU store of a page-table entry into its own page `gfn` (traps if the page is
   * write-protected). `ips`: the entry's IPS bit (`GEN8_PDE_IPS_64K`): stored into a page
   * directory, the page table it names is a 64K table (`ips64k.ts`). `pse`: the entry's PS bit
   * (`_PAGE_PSE`): stored into a page directory, the entry maps a 2M page (`huge2m.ts`). Absent:
   * clear.
   */
  | {
      readonly kind: 'guestWritePte';
      readonly gfn: number;
      readonly index: number;
      readonly present: boolean;
      readonly targetGfn: number;
      readonly sizeBytes: number;
      readonly ips?: boolean;
      readonly pse?: boolean;
    }
  /** A guest CPU store of a batch-buffer command into its own page `gfn`. */
  | {
      readonly kind: 'guestWriteCmd';
      readonly gfn: number;
      readonly index: number;
      readonly op: 'store' | 'forbidden' | 'end';
      readonly ggttIndex: number;
    }
  /**
   * PVINFO g2v notification: a PPGTT rooted at page `rootGfn` is created / destroyed. The model
   * folds the levels above the page directory (PML4, PDP) into the announcement; `pse`: the PS bit
   * of the guest's PDP entry naming the directory, a 1G entry, which GVT refuses (`ppgtt-mm.ts`).
   */
  | { readonly kind: 'ppgttCreate'; readonly rootGfn: number; readonly pse?: boolean }
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
 * Every number of a mediator command is read from a register or guest memory (a gfn, an index, a
 * GGTT offset, a store size), so it is a whole number; a value no register holds (NaN, a fraction,
 * a negative) is refused (EINVAL) before the mediator looks anything up with it.
 */
export function isWellFormed(command: GvtCommand): boolean {
  for (const value of Object.values(command)) {
    if (typeof value === 'number' && !(Number.isSafeInteger(value) && value >= 0)) return false;
  }
  return true;
}

/** The store a guest store command makes: the qword it writes, and its size. */
export function storeOf(
  command: Extract<GvtCommand, { readonly kind: 'guestWritePte' | 'guestWriteCmd' }>,
): GuestStore {
  const { kind, gfn, index } = command;
  if (kind === 'guestWritePte') {
    const qword: GuestQword = {
      kind: 'pte',
      present: command.present,
      gfn: command.targetGfn,
      ...(command.ips === true ? { ips: true } : {}),
      ...(command.pse === true ? { pse: true } : {}),
    };
    return { kind, gfn, index, sizeBytes: command.sizeBytes, qword };
  }
  return { kind, gfn, index, sizeBytes: 8, qword: { kind: 'cmd', op: command.op, ggttIndex: command.ggttIndex } };
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
    case 'guestWritePte':
    case 'guestWriteCmd':
      return { result: guestStore(world, host, config, memory, storeOf(command)), accesses: [] };
    case 'ppgttCreate':
      return { result: createPpgtt(world, host, config, command.rootGfn, command.pse === true), accesses: [] };
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
