/**
 * GGTT shadowing (`gtt.c emulate_ggtt_mmio_write`, docs/reference/gvt-kvmgt.md §4.3). The guest writes GGTT
 * entries through trapped MMIO; the mediator keeps the guest's value and writes the host entry:
 * the DMA address of the guest page, or scratch when the entry is not present, half written, or
 * the page cannot be mapped. The new host entry is obtained before the old one is released.
 *
 * Two phases, for stacks that model the emulation taking time (the XenGT backend's hypercall):
 * `startGgttWrite` checks the access, keeps the half of a 4-byte write, and on a DMA cache miss
 * asks the hypervisor for the guest page's DMA address (`GvtHost.dmaMap`: for XenGT the backend's
 * lookup or map hypercall); `finishGgttWrite` takes the DMA cache's reference, writes the guest's
 * copy, releases the old host entry and writes the new one. The whole emulation runs under the
 * vGPU's lock (`intel_vgpu_emulate_mmio_write` holds `vgpu->vgpu_lock`), so no other mediator work
 * of the vGPU runs between the phases — only the hypervisor's and other domains' (a balloon on
 * another vCPU, another domain taking a freed frame, the GPU). That is why the cache's hit or miss
 * decided in the first phase still holds in the second, and why the cache entry is inserted (or
 * its reference taken) only there: between the phases no mediator invariant sees a half-made
 * write. `emulateGgttWrite` runs both with nothing in between, exactly as before the split.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import { gvtHook, hasGvtBug, ownsGgttIndex } from './config.js';
import { decrementLeafRef, dmaMapGuestPage, releaseLeaf } from './dma-cache.js';
import type { DmaMapResult, GvtHost } from './host.js';
import { SCRATCH } from './types.js';
import type { GuestPte, GvtWorld, ShadowPte } from './types.js';

export interface GgttWriteArgs {
  readonly index: number;
  readonly gfn: number;
  readonly present: boolean;
  /** MMIO access size: 8 writes the whole entry, 4 one half of it; anything else is refused. */
  readonly sizeBytes: number;
  /** Byte offset of the access inside the 8-byte entry: 0, or 4 for the upper half. */
  readonly offsetBytes: number;
}

/** What the first phase of a GGTT write leaves for the second (plain data). */
export interface GgttWritePending {
  readonly index: number;
  /** The guest's entry as written, stored in its copy by the second phase. */
  readonly written: GuestPte;
  /** The first half of a 4-byte write: the host entry goes to scratch until the other half. */
  readonly partialUpdate: boolean;
  /** The entry is present and whole: it is translated (a DMA cache hit or the hypervisor's map). */
  readonly translate: boolean;
  /**
   * The hypervisor's answer on a DMA cache miss, obtained in the first phase; null on a hit (the
   * cache's reference is taken in the second phase) or when nothing is translated.
   */
  readonly mapped: DmaMapResult | null;
  /**
   * The old host entry was already released in the first phase (a flawed ordering some stacks
   * model: the release before the shadow entry is replaced); the second phase does not release it.
   */
  readonly releasedOld?: boolean;
}

/** The first phase's outcome: the write is done (refused, ignored, a repeated half), or pending. */
export type GgttWriteStart = { readonly done: OpResult } | { readonly pending: GgttWritePending };

/** Phase 1: the access checked, a half kept, and on a DMA cache miss the hypervisor's translation. */
export function startGgttWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: GgttWriteArgs,
): GgttWriteStart {
  const vgpu = world.vgpu;
  // No vGPU: no BAR to write to.
  if (vgpu === null) return { done: fail('ENODEV') };
  const validOffset = args.sizeBytes === 8 ? args.offsetBytes === 0 : args.offsetBytes === 0 || args.offsetBytes === 4;
  if ((args.sizeBytes !== 4 && args.sizeBytes !== 8) || !validOffset) return { done: fail('EINVAL') };
  // The guest may touch the whole table while ballooning: writes outside its ranges are ignored.
  if (!ownsGgttIndex(config.layout, args.index)) return { done: succeed({ ignored: true }) };
  const written = { present: args.present, gfn: args.gfn };
  let partialUpdate = false;
  if (args.sizeBytes === 4) {
    const pending = vgpu.ggttPartial[args.index];
    if (pending === args.offsetBytes) {
      // The same half again: only the guest's copy changes.
      vgpu.ggttGuest[args.index] = written;
      return { done: succeed({ partial: true }) };
    }
    if (pending === undefined) {
      vgpu.ggttPartial[args.index] = args.offsetBytes;
      partialUpdate = true;
    } else {
      delete vgpu.ggttPartial[args.index];
    }
  } else {
    // A full write supersedes a pending half. (GVT leaves the half in its partial list, where a
    // later 4-byte write to the other half would pair with it; the model drops it.)
    delete vgpu.ggttPartial[args.index];
  }
  // v6.12 translates a whole entry only (`!partial_update && test_present(&e)`); a design's hook
  // may shadow the half written too.
  const shadowHalf =
    partialUpdate &&
    gvtHook(config, 'shadowHalfWritten')({ index: args.index, offsetBytes: args.offsetBytes, entry: written });
  const translate = (!partialUpdate || shadowHalf) && args.present;
  // A cache miss asks the hypervisor now (intel_gvt_dma_map_guest_page → the backend's hypercall).
  const mapped = translate && vgpu.cache[args.gfn] === undefined ? host.dmaMap(world, args.gfn) : null;
  return { pending: { index: args.index, written, partialUpdate, translate, mapped } };
}

/** Phase 2: the cache's reference, the guest's copy, the old host entry released, the new one written. */
export function finishGgttWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  pending: GgttWritePending,
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  let shadow: ShadowPte = SCRATCH;
  let mapError: string | null = null;
  if (pending.translate) {
    // The translation made in the first phase stands in for the hypervisor's on the miss; a hit
    // takes its reference here, as `intel_gvt_dma_map_guest_page` does.
    const mapped = pending.mapped;
    const translated = mapped === null ? host : { ...host, dmaMap: (): DmaMapResult => mapped };
    const result = dmaMapGuestPage(world, translated, config, pending.written.gfn);
    if (result.ok) shadow = { kind: 'dma', dmaAddr: result.dmaAddr };
    else mapError = result.errno;
  }
  vgpu.ggttGuest[pending.index] = pending.written;
  const old = vgpu.ggttHost[pending.index] ?? SCRATCH;
  if (pending.releasedOld !== true && !hasGvtBug(config, 'ggtt-replace-keeps-ref')) {
    if (hasGvtBug(config, 'ggtt-replace-skips-release')) decrementLeafRef(world, old);
    else releaseLeaf(world, host, old);
  }
  vgpu.ggttHost[pending.index] = shadow;
  return succeed({
    shadow: shadow.kind === 'dma' ? shadow.dmaAddr : 'scratch',
    ...(pending.partialUpdate ? { partial: true } : {}),
    ...(mapError !== null ? { mapError } : {}),
  });
}

/** The whole emulation with nothing in between: what a trapped write does when it is not phased. */
export function emulateGgttWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: GgttWriteArgs,
): OpResult {
  const started = startGgttWrite(world, host, config, args);
  return 'done' in started ? started.done : finishGgttWrite(world, host, config, started.pending);
}
