/**
 * XenGT's step on flat vectors (`layout.ts`), for the commands a flat scope holds: the same
 * outcome as `stepXenGt` (models/xengt/step.ts) for each of them, in the same order of effects
 * (test/xengt/flat.test.ts holds the two equal, transition by transition):
 *
 * - a whole GGTT write (`emulateGgttWrite`, models/gvt/ggtt.ts): a present entry takes the DMA
 *   cache's reference of its gfn (`dmaMapGuestPage`, models/gvt/dma-cache.ts), or on a miss the
 *   backend's translation (`xenGtMapBackend`: XENMEM_add_to_physmap gmfn_foreign at the first
 *   pool gfn free by the backend's books, `freePoolGfn` in models/xengt/host.ts, with its own page
 *   reference; `xenGtLookupBackend`: the guest's mfn) and a new cache entry; a translation that
 *   fails leaves the entry at scratch. Then the guest's copy is written, the old host entry
 *   released (`releaseLeaf`: the first cache entry in gfn order holding its address loses a
 *   reference, and the last one unmaps: the map backend's XENMEM_remove_from_physmap, which puts
 *   the page reference), and the new host entry written. A clear is the same without the
 *   translation.
 * - XENMEM_decrease_reservation of one gfn (`decreaseReservation`, models/xen/memory-op.ts): a
 *   gfn with no entry is refused (ENOENT); else the entry goes and the allocation reference is put
 *   (the temporary reference is taken and put around it: no net change), freeing the frame if it
 *   was the last (`dropFrameRef`: no owner, onto the free list).
 * - XENMEM_populate_physmap of one gfn: refused over an entry (EBUSY) or with no free frame
 *   (ENOMEM); else the lifo allocator's last free frame, one reference, at the gfn.
 * - A GPU access through a GGTT entry (`gpuDmaGgtt`): changes nothing; where it landed is kept
 *   for the effect invariants (`landedMfn`).
 */
import type { XenGtFlatLayout } from './layout.js';
import { NONE } from './layout.js';
import { FLAT_CHANGED, FLAT_SAME } from '../../../src/flat-scope.js';
import type { FlatStatus } from '../../../src/flat-scope.js';

/** A command a flat scope holds, resolved as far as it can be without a state. */
export type FlatXenGtOp =
  | { readonly kind: 'write'; readonly slot: number; readonly gfn: number; readonly present: boolean }
  | {
      readonly kind: 'balloon' | 'populate';
      readonly domid: number;
      readonly gfn: number;
      readonly pick: number | null;
    }
  | { readonly kind: 'dma'; readonly slot: number };

/** What `stepFlatXenGt` needs beside the layout. */
export interface FlatXenGtMachine {
  readonly layout: XenGtFlatLayout;
  /** The guest's domid. */
  readonly guest: number;
  /** The backend maps the guest's pages into its pool (`map`), or hands out their mfns (`lookup`). */
  readonly pool: boolean;
}

/** Where the last GPU access landed: an mfn, or NONE (scratch, or a fault). */
export let landedMfn = NONE;

/** The gfn a balloon or populate names at the state at `from` (a pick: the k-th live gfn, else k mod gfns). */
export function flatGfn(machine: FlatXenGtMachine, op: FlatXenGtOp, states: Int32Array, from: number): number {
  if (op.kind === 'dma' || op.kind === 'write' || op.pick === null) return op.kind === 'dma' ? 0 : op.gfn;
  const { layout } = machine;
  const row = from + layout.p2m + op.domid * layout.gfns;
  // Populated gfns for a balloon (`gfnsWhere`), empty ones for a populate (`emptyGfns`), ascending.
  const wanted = op.kind === 'balloon';
  let live = 0;
  for (let gfn = 0; gfn < layout.gfns; gfn++) if ((states[row + gfn] !== NONE) === wanted) live += 1;
  if (live === 0) return op.pick % layout.gfns;
  let skip = op.pick % live;
  for (let gfn = 0; gfn < layout.gfns; gfn++) {
    if ((states[row + gfn] !== NONE) !== wanted) continue;
    if (skip === 0) return gfn;
    skip -= 1;
  }
  return op.pick % layout.gfns;
}

/** `putRef` and `dropFrameRef` on `out`: the last reference frees the frame onto the free list. */
function dropRef(layout: XenGtFlatLayout, out: Int32Array, mfn: number): void {
  const ref = out[layout.refcount + mfn] ?? 0;
  if (ref === 0) return;
  out[layout.refcount + mfn] = ref - 1;
  if (ref > 1) return;
  out[layout.owner + mfn] = NONE;
  const count = out[layout.freeCount] ?? 0;
  out[layout.freeList + count] = mfn;
  out[layout.freeCount] = count + 1;
}

/** The frame a DMA address reaches (`translate` in models/xengt/host.ts), or NONE. */
export function translateFlat(machine: FlatXenGtMachine, states: Int32Array, at: number, dmaAddr: number): number {
  const { layout } = machine;
  if (machine.pool) {
    const slot = dmaAddr - layout.poolBaseGfn;
    return slot >= 0 && slot < layout.poolSize ? (states[at + layout.poolMfn + slot] ?? NONE) : NONE;
  }
  return dmaAddr >= 0 && dmaAddr < layout.frames ? dmaAddr : NONE;
}

