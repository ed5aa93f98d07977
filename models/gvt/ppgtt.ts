/**
 * PPGTT shadowing (`gtt.c`, docs/reference/gvt-kvmgt.md §4.4): the guest's page tables live in guest memory; the
 * mediator keeps a shadow page table (spt) per guest page-table page, write-protected so that a
 * guest store to it traps and the shadow follows. Non-leaf shadow entries point at child spts,
 * leaf shadow entries hold DMA addresses from the DMA cache.
 *
 * Simplified: two levels (a page directory as the root, page tables below it) instead of four,
 * every leaf 4 KiB (no 64K/2M/1G entries), and a PPGTT is shadowed when the guest announces it
 * (`PPGTT_L4_PAGE_TABLE_CREATE`) rather than when a workload first pins it. Where a trapped write's
 * new entry cannot be shadowed GVT logs the error and leaves the old shadow entry in place; the
 * model points the slot at scratch instead, as the GGTT path does, so a shadow never keeps
 * reaching a page the guest entry no longer names. A guest page used as a table at both levels
 * shares one spt in GVT; the model refuses the mismatch (EINVAL) instead.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import { hasGvtBug } from './config.js';
import { dmaMapGuestPage, releaseLeaf } from './dma-cache.js';
import type { GvtHost } from './host.js';
import { registerPageTrack, unregisterPageTrack } from './page-track.js';
import { SCRATCH } from './types.js';
import type { GuestQword, GvtWorld, ShadowPte, Spt, SptLevel } from './types.js';

type Shadowed = { readonly ok: true; readonly pte: ShadowPte } | { readonly ok: false; readonly errno: string };

export function isPresentPte(qword: GuestQword | undefined): qword is GuestQword & { kind: 'pte'; present: true } {
  return qword !== undefined && qword.kind === 'pte' && qword.present;
}

/** The shadow of a present guest entry of a table at `level`: a child spt, or a leaf DMA address. */
function shadowEntry<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  level: SptLevel,
  gfn: number,
): Shadowed {
  if (level === 'pd') {
    const child = populateSpt(world, host, config, gfn, 'pt');
    return child === null ? { ok: true, pte: { kind: 'table', gfn } } : { ok: false, errno: child };
  }
  const mapped = dmaMapGuestPage(world, host, config, gfn);
  return mapped.ok ? { ok: true, pte: { kind: 'dma', dmaAddr: mapped.dmaAddr } } : { ok: false, errno: 'ENXIO' };
}

/** Releases what a shadow entry holds: a DMA reference, or a reference on the child spt. */
export function releaseEntry<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, pte: ShadowPte): void {
  if (pte.kind === 'table') invalidateSpt(world, host, config, pte.gfn);
  else releaseLeaf(world, host, pte);
}

/** Releases every entry of an spt, drops it and its page track. */
function freeSpt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, spt: Spt): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  delete vgpu.spts[spt.gfn];
  for (const pte of spt.entries) releaseEntry(world, host, config, pte);
  if (!hasGvtBug(config, 'spt-free-keeps-track')) unregisterPageTrack(world, host, config, spt.gfn);
}

/**
 * `ppgtt_populate_spt_by_guest_entry`: a reference on the existing spt of `gfn`, or a new one —
 * registered, write-protected and filled from the guest page. Null on success, else the errno,
 * with everything this call did undone.
 */
export function populateSpt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
  level: SptLevel,
): string | null {
  const vgpu = world.vgpu;
  if (vgpu === null) return 'EINVAL';
  const existing = vgpu.spts[gfn];
  if (existing !== undefined) {
    if (existing.level !== level) return 'EINVAL';
    existing.refcount += 1;
    return null;
  }
  const refused = registerPageTrack(world, host, config, gfn);
  if (refused !== null) return refused;
  const page = host.readGuest(world, gfn);
  const spt: Spt = {
    gfn,
    level,
    refcount: 1,
    entries: Array.from({ length: config.layout.entriesPerTable }, () => SCRATCH),
    postShadow: [],
  };
  vgpu.spts[gfn] = spt;
  if (page === null) {
    freeSpt(world, host, config, spt);
    return 'EFAULT';
  }
  for (let index = 0; index < spt.entries.length; index++) {
    const qword = page[index];
    if (!isPresentPte(qword)) continue;
    const shadowed = shadowEntry(world, host, config, level, qword.gfn);
    if (!shadowed.ok) {
      freeSpt(world, host, config, spt);
      return shadowed.errno;
    }
    spt.entries[index] = shadowed.pte;
  }
  return null;
}

