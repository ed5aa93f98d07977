/**
 * GGTT shadowing (`gtt.c emulate_ggtt_mmio_write`, docs/reference/gvt-kvmgt.md §4.3). The guest writes GGTT
 * entries through trapped MMIO; the mediator keeps the guest's value and writes the host entry:
 * the DMA address of the guest page, or scratch when the entry is not present, half written, or
 * the page cannot be mapped. The new host entry is obtained before the old one is released.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import { hasGvtBug, ownsGgttIndex } from './config.js';
import { dmaMapGuestPage, releaseLeaf } from './dma-cache.js';
import type { GvtHost } from './host.js';
import { SCRATCH } from './types.js';
import type { GvtWorld, ShadowPte } from './types.js';

export interface GgttWriteArgs {
  readonly index: number;
  readonly gfn: number;
  readonly present: boolean;
  /** MMIO access size: 8 writes the whole entry, 4 one half of it; anything else is refused. */
  readonly sizeBytes: number;
  /** Byte offset of the access inside the 8-byte entry: 0, or 4 for the upper half. */
  readonly offsetBytes: number;
}

export function emulateGgttWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: GgttWriteArgs,
): OpResult {
  const vgpu = world.vgpu;
  // No vGPU: no BAR to write to.
  if (vgpu === null) return fail('ENODEV');
  const validOffset = args.sizeBytes === 8 ? args.offsetBytes === 0 : args.offsetBytes === 0 || args.offsetBytes === 4;
  if ((args.sizeBytes !== 4 && args.sizeBytes !== 8) || !validOffset) return fail('EINVAL');
  // The guest may touch the whole table while ballooning: writes outside its ranges are ignored.
  if (!ownsGgttIndex(config.layout, args.index)) return succeed({ ignored: true });
  const written = { present: args.present, gfn: args.gfn };
  let partialUpdate = false;
  if (args.sizeBytes === 4) {
    const pending = vgpu.ggttPartial[args.index];
    if (pending === args.offsetBytes) {
      // The same half again: only the guest's copy changes.
      vgpu.ggttGuest[args.index] = written;
      return succeed({ partial: true });
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
  let shadow: ShadowPte = SCRATCH;
  let mapError: string | null = null;
  if (!partialUpdate && args.present) {
    const mapped = dmaMapGuestPage(world, host, config, args.gfn);
    if (mapped.ok) shadow = { kind: 'dma', dmaAddr: mapped.dmaAddr };
    else mapError = mapped.errno;
  }
  vgpu.ggttGuest[args.index] = written;
  const old = vgpu.ggttHost[args.index] ?? SCRATCH;
  if (!hasGvtBug(config, 'ggtt-replace-keeps-ref')) releaseLeaf(world, host, old);
  vgpu.ggttHost[args.index] = shadow;
  return succeed({
    shadow: shadow.kind === 'dma' ? shadow.dmaAddr : 'scratch',
    ...(partialUpdate ? { partial: true } : {}),
    ...(mapError !== null ? { mapError } : {}),
  });
}
