/**
 * A guest CPU store into its own memory, and the mediator's handling of it when the page is
 * write-protected (docs/reference/gvt-kvmgt.md §4.4, §4.5; Linux v6.12), in the phases the real
 * code runs it in, with other vCPUs, the VMM and the GPU able to run in between:
 *
 * 1. `store` — the guest's store faults on a write-protected page and KVM emulates it:
 *    `emulator_write_phys` writes the bytes to guest memory (`kvm_vcpu_write_guest`), then calls
 *    `kvm_page_track_write`. A page that is not write-protected takes the store and nothing else.
 * 2. `handle` — the notifier, `kvmgt_page_track_write`, takes the vGPU lock and, for a gfn still
 *    in KVMGT's protect table, calls `intel_vgpu_page_track_handler` → the PPGTT handler
 *    (`ppgtt_handle_guest_write_page_table_bytes`): it re-reads the guest entry from guest memory
 *    (`ppgtt_get_guest_entry` → `intel_gvt_read_gpa`), reads the old shadow entry and translates
 *    the new one (`ppgtt_handle_guest_entry_add` → `ppgtt_populate_shadow_entry` →
 *    `intel_gvt_dma_map_guest_page`, which holds `cache_lock` from its lookup to its insert and
 *    drops it on return). A 4-byte store, a not-present entry and a failed translation end here.
 * 3. `insert` — only where the map's insert comes after `cache_lock` was dropped (a flawed
 *    ordering; v6.12 holds the lock): the translated pages enter the DMA cache.
 * 4. `shadow` — `ppgtt_set_shadow_entry`, then the old entry's removal
 *    (`ppgtt_handle_guest_entry_removal`), and the vGPU lock is released.
 *
 * The vGPU's `dma_unmap` op, called from the VMM's UNMAP_DMA, takes `cache_lock` only
 * (`intel_vgpu_dma_unmap`), so in the shipped code it can run between 2 and 4. Two vCPUs' stores
 * land independently; their handlers run one at a time under the vGPU lock.
 *
 * Left out: stores narrower than 4 bytes, out-of-sync pages. (A store to an unused slot of a 64K
 * table is ignored by the handler, `ppgtt.ts handleTrappedWrite`.)
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import type { GvtHost } from './host.js';
import type { StoreOp } from './inflight.js';
import { isTracked } from './page-track.js';
import { handleTrappedWrite, insertPending, settleGuestEntry } from './ppgtt.js';
import type { DeferInsert } from './ppgtt.js';
import type { GuestQword, GvtWorld } from './types.js';
import { storeGuestQword } from './vgpu.js';

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

/** A guest store of `qword` (`sizeBytes` of it) to entry `index` of its page `gfn`. */
export interface GuestStore {
  readonly kind: StoreOp['kind'];
  readonly gfn: number;
  readonly index: number;
  readonly sizeBytes: number;
  readonly qword: GuestQword;
}

/** How a stack runs the handler: the map's insert deferred, or the bytes the store carried shadowed. */
export interface HandlerOptions {
  readonly defer: DeferInsert;
  /**
   * The handler shadows the value the trapped store carried (`val`, as KVM hands it to the
   * notifier) instead of re-reading the guest entry: a flawed handler, whose shadow keeps the
   * older of two vCPUs' stores when their handlers run in the other order.
   */
  readonly trappedValue: boolean;
}

/**
 * Phase 1: the store is checked, the page faulted in and the bytes land. `trapped`: the page is
 * write-protected, and the handler is still to run (`handleStore`).
 */
export function startGuestStore<W extends GvtWorld>(
  world: W,
  config: GvtConfig,
  memory: GuestMemory<W>,
  store: GuestStore,
): { readonly result: OpResult; readonly trapped: boolean } {
  if (!memory.isGuestPage(world, store.gfn)) return { result: fail('EFAULT'), trapped: false };
  const entries = config.layout.entriesPerTable;
  if (!Number.isInteger(store.index) || store.index < 0 || store.index >= entries) {
    return { result: fail('EINVAL'), trapped: false };
  }
  if (store.sizeBytes !== 4 && store.sizeBytes !== 8) return { result: fail('EINVAL'), trapped: false };
  if (!memory.faultIn(world, store.gfn)) return { result: fail('EFAULT'), trapped: false };
  storeGuestQword(world, config.layout, store);
  if (!memory.writeProtected(world).includes(store.gfn)) return { result: succeed({ trapped: false }), trapped: false };
  return { result: succeed({ trapped: true }), trapped: true };
}

/** The store as an operation in flight, its notifier still to run. */
export function storeOp(store: GuestStore, vcpu: number): StoreOp {
  return { ...store, vcpu, phase: 'handle', old: null, pending: [] };
}

/**
 * The next phase of a trapped store: the notifier and the handler's translation, the deferred
 * cache insert, or the shadow write. Returns the operation's next state (null: done) and the
 * handler's error, if any (logged, never seen by the guest).
 */
export function advanceStore<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  memory: GuestMemory<W>,
  op: StoreOp,
  options: HandlerOptions,
): { readonly next: StoreOp | null; readonly error: string | null } {
  switch (op.phase) {
    case 'handle':
      return notify(world, host, config, memory, op, options);
    case 'insert':
      return { next: { ...op, phase: 'shadow', pending: insertPending(world, host, op.pending) }, error: null };
    case 'shadow':
      settleGuestEntry(world, host, config, op, { old: op.old ?? { kind: 'scratch' }, pending: [...op.pending] });
      return { next: null, error: null };
  }
}

/**
 * `kvmgt_page_track_write` for the store: a gfn no longer in the protect table, or no vGPU, is
 * left alone; in failsafe mode the write protection is removed instead
 * (`intel_vgpu_page_track_handler`); else the PPGTT handler runs up to its translation.
 */
function notify<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  memory: GuestMemory<W>,
  op: StoreOp,
  options: HandlerOptions,
): { readonly next: StoreOp | null; readonly error: string | null } {
  const vgpu = world.vgpu;
  if (vgpu === null || !memory.writeProtected(world).includes(op.gfn) || !isTracked(vgpu, op.gfn)) {
    return { next: null, error: null };
  }
  if (vgpu.failsafe) {
    host.trackRemove(world, op.gfn);
    return { next: null, error: null };
  }
  const qword = options.trappedValue ? op.qword : host.readGuest(world, op.gfn)?.[op.index];
  const handled = handleTrappedWrite(world, host, config, { ...op, qword }, options.defer);
  if (handled.settled) return { next: null, error: handled.error };
  const { old, pending } = handled.translation;
  const deferred = pending.some((entry) => !entry.cached);
  return { next: { ...op, phase: deferred ? 'insert' : 'shadow', old, pending }, error: null };
}

/** A guest store and, on a write-protected page, its handler, at once. */
export function guestStore<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  memory: GuestMemory<W>,
  store: GuestStore,
): OpResult {
  const started = startGuestStore(world, config, memory, store);
  if (!started.trapped) return started.result;
  let op: StoreOp | null = storeOp(store, 0);
  let error: string | null = null;
  const options = { defer: false, trappedValue: false };
  while (op !== null) {
    const advanced: { readonly next: StoreOp | null; readonly error: string | null } = advanceStore(
      world,
      host,
      config,
      memory,
      op,
      options,
    );
    op = advanced.next;
    error = advanced.error ?? error;
  }
  return succeed({ trapped: true, ...(error !== null ? { handlerError: error } : {}) });
}