/** The DMA address of a cache miss on `gfn`, its mapping made in `out`; NONE when the backend refuses. */
function mapMiss(machine: FlatXenGtMachine, out: Int32Array, gfn: number): number {
  const { layout } = machine;
  const guestMfn = out[layout.p2m + machine.guest * layout.gfns + gfn] ?? NONE;
  if (!machine.pool) return guestMfn;
  // The first pool gfn with no mapping that no cache entry holds (`freePoolGfn`): ENOSPC without.
  let slot = 0;
  for (; slot < layout.poolSize; slot++) {
    if (out[layout.poolMfn + slot] !== NONE) continue;
    const dfn = layout.poolBaseGfn + slot;
    let held = false;
    for (let cached = 0; cached < layout.gfns; cached++) if (out[layout.cacheAddr + cached] === dfn) held = true;
    if (!held) break;
  }
  if (slot === layout.poolSize) return NONE;
  // add_to_physmap_foreign refuses a gfn that is not the guest's RAM (EINVAL).
  if (guestMfn === NONE) return NONE;
  out[layout.refcount + guestMfn] = (out[layout.refcount + guestMfn] ?? 0) + 1;
  out[layout.poolMfn + slot] = guestMfn;
  out[layout.poolGfn + slot] = gfn;
  return layout.poolBaseGfn + slot;
}

/** `releaseLeaf` of a host entry holding `dmaAddr` (`dmaUnmapGuestPage`). */
function release(machine: FlatXenGtMachine, out: Int32Array, dmaAddr: number): void {
  const { layout } = machine;
  if (dmaAddr === NONE) return;
  for (let gfn = 0; gfn < layout.gfns; gfn++) {
    if (out[layout.cacheAddr + gfn] !== dmaAddr) continue;
    const kref = (out[layout.cacheKref + gfn] ?? 0) - 1;
    if (kref > 0) {
      out[layout.cacheKref + gfn] = kref;
      return;
    }
    // The last reference: the backend's unmap (the map backend's pool mapping goes, its page
    // reference put), and the entry leaves the cache.
    const slot = dmaAddr - layout.poolBaseGfn;
    if (machine.pool && slot >= 0 && slot < layout.poolSize) {
      const mfn = out[layout.poolMfn + slot] ?? NONE;
      if (mfn !== NONE) {
        out[layout.poolMfn + slot] = NONE;
        out[layout.poolGfn + slot] = NONE;
        dropRef(layout, out, mfn);
      }
    }
    out[layout.cacheAddr + gfn] = NONE;
    out[layout.cacheKref + gfn] = NONE;
    return;
  }
}

/** Steps the state at `states[from ..]` with `op` into `out` (see the header). */
export function stepFlatXenGt(
  machine: FlatXenGtMachine,
  op: FlatXenGtOp,
  states: Int32Array,
  from: number,
  out: Int32Array,
): FlatStatus {
  const { layout } = machine;
  switch (op.kind) {
    case 'dma': {
      const dmaAddr = states[from + layout.host + op.slot] ?? NONE;
      landedMfn = dmaAddr === NONE ? NONE : translateFlat(machine, states, from, dmaAddr);
      return FLAT_SAME;
    }
    case 'balloon': {
      const gfn = flatGfn(machine, op, states, from);
      if (gfn >= layout.gfns) return FLAT_SAME;
      const at = layout.p2m + op.domid * layout.gfns + gfn;
      const mfn = states[from + at] ?? NONE;
      if (mfn === NONE) return FLAT_SAME;
      out.set(states.subarray(from, from + layout.width));
      out[at] = NONE;
      dropRef(layout, out, mfn);
      return FLAT_CHANGED;
    }
    case 'populate': {
      const gfn = flatGfn(machine, op, states, from);
      if (gfn >= layout.gfns) return FLAT_SAME;
      const at = layout.p2m + op.domid * layout.gfns + gfn;
      const count = states[from + layout.freeCount] ?? 0;
      if (states[from + at] !== NONE || count === 0) return FLAT_SAME;
      out.set(states.subarray(from, from + layout.width));
      const mfn = out[layout.freeList + count - 1] ?? NONE;
      out[layout.freeList + count - 1] = NONE;
      out[layout.freeCount] = count - 1;
      out[layout.owner + mfn] = op.domid;
      out[layout.refcount + mfn] = 1;
      out[at] = mfn;
      return FLAT_CHANGED;
    }
    case 'write': {
      out.set(states.subarray(from, from + layout.width));
      let shadow = NONE;
      if (op.present) {
        const cached = out[layout.cacheAddr + op.gfn] ?? NONE;
        if (cached !== NONE) {
          out[layout.cacheKref + op.gfn] = (out[layout.cacheKref + op.gfn] ?? 0) + 1;
          shadow = cached;
        } else {
          shadow = mapMiss(machine, out, op.gfn);
          if (shadow !== NONE) {
            out[layout.cacheAddr + op.gfn] = shadow;
            out[layout.cacheKref + op.gfn] = 1;
          }
        }
      }
      out[layout.guestPresent + op.slot] = op.present ? 1 : 0;
      out[layout.guestGfn + op.slot] = op.gfn;
      release(machine, out, out[layout.host + op.slot] ?? NONE);
      out[layout.host + op.slot] = shadow;
      return FLAT_CHANGED;
    }
  }
}
