/**
 * The XenGT mediator's backend: shadowing guest GTT writes, vGPU lifecycle, and where a GPU DMA
 * through a GTT entry lands. Reference: semantics.md §2.9 (XenGT proposals) and §4.3 (GGTT
 * shadowing: on translation failure the shadow points at scratch; the new entry is built
 * before the old one is released).
 *
 * Lookup backend: XENMEM_get_mfn_from_pfn returns the mfn of a RAM gfn (INVALID_MFN for
 * anything else, so the entry becomes scratch) and takes no reference; the shadow holds the
 * raw mfn and the GPU reaches it bypassing the IOMMU, which is the only way such addresses work.
 * Map backend: the guest page is mapped into the backend's p2m at a free gfn of a private pool
 * (XENMAPSPACE_gmfn_foreign, taking a page reference, as Tim Deegan suggested for PVH); the
 * shadow holds that gfn as a device frame number, and the GPU's DMA is translated by the
 * backend's IOMMU context, which shares the backend's p2m.
 *
 * Left out: 4-byte partial writes, GM partitioning (the whole small GTT belongs to the vGPU; an
 * index past the end is outside the vGPU's range and is ignored as in §4.3 step 2), PPGTT,
 * command scanning, IOTLB caching (an IOTLB is modelled in the IOMMU issue).
 */
import { getRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { addToPhysmapForeign, removeForeignMapping } from '../xen/memory-op.js';
import { runningDomain } from '../xen/state.js';
import { hasXenGtBug } from './config.js';
import type { XenGtConfig } from './config.js';
import type { ShadowEntry, Vgpu, XenGtState } from './types.js';

const scratch: ShadowEntry = { kind: 'scratch' };

export function createVgpu(config: XenGtConfig): Vgpu {
  return {
    domid: config.guestDomid,
    gtt: Array.from({ length: config.gttEntries }, () => ({ present: false, gfn: 0 })),
    shadow: Array.from({ length: config.gttEntries }, () => scratch),
  };
}

/** Turns a guest gfn into a shadow entry, taking whatever the backend takes. */
function shadowFor(state: XenGtState, config: XenGtConfig, vgpu: Vgpu, gfn: number): ShadowEntry {
  const guest = runningDomain(state.xen, vgpu.domid);
  if (guest === undefined) return scratch;
  if (config.backend === 'lookup') {
    const entry = guest.p2m[gfn];
    return entry !== undefined && entry.type === 'ram_rw' ? { kind: 'mfn', mfn: entry.mfn } : scratch;
  }
  const backend = state.xen.domains[config.backendDomid];
  if (backend === undefined) return scratch;
  for (let offset = 0; offset < config.mappingPoolSize; offset++) {
    const dfn = config.mappingPoolBaseGfn + offset;
    if (backend.p2m[dfn] !== undefined) continue;
    const mapped = addToPhysmapForeign(state.xen, {
      domid: config.backendDomid,
      gfn: dfn,
      foreignDomid: vgpu.domid,
      foreignGfn: gfn,
    });
    if (!mapped.ok) return scratch;
    if (hasXenGtBug(config, 'map-takes-no-ref')) {
      const frame = state.xen.memory.frames[Number(mapped.detail?.['mfn'])];
      if (frame !== undefined) frame.refcount -= 1;
    }
    return { kind: 'dfn', dfn };
  }
  return scratch;
}

/** Gives back what a shadow entry holds (the map backend's mapping; the lookup backend holds nothing). */
function releaseShadow(state: XenGtState, config: XenGtConfig, shadow: ShadowEntry): void {
  if (shadow.kind !== 'dfn') return;
  const backend = state.xen.domains[config.backendDomid];
  const entry = backend?.p2m[shadow.dfn];
  if (backend === undefined || entry === undefined || entry.type !== 'map_foreign') return;
  if (hasXenGtBug(config, 'map-takes-no-ref')) getRef(state.xen.memory, entry.mfn);
  removeForeignMapping(state.xen, config.xen, { domid: config.backendDomid, gfn: shadow.dfn });
}

export function gttWrite(
  state: XenGtState,
  config: XenGtConfig,
  args: { entry: number; gfn: number; present: boolean },
): OpResult {
  const vgpu = state.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const old = vgpu.shadow[args.entry];
  // An index outside the vGPU's range is silently ignored (§4.3 step 2).
  if (old === undefined) return succeed({ ignored: true });
  vgpu.gtt[args.entry] = { present: args.present, gfn: args.gfn };
  // Add before remove: the new shadow entry is built before the old one is released.
  const shadow = args.present ? shadowFor(state, config, vgpu, args.gfn) : scratch;
  vgpu.shadow[args.entry] = shadow;
  if (!hasXenGtBug(config, 'gtt-replace-skips-unmap')) releaseShadow(state, config, old);
  return succeed(shadowDetail(shadow));
}

function shadowDetail(shadow: ShadowEntry): Record<string, number | string> {
  switch (shadow.kind) {
    case 'scratch':
      return { shadow: 'scratch' };
    case 'mfn':
      return { shadow: 'mfn', mfn: shadow.mfn };
    case 'dfn':
      return { shadow: 'dfn', dfn: shadow.dfn };
  }
}

export function destroyVgpu(state: XenGtState, config: XenGtConfig): OpResult {
  const vgpu = state.vgpu;
  if (vgpu === null) return fail('ENODEV');
  if (!hasXenGtBug(config, 'vgpu-destroy-skips-unmap')) {
    for (const shadow of vgpu.shadow) releaseShadow(state, config, shadow);
  }
  state.vgpu = null;
  return succeed();
}

export function createVgpuFor(state: XenGtState, config: XenGtConfig): OpResult {
  if (state.vgpu !== null) return fail('EEXIST');
  if (runningDomain(state.xen, config.guestDomid) === undefined) return fail('ESRCH');
  state.vgpu = createVgpu(config);
  return succeed();
}

/** Where a DMA through a shadow entry lands: a machine frame, the scratch page, or an IOMMU fault. */
export type DmaTarget =
  { readonly kind: 'frame'; readonly mfn: number } | { readonly kind: 'scratch' } | { readonly kind: 'fault' };

export function dmaTarget(state: XenGtState, config: XenGtConfig, shadow: ShadowEntry): DmaTarget {
  switch (shadow.kind) {
    case 'scratch':
      return { kind: 'scratch' };
    case 'mfn':
      return { kind: 'frame', mfn: shadow.mfn };
    case 'dfn': {
      const entry = state.xen.domains[config.backendDomid]?.p2m[shadow.dfn];
      return entry === undefined ? { kind: 'fault' } : { kind: 'frame', mfn: entry.mfn };
    }
  }
}

export function gpuDma(state: XenGtState, config: XenGtConfig, args: { entry: number; write: boolean }): OpResult {
  const vgpu = state.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const shadow = vgpu.shadow[args.entry];
  // A graphics address outside the vGPU's range never reaches the bus: the command scanner rejects it.
  if (shadow === undefined) return fail('EFAULT');
  const target = dmaTarget(state, config, shadow);
  if (target.kind !== 'frame') return succeed({ entry: args.entry, landed: target.kind });
  const owner = state.xen.memory.frames[target.mfn]?.owner ?? null;
  return succeed({ entry: args.entry, landed: 'frame', mfn: target.mfn, owner, write: args.write });
}
