/**
 * The mediator's operations in flight (docs/reference/gvt-kvmgt.md §4.4–§4.8, Linux v6.12): what
 * each has done so far and what its next phase needs. A stack keeps them in its state, oldest
 * first, and runs a phase at a time (`guest-store.ts`, `ppgtt.ts`, `cmd.ts`, `gpu-dma.ts`).
 *
 * Where the phases split, and why:
 * - A trapped guest store (`kvmgt.c kvmgt_page_track_write` → `page_track.c
 *   intel_vgpu_page_track_handler` → `gtt.c ppgtt_write_protection_handler`): KVM writes the
 *   bytes to guest memory first, then calls the notifier, which takes the vGPU lock (`store` |
 *   `handle`). The handler re-reads the guest entry (`ppgtt_get_guest_entry`), reads the old
 *   shadow entry and translates the new one (`ppgtt_handle_guest_entry_add` →
 *   `intel_gvt_dma_map_guest_page`, which holds `cache_lock` from its lookup to its insert and
 *   drops it on return); only then is the shadow entry written and the old one released
 *   (`ppgtt_set_shadow_entry`, `ppgtt_handle_guest_entry_removal`): `handle` | `shadow`. The vGPU's
 *   `dma_unmap` op (`intel_vgpu_dma_unmap`) takes `cache_lock` only, so it can run in that window.
 * - A GGTT write through the trapped MMIO range (`gtt.c emulate_ggtt_mmio_write`, under the vGPU
 *   lock `intel_vgpu_emulate_mmio_write` holds): the new entry's page is translated
 *   (`intel_gvt_dma_map_guest_page`, `cache_lock` taken and dropped), and only then are the guest's
 *   and the host's entries written and the old one released (`ggtt_set_guest_entry`,
 *   `ggtt_set_host_entry`, `ggtt_invalidate_pte`): `translate` | `shadow`, the same window for the
 *   `dma_unmap` op as a trapped store's.
 * - Shadowing a PPGTT (`shadow_ppgtt_mm` → `ppgtt_populate_spt_by_guest_entry` →
 *   `ppgtt_populate_spt`): the same translate, then write, per entry, under the vGPU lock.
 * - A batch submission with a shadow copy (`cmd_parser.c find_bb_size`, then `perform_bb_shadow`
 *   → `copy_gma_to_hva`): the guest's buffer is read twice, to size it and to copy it, and the
 *   guest's other vCPUs store to it in between.
 * - A GPU access through the PPGTT: the GPU walks the shadow tables (its TLB keeps the DMA
 *   address), and the host IOMMU translates the address when the access reaches the bus.
 */
import type { GuestPte, GuestQword, ShadowPte } from './types.js';

/** `PendingShadow.sptGfn` of a GGTT entry's translation: the GGTT, not a page table. */
export const GGTT_SLOT = -1;

/**
 * A shadow entry translated and not yet written: a leaf's DMA address (one DMA cache reference
 * of guest page `gfn`) or a non-leaf's shadow table of page `gfn` (one reference on that spt).
 */
export interface PendingShadow {
  /** The shadow table the entry goes into, by its guest gfn (`GGTT_SLOT`: the GGTT), and the entry's index there. */
  readonly sptGfn: number;
  readonly index: number;
  readonly pte: ShadowPte;
  readonly gfn: number;
  /**
   * A leaf's address is in the DMA cache (holding the reference above). False only while a map
   * whose insert comes after the cache lock was dropped has pinned and mapped the page and not yet
   * inserted it: then the pin is the operation's own.
   */
  readonly cached: boolean;
}

/** A guest store to a write-protected page: in guest memory already, its handler still to run. */
export interface StoreOp {
  readonly kind: 'guestWritePte' | 'guestWriteCmd';
  /** The guest vCPU emulating the store (it runs nothing else until the handler returns). */
  readonly vcpu: number;
  readonly gfn: number;
  readonly index: number;
  readonly sizeBytes: number;
  /** The bytes the store carried: what KVM hands the notifier (`val`). */
  readonly qword: GuestQword;
  /** `handle`: the notifier is still to run; `insert`, `shadow`: the handler holds the vGPU lock. */
  readonly phase: 'handle' | 'insert' | 'shadow';
  /** The shadow entry the handler read before translating (`old_se`), released once the new one is written. */
  readonly old: ShadowPte | null;
  /** What the handler translated: the child table's entries first, the entry itself last. */
  readonly pending: readonly PendingShadow[];
}

