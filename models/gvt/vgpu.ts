/**
 * vGPU lifecycle and the page-track notifier (docs/reference/gvt-kvmgt.md §4.1, §4.5, §4.7). Create gives the
 * vGPU scratch host entries over its ranges; close releases it (page tracking and the whole DMA
 * cache, whatever the references); destroy resets its GGTT ranges to scratch and cleans its PPGTTs.
 *
 * A stack may keep the hardware's entries of the ranges past the vGPU (`TeardownOptions`, KVMGT's
 * `releasedGgtt`): destroy resets them in v6.12 (`vgpu.c intel_gvt_destroy_vgpu` →
 * `gtt.c intel_vgpu_reset_ggtt(vgpu, true)`), a flawed destroy does not.
 *
 * Simplified: one vGPU per world, attached from creation to destruction (device open and close are
 * folded into create and destroy), its partition fixed by the configuration (no allocation from a
 * shared pool, so the -ENOSPC rows do not occur).
 */
import { deepEqual } from '../deep-equal.js';
import type { GvtConfig, GvtLayout } from './config.js';
import { hasGvtBug, ownGgttIndices } from './config.js';
import { destroyCache } from './dma-cache.js';
import type { GvtHost } from './host.js';
import { unregisterPageTrack } from './page-track.js';
import { cleanPpgtt } from './ppgtt-mm.js';
import { SCRATCH } from './types.js';
import type { DmaCacheEntry, GuestQword, GvtVgpu, GvtWorld, ShadowPte, Spt } from './types.js';

export function newVgpu(layout: GvtLayout): GvtVgpu {
  return {
    ggttGuest: Array.from({ length: layout.ggttEntries }, () => ({ present: false, gfn: 0 })),
    ggttHost: Array.from({ length: layout.ggttEntries }, () => SCRATCH),
    ggttPartial: {},
    mms: [],
    spts: {},
    tracked: [],
    cache: {},
    workloads: [],
    failsafe: false,
  };
}

export function cloneVgpu(vgpu: GvtVgpu | null): GvtVgpu | null {
  if (vgpu === null) return null;
  // `for…in`, not `Object.entries`: every KVMGT and XenGT step copies the vGPU (issue 23).
  const spts: GvtVgpu['spts'] = {};
  for (const gfn in vgpu.spts) {
    const spt = vgpu.spts[gfn] as Spt;
    spts[gfn] = { ...spt, entries: [...spt.entries], postShadow: [...spt.postShadow] };
  }
  const cache: GvtVgpu['cache'] = {};
  for (const gfn in vgpu.cache) cache[gfn] = { ...(vgpu.cache[gfn] as DmaCacheEntry) };
  return {
    ggttGuest: [...vgpu.ggttGuest],
    ggttHost: [...vgpu.ggttHost],
    ggttPartial: { ...vgpu.ggttPartial },
    mms: vgpu.mms.map((mm) => ({ ...mm })),
    spts,
    tracked: [...vgpu.tracked],
    cache,
    workloads: [...vgpu.workloads],
    failsafe: vgpu.failsafe,
  };
}

/**
 * `after`, with every table equal to `before`'s replaced by `before`'s own object, and `before`
 * itself when no table changed. A step works on a whole copy of the vGPU (`cloneVgpu`), since the
 * mediator edits its tables in place; handing the tables it left alone back as the previous
 * state's objects lets an invariant that reads only those be skipped (`Invariant.reads`), and lets
 * the atomicity check stop at the first level after a refusal. `after` must be this step's copy:
 * its tables are handed on as they are.
 */
export function reshareVgpu(before: GvtVgpu | null, after: GvtVgpu | null): GvtVgpu | null {
  if (before === null || after === null || before === after) return after;
  const shared: GvtVgpu = {
    ggttGuest: sameOr(before.ggttGuest, after.ggttGuest),
    ggttHost: sameOr(before.ggttHost, after.ggttHost),
    ggttPartial: sameOr(before.ggttPartial, after.ggttPartial),
    mms: sameOr(before.mms, after.mms),
    spts: sameOr(before.spts, after.spts),
    tracked: sameOr(before.tracked, after.tracked),
    cache: sameOr(before.cache, after.cache),
    workloads: sameOr(before.workloads, after.workloads),
    failsafe: after.failsafe,
  };
  for (const key in shared) if (shared[key as keyof GvtVgpu] !== before[key as keyof GvtVgpu]) return shared;
  return before;
}