/** `ppgtt_invalidate_spt`: drops one reference; at zero the spt is freed with everything it holds. */
export function invalidateSpt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, gfn: number): void {
  const spt = world.vgpu?.spts[gfn];
  if (spt === undefined) return;
  spt.refcount -= 1;
  if (spt.refcount <= 0) freeSpt(world, host, config, spt);
}

/** Shadows the guest's current entry `index` of `spt` in full (a full write, or a post-shadow flush). */
function reshadowEntry<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  spt: Spt,
  index: number,
): void {
  const qword = host.readGuest(world, spt.gfn)?.[index];
  const old = spt.entries[index] ?? SCRATCH;
  let next: ShadowPte = SCRATCH;
  // Add before remove: the table stays valid throughout.
  if (isPresentPte(qword)) {
    const shadowed = shadowEntry(world, host, config, spt.level, qword.gfn);
    if (shadowed.ok) next = shadowed.pte;
  }
  spt.entries[index] = next;
  if (!hasGvtBug(config, 'ppgtt-write-keeps-old-ref')) releaseEntry(world, host, config, old);
  spt.postShadow = spt.postShadow.filter((pending) => pending !== index);
}

/**
 * `ppgtt_handle_guest_write_page_table_bytes`: a trapped guest store of `sizeBytes` to entry
 * `index` of shadowed page `gfn`, after guest memory already holds the new bytes.
 */
export function handleGuestPteWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly gfn: number; readonly index: number; readonly sizeBytes: number },
): string | null {
  const spt = world.vgpu?.spts[args.gfn];
  if (spt === undefined || args.index < 0 || args.index >= spt.entries.length) return null;
  if (args.sizeBytes !== 4 && args.sizeBytes !== 8) return 'EINVAL';
  if (args.sizeBytes === 8) {
    reshadowEntry(world, host, config, spt, args.index);
    return null;
  }
  // A partial write: the old entry goes now, the new one is shadowed at the next flush.
  const old = spt.entries[args.index] ?? SCRATCH;
  spt.entries[args.index] = SCRATCH;
  releaseEntry(world, host, config, old);
  if (!spt.postShadow.includes(args.index)) spt.postShadow.push(args.index);
  return null;
}

/** `intel_vgpu_flush_post_shadow`: every partially written entry is re-read and shadowed in full. */
export function flushPostShadow<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const spt of Object.values(vgpu.spts)) {
    for (const index of [...spt.postShadow]) {
      if (vgpu.spts[spt.gfn] === spt) reshadowEntry(world, host, config, spt, index);
    }
  }
}

/** The guest announces a PPGTT rooted at `rootGfn` (g2v `PPGTT_L4_PAGE_TABLE_CREATE`). */
export function createPpgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const existing = vgpu.mms.find((mm) => mm.rootGfn === rootGfn);
  if (existing !== undefined) {
    existing.refcount += 1;
    return succeed({ refcount: existing.refcount });
  }
  const refused = populateSpt(world, host, config, rootGfn, 'pd');
  if (refused !== null) return fail(refused);
  vgpu.mms.push({ rootGfn, refcount: 1 });
  return succeed({ refcount: 1 });
}

/** The guest retires a PPGTT (g2v `PPGTT_L4_PAGE_TABLE_DESTROY`); an unknown root is refused. */
export function destroyPpgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const mm = vgpu.mms.find((candidate) => candidate.rootGfn === rootGfn);
  if (mm === undefined) return fail('EINVAL');
  mm.refcount -= 1;
  if (mm.refcount === 0) {
    vgpu.mms = vgpu.mms.filter((candidate) => candidate !== mm);
    invalidateSpt(world, host, config, rootGfn);
  }
  return succeed({ refcount: mm.refcount });
}

/** `intel_vgpu_clean_ppgtt`: every PPGTT is invalidated, whatever its reference count. */
export function cleanPpgtt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const mm of vgpu.mms) invalidateSpt(world, host, config, mm.rootGfn);
  vgpu.mms = [];
}