/** A PPGTT being shadowed on the guest's PVINFO notification: every entry translated, none written. */
export interface PpgttCreateOp {
  readonly kind: 'ppgttCreate';
  readonly vcpu: number;
  readonly rootGfn: number;
  readonly phase: 'insert' | 'shadow';
  readonly pending: readonly PendingShadow[];
}

/** A GGTT write emulated under the vGPU lock: its page translated, the guest's and host's entries not yet written. */
export interface GgttWriteOp {
  readonly kind: 'ggttWrite';
  readonly vcpu: number;
  readonly index: number;
  /** The guest's entry as written (its copy is updated in the last phase). */
  readonly written: GuestPte;
  /** The first half of a 4-byte write: the host entry goes to scratch. */
  readonly partialUpdate: boolean;
  readonly phase: 'insert' | 'shadow';
  /** The translation failed (the host entry goes to scratch, the error reported). */
  readonly mapError: string | null;
  /** The entry's translation (`sptGfn` `GGTT_SLOT`), when present and whole and mapped. */
  readonly pending: readonly PendingShadow[];
}

/** A privileged batch submission between its two reads of the guest's buffer. */
export interface SubmitOp {
  readonly kind: 'submitBatch';
  readonly vcpu: number;
  readonly ggttIndex: number;
  readonly batchGfn: number;
  readonly phase: 'copy';
  /**
   * `copy-then-scan` (the shadow copy as shipped): the batch as sized, its length and whether
   * MI_BATCH_BUFFER_END ended it; `scan-then-copy`: the guest's buffer audited already.
   */
  readonly lengthQwords: number;
  readonly ended: boolean;
  readonly scanned: boolean;
}

/** A GPU access through the PPGTT: the walk gave a DMA address; the access has not reached the bus. */
export interface GpuDmaOp {
  readonly kind: 'gpuDmaPpgtt';
  readonly via: string;
  readonly dmaAddr: number;
  readonly write: boolean;
  readonly phase: 'access';
}

export type GvtOp = StoreOp | GgttWriteOp | PpgttCreateOp | SubmitOp | GpuDmaOp;

/** The guest vCPU an operation runs on, or null for the GPU's. */
export function vcpuOf(op: GvtOp): number | null {
  return op.kind === 'gpuDmaPpgtt' ? null : op.vcpu;
}

/**
 * Whether the operation holds the vGPU lock (`vgpu->vgpu_lock`) between its phases: a trapped
 * store's handler, a PPGTT's shadowing and a submission do from their first locked phase to
 * their last; a store whose notifier has not run yet and the GPU hold nothing.
 */
export function holdsVgpuLock(op: GvtOp): boolean {
  switch (op.kind) {
    case 'guestWritePte':
    case 'guestWriteCmd':
      return op.phase !== 'handle';
    case 'ggttWrite':
    case 'ppgttCreate':
    case 'submitBatch':
      return true;
    case 'gpuDmaPpgtt':
      return false;
  }
}

/** Every shadow entry translated by an operation in flight and not yet written. */
export function pendingShadows(ops: readonly GvtOp[]): PendingShadow[] {
  return ops.flatMap((op) => ('pending' in op ? op.pending : []));
}

/** Guest page-table entries a store reached whose handler has not written their shadow yet: `gfn:index`. */
export function unsettledEntries(ops: readonly GvtOp[]): Set<string> {
  const keys = new Set<string>();
  for (const op of ops) {
    if (op.kind === 'guestWritePte' || op.kind === 'guestWriteCmd') keys.add(`${op.gfn}:${op.index}`);
    if ('pending' in op) {
      for (const pending of op.pending)
        if (pending.sptGfn !== GGTT_SLOT) keys.add(`${pending.sptGfn}:${pending.index}`);
    }
  }
  return keys;
}

/** The next phase of an operation, in the real code's words. */
export function phaseOf(op: GvtOp): string {
  switch (op.phase) {
    case 'handle':
      return 'page-track notifier';
    case 'insert':
      return 'DMA cache insert';
    case 'shadow':
      return 'shadow entry write';
    case 'copy':
      return op.scanned ? 'copy' : 'copy and scan';
    case 'access':
      return 'access';
  }
}