function sameOr<T>(before: T, after: T): T {
  return deepEqual(before, after) ? before : after;
}

/** How a stack's destroy runs (issue 18): absent fields keep the shipped behaviour. */
export interface TeardownOptions {
  /**
   * `false`: destroy leaves the host GGTT entries of the vGPU's ranges as they were (no
   * `intel_vgpu_reset_ggtt` in `intel_gvt_destroy_vgpu`, as before it was added): the entries
   * keep DMA addresses the close has just unmapped.
   */
  readonly resetGgtt?: boolean;
}

/**
 * Close then destroy, in the kernel's order: close unregisters page tracking and destroys the
 * whole DMA cache, whatever the references (§4.7); the vGPU is then detached, so destroy's reset
 * of the GGTT ranges and cleaning of the PPGTTs release nothing more.
 */
export function teardownVgpu<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  options: TeardownOptions = {},
): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const gfn of [...vgpu.tracked]) unregisterPageTrack(world, host, config, gfn);
  if (!hasGvtBug(config, 'destroy-keeps-cache')) destroyCache(world, host);
  // Detached: DMA unmaps find no cache (whatever the bug left behind is forgotten, pins and all).
  vgpu.cache = {};
  // intel_gvt_destroy_vgpu → intel_vgpu_reset_ggtt(vgpu, true): the range back to scratch.
  if (options.resetGgtt !== false) for (const index of ownGgttIndices(config.layout)) vgpu.ggttHost[index] = SCRATCH;
  cleanPpgtt(world, host, config);
  world.vgpu = null;
}

/**
 * What the hardware keeps of a destroyed vGPU's ranges (issue 18, "hardware outlives software"):
 * the host GGTT as teardown left it, or null when every entry of the vGPU's ranges is on scratch
 * (as v6.12's destroy leaves them). Read by `unowned-ggtt-reaches-scratch` while no vGPU owns them.
 */
export function releasedGgttOf(vgpu: GvtVgpu, layout: GvtLayout): ShadowPte[] | null {
  const left = ownGgttIndices(layout).some((index) => vgpu.ggttHost[index]?.kind !== 'scratch');
  return left ? [...vgpu.ggttHost] : null;
}

/**
 * A new vGPU over the ranges a destroyed one left (`released`): `intel_gvt_create_vgpu` →
 * `intel_vgpu_init_gtt` → `intel_vgpu_reset_ggtt(vgpu, false)` points them at scratch
 * (`resetGgtt`, the default); a create without it inherits what the hardware holds.
 */
export function createdVgpu(layout: GvtLayout, released: readonly ShadowPte[] | null, resetGgtt = true): GvtVgpu {
  const vgpu = newVgpu(layout);
  if (!resetGgtt && released !== null) {
    for (const index of ownGgttIndices(layout)) vgpu.ggttHost[index] = released[index] ?? SCRATCH;
  }
  return vgpu;
}

/** A zero page: every qword a not-present entry. */
export function zeroPage(layout: GvtLayout): GuestQword[] {
  return Array.from({ length: layout.entriesPerTable }, () => ({ kind: 'pte', present: false, gfn: 0 }));
}

/** Stores `qword` at `index` of guest page `gfn` (the guest's own memory, no trap). */
export function storeGuestQword(
  world: GvtWorld,
  layout: GvtLayout,
  args: { readonly gfn: number; readonly index: number; readonly qword: GuestQword },
): void {
  const page = [...(world.guestPages[args.gfn] ?? zeroPage(layout))];
  page[args.index] = args.qword;
  // A new record: steps share the guest's pages with the state before them until a store.
  world.guestPages = { ...world.guestPages, [args.gfn]: page };
}
