/**
 * KVMGT generation aimed at a 64K split failing part-way (issue 21, `GvtHooks.failedSplit64KReleases`;
 * docs/reference/gvt-kvmgt.md §4.4a): the guest rewrites a split entry of a shadowed 64K table
 * while an armed fault strikes the new split past its first page, so that `split_64KB_gtt_entry`
 * returns having written some slots over the old split's. Without the aim, the three (a split
 * entry, a map fault armed, a store to that entry naming a page the fault strikes part-way) meet
 * in about one run of 1,000. With the aim, a preferred pick of such a table is that rewrite whole
 * (`resolveKvmgt`: a present qword store with the IPS bit, at a split slot, naming a page the
 * fault strikes): v6.12's `failedSplit64KReleases: () => 0` breaks in 12, 13 and 8 runs of 1,000
 * at seeds 1-3, 4, 8 and 4 when the store's size, presence and PS bit were drawn on their own.
 */
import { ips64kStride, is64kTable } from '../../models/gvt/ips64k.js';
import type { KvmgtWorld } from '../../models/kvmgt/config.js';
import { readableGuestPage } from '../../models/kvmgt/host.js';
import type { Spt } from '../../models/gvt/types.js';
import type { KvmgtFaultPoint, KvmgtState } from '../../models/kvmgt/types.js';

/** The used slots (every `stride`-th) of a shadowed table that hold a split entry's first page. */
function splitSlots(spt: Spt, stride: number): number[] {
  return spt.entries.flatMap((pte, index) => (index % stride === 0 && pte.kind === 'dma' ? [index] : []));
}

/** The shadowed 64K tables holding a split entry. */
function splitTables(state: KvmgtState, stride: number): number[] {
  return Object.values(state.vgpu?.spts ?? {}).flatMap((spt) =>
    is64kTable(spt) && splitSlots(spt, stride).length > 0 ? [spt.gfn] : [],
  );
}

/**
 * While a shadowed 64K table holds a split entry, the map attempt a fault armed now should strike
 * for a rewrite of it to fail part-way: the second, when a 64K page of RAM has two pages or more
 * not cached, else the first, when one has its first page cached and another not; null when
 * there is no split entry or no such page. `point`: the template's, a map point (a page track is
 * no map).
 */
export function faultForPartWaySplit(
  world: KvmgtWorld,
  state: KvmgtState,
  point: KvmgtFaultPoint,
): { readonly point: KvmgtFaultPoint; readonly nth: number } | null {
  const stride = ips64kStride(world.layout);
  if (splitTables(state, stride).length === 0) return null;
  const mapPoint = point === 'trackAdd' ? 'pin' : point;
  let nth: number | null = null;
  for (let base = 0; base + stride <= world.ramPages; base += stride) {
    const pages = Array.from({ length: stride }, (_, page) => base + page);
    const uncached = pages.filter((page) => state.vgpu?.cache[page] === undefined);
    if (uncached.length >= 2) return { point: mapPoint, nth: 2 };
    if (uncached.length === 1 && uncached[0] !== base) nth = 1;
  }
  return nth === null ? null : { point: mapPoint, nth };
}

/**
 * With a map fault armed (a pin, DMA map or cache insert: a page not cached yet makes one attempt
 * at each, `intel_gvt_dma_map_guest_page`), the used slots of the shadowed 64K table at `gfn` that
 * hold a split entry, and the first pages of the 64K pages whose split the fault strikes after its
 * first page. Empty lists when the table is no 64K table, holds no split entry, or no fault is armed.
 */
export function splitFailingPartWay(
  world: KvmgtWorld,
  state: KvmgtState,
  gfn: number,
): { readonly slots: readonly number[]; readonly targets: readonly number[] } {
  const spt = state.vgpu?.spts[gfn];
  const fault = state.fault;
  if (spt === undefined || !is64kTable(spt) || fault === null || fault.point === 'trackAdd')
    return { slots: [], targets: [] };
  const stride = ips64kStride(world.layout);
  const slots = splitSlots(spt, stride);
  if (slots.length === 0) return { slots, targets: [] };
  const targets: number[] = [];
  for (let base = 0; base + stride <= world.ramPages; base += stride) {
    const pages = Array.from({ length: stride }, (_, page) => base + page);
    // Each page a hit or a map the fault counts, up to the one it strikes.
    const attempts = pages.filter((page) => state.vgpu?.cache[page] === undefined);
    const struck = attempts[fault.nth - 1];
    if (struck === undefined || struck === base) continue;
    if (pages.filter((page) => page < struck).every((page) => readableGuestPage(state, world, page)))
      targets.push(base);
  }
  return { slots, targets };
}

/** The shadowed 64K tables whose split entry a store can rewrite into a split failing part-way (`splitFailingPartWay`). */
export function tablesFailingPartWay(world: KvmgtWorld, state: KvmgtState): number[] {
  return Object.values(state.vgpu?.spts ?? {}).flatMap((spt) =>
    splitFailingPartWay(world, state, spt.gfn).targets.length > 0 ? [spt.gfn] : [],
  );
}
