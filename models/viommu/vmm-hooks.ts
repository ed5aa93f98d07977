/**
 * The VMM's decision points in a vIOMMU design, as hooks a design supplies (QEMU's intel-iommu
 * with an assigned device; docs/reference/vtd.md §3.4, §3.6, §5.3): what it does with a guest
 * invalidation it trapped, with a balloon request, and with a context-cache invalidation after the
 * guest detached its device or moved it to another domain (docs/reference/viommu.md §7.7). A hook
 * reads the state and returns the
 * requests the VMM makes of the host, in the real calls' words (`VmmRequest`: VFIO MAP_DMA and
 * UNMAP_DMA, IOMMU_HWPT_INVALIDATE, madvise, a page fault); the stack performs them (`vmm.ts`).
 *
 * A hook is pure: it returns a new list and never modifies the state or anything else it is given
 * (the engine's purity guard, `strict`, reports a step that changed its input as a crash). It
 * cannot change the host except through the requests it returns, so whatever it asks, VFIO and the
 * host IOMMU answer as they would a real VMM: a bad request is refused, never believed.
 *
 * The built-in VMMs are written with the same hooks: `replayGuestTable` and `shadowBalloon` for
 * shadow (caching mode), `forwardToNestedDomain` and `nestedBalloon` for nested, and the flawed
 * `replayMissingUnmaps` (VMM bug `shadow-misses-unmap`) and `dropInvalidation`
 * (`nested-drops-invalidation`); for context-cache invalidations `syncAddressSpace` (shadow; QEMU
 * `vtd_address_space_sync`) and `flushNestedOnRebind` (nested), and the flawed
 * `syncKeepingShadowOnClear` (`shadow-context-clear-keeps-shadow`) and `skipSameDid`
 * (`context-sync-skips-same-did`).
 */
import type { FirstLevelEntry } from '../iommu/types.js';
import type { PasidCacheEntry, PasidCacheGranularity, ViommuState } from './types.js';
import { RID_PASID } from './types.js';

/** GIOVA pages [startPage, endPage) of a page-selective invalidation, or every page. */
export type InvalidatedRange = { readonly startPage: number; readonly endPage: number } | 'all';

/** A request the VMM makes of the host on the guest's behalf; the stack performs it. */
export type VmmRequest =
  /** VFIO_IOMMU_MAP_DMA of one page: the vaddr of GPA page `gpaPage` at IOVA page `iovaPage`, readable, writable if `write`. */
  | { readonly kind: 'mapDma'; readonly iovaPage: number; readonly gpaPage: number; readonly write: boolean }
  /** VFIO_IOMMU_UNMAP_DMA of IOVA pages [iovaPage, iovaPage + npages). */
  | { readonly kind: 'unmapDma'; readonly iovaPage: number; readonly npages: number }
  /**
   * IOMMU_HWPT_INVALIDATE on the device's nested domain over `range`: the host IOTLB's cached
   * first-level translations (combined entries) of the range are dropped. Refused without a nested
   * domain.
   */
  | { readonly kind: 'invalidateNested'; readonly range: InvalidatedRange }
  /** madvise(MADV_DONTNEED) of GPA page `gpaPage`'s vaddr: its frame goes back unless VFIO pins it. */
  | { readonly kind: 'discard'; readonly gpaPage: number }
  /** A write fault on GPA page `gpaPage`'s vaddr: a fresh frame if it has none. */
  | { readonly kind: 'touch'; readonly gpaPage: number }
  /**
   * The invalidation wait descriptor's completion (QEMU `vtd_process_wait_desc`: the status write
   * the guest polls, or the completion interrupt): the guest's vCPU goes on. An invalidation
   * handler that omits it completes the wait after its last request; a balloon handler's is ignored.
   */
  | { readonly kind: 'completeWait' };

/** A guest invalidation of its own domain, trapped by the VMM (one VM exit). */
export interface TrappedInvalidation {
  /** The state when the guest invalidated: its table (`state.guest.table`) is already written. Do not modify. */
  readonly state: ViommuState;
  /** The GIOVA pages the guest invalidated (`'all'`: domain-selective or global). */
  readonly range: InvalidatedRange;
  /**
   * What the VMM has mapped through VFIO, by IOVA page: its own record of what it shadowed (QEMU's
   * IOVA tree), read back from VFIO's mappings (one single-page mapping per page). In nested mode,
   * the stage-2 mappings of guest RAM at IOVA = GPA.
   */
  readonly mapped: ReadonlyMap<number, FirstLevelEntry>;
}

/**
 * The VMM's handling of a trapped invalidation: the requests it makes, in order. Each is performed
 * on its own: one the host refuses changes nothing and the VMM goes on (QEMU logs a failed
 * MAP_DMA and carries on; the device then faults there). A `mapDma` of a GPA page outside guest
 * RAM is refused before any ioctl (QEMU maps RAM only).
 */
export type InvalidationHandler = (trap: TrappedInvalidation) => readonly VmmRequest[];

/** A balloon request of the guest (one VM exit), after the driver's own checks passed. */
export interface BalloonRequest {
  /** The state before the request. Do not modify. */
  readonly state: ViommuState;
  /** The guest RAM page the balloon gives back (`out`) or takes again (`in`). */
  readonly gpaPage: number;
  readonly direction: 'out' | 'in';
}

/**
 * The VMM's handling of a balloon request: the requests it makes, in order. They succeed together
 * or not at all: the first the host refuses refuses the balloon request with its error, and the
 * host is left as it was.
 */
export type BalloonHandler = (request: BalloonRequest) => readonly VmmRequest[];

/**
 * A context-cache invalidation of the guest's, trapped by the VMM (one VM exit): the guest rewrote
 * the device's context entry (detached it, or attached it to another domain) and invalidated
 * (`lifecycle.ts`).
 */
export interface TrappedContextInvalidation {
  /** The state when the guest invalidated: `state.guest.did` is the context entry now (null: cleared). Do not modify. */
  readonly state: ViommuState;
  /** The DID of the VMM's cached copy of the context entry (QEMU `vtd_as->context_cache_entry`), null for a cleared one. */
  readonly cached: number | null;
  /** What the VMM has mapped for the device, GIOVA page → entry (shadow; empty in nested). Do not modify. */
  readonly mapped: ReadonlyMap<number, FirstLevelEntry>;
}

/** The VMM's handling of a context-cache invalidation: the requests it makes, each on its own. */
export type ContextHandler = (trap: TrappedContextInvalidation) => readonly VmmRequest[];

/**
 * The guest turned translation on or off (GCMD.TE, one VM exit): `state.guest.translation` is the new
 * setting (`lifecycle.ts`).
 */
export interface TranslationSwitch {
  /** The state with the guest's new setting. Do not modify. */
  readonly state: ViommuState;
  /** What the VMM has mapped for the device, IOVA page → entry (shadow; empty in nested). Do not modify. */
  readonly mapped: ReadonlyMap<number, FirstLevelEntry>;
}

/** The VMM's handling of a GCMD.TE change: the requests it makes, each on its own. */
export type TranslationHandler = (change: TranslationSwitch) => readonly VmmRequest[];

/**
 * A PASID-cache invalidation descriptor of the guest's, trapped by the VMM (one VM exit; scalable
 * mode, `pasid.ts`): `state.guest.did` is the DID of the device's RID_PASID entry in guest memory
 * (null: not present).
 */
export interface TrappedPasidCacheInvalidation {
  /** The state when the guest invalidated. Do not modify. */
  readonly state: ViommuState;
  readonly granularity: PasidCacheGranularity;
  /** The descriptor's DID (domain- and PASID-selective). */
  readonly did: number;
  /** The descriptor's PASID (PASID-selective). */
  readonly pasid: number;
  /** The VMM's cached copy of the RID_PASID entry (QEMU `pasid_cache_entry`), null when not valid. */
  readonly cached: PasidCacheEntry | null;
  /** What the VMM has mapped for the device, GIOVA page → entry. Do not modify. */
  readonly mapped: ReadonlyMap<number, FirstLevelEntry>;
}

/** What the VMM does with a PASID-cache invalidation: its PASID cache afterwards, and its requests (each on its own). */
export interface PasidCacheSync {
  readonly cache: PasidCacheEntry | null;
  readonly requests: readonly VmmRequest[];
}

/** The VMM's handling of a PASID-cache invalidation. */
export type PasidCacheHandler = (trap: TrappedPasidCacheInvalidation) => PasidCacheSync;

/** A VMM: its decision points. */
export interface VmmHooks {
  /** What it does with a trapped invalidation of the guest's domain. */
  readonly invalidation: InvalidationHandler;
  /** What it does with a balloon request. */
  readonly balloon: BalloonHandler;
  /** What it does with a context-cache invalidation (`lifecycle.ts`). */
  readonly context: ContextHandler;
  /** What it does when the guest turns translation on or off (`lifecycle.ts`). */
  readonly translation: TranslationHandler;
  /** What it does with a PASID-cache invalidation in scalable mode (`pasid.ts`). */
  readonly pasidCache: PasidCacheHandler;
}

function inRange(range: InvalidatedRange, page: number): boolean {
  return range === 'all' || (page >= range.startPage && page < range.endPage);
}

/** Runs of consecutive pages, ascending: one UNMAP_DMA each. */
export function consecutiveRuns(pages: readonly number[]): { startPage: number; pages: number }[] {
  const runs: { startPage: number; pages: number }[] = [];
  for (const page of pages) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.startPage + last.pages === page) last.pages += 1;
    else runs.push({ startPage: page, pages: 1 });
  }
  return runs;
}

/** UNMAP_DMA of everything the VMM mapped, one per run of consecutive IOVA pages (QEMU `vtd_address_space_unmap`). */
function unmapAll(mapped: ReadonlyMap<number, FirstLevelEntry>): VmmRequest[] {
  return consecutiveRuns([...mapped.keys()].sort((a, b) => a - b)).map((run): VmmRequest => ({
    kind: 'unmapDma',
    iovaPage: run.startPage,
    npages: run.pages,
  }));
}

/**
 * The shadow VMM (caching mode): QEMU replays the invalidated range of the guest's table against
 * what it mapped. Entries that are gone or changed are unmapped first, one UNMAP_DMA per run of
 * consecutive GIOVA pages; entries that are new or changed are then mapped, one MAP_DMA per page
 * at IOVA = GIOVA. A domain-selective or global invalidation replays every page the guest maps or
 * the VMM has mapped. `missUnmaps`: the flawed handler of `shadow-misses-unmap`, which maps what
 * the guest added but never unmaps (nor remaps) what it removed or changed.
 */
function replay(trap: TrappedInvalidation, missUnmaps: boolean): VmmRequest[] {
  const table = trap.state.guest.table;
  const pages = [...new Set([...Object.keys(table).map(Number), ...trap.mapped.keys()])]
    .filter((page) => inRange(trap.range, page))
    .sort((a, b) => a - b);
  const toUnmap: number[] = [];
  const toMap: VmmRequest[] = [];
  for (const giovaPage of pages) {
    const wanted = Object.hasOwn(table, giovaPage) ? table[giovaPage] : undefined;
    const have = trap.mapped.get(giovaPage);
    const same =
      wanted !== undefined && have !== undefined && wanted.gpaPage === have.gpaPage && wanted.write === have.write;
    if (have !== undefined && !same && !missUnmaps) toUnmap.push(giovaPage);
    if (wanted !== undefined && !same && (have === undefined || !missUnmaps)) {
      toMap.push({ kind: 'mapDma', iovaPage: giovaPage, gpaPage: wanted.gpaPage, write: wanted.write });
    }
  }
  const unmaps = consecutiveRuns(toUnmap).map((run): VmmRequest => ({
    kind: 'unmapDma',
    iovaPage: run.startPage,
    npages: run.pages,
  }));
  return [...unmaps, ...toMap];
}

/** Shadow: replay the invalidated range of the guest's table as UNMAP_DMA then MAP_DMA at IOVA = GIOVA. */
export const replayGuestTable: InvalidationHandler = (trap) => replay(trap, false);

/** Shadow, flawed (`shadow-misses-unmap`): maps what the guest added, never unmaps what it removed. */
export const replayMissingUnmaps: InvalidationHandler = (trap) => replay(trap, true);

/** Nested: forward the invalidation to the nested domain as one IOMMU_HWPT_INVALIDATE. */
export const forwardToNestedDomain: InvalidationHandler = (trap) => [{ kind: 'invalidateNested', range: trap.range }];

/** Nested, flawed (`nested-drops-invalidation`): the invalidation is trapped and forgotten. */
export const dropInvalidation: InvalidationHandler = () => [];

/**
 * A handler's requests with the wait descriptor completed first (`shadow-completes-wait-before-unmap`
 * on the shadow one): the guest's vCPU goes on while the VMM's ioctls are still to come.
 */
export function completeWaitFirst(handler: InvalidationHandler): InvalidationHandler {
  return (trap) => [{ kind: 'completeWait' }, ...handler(trap).filter((request) => request.kind !== 'completeWait')];
}

/** Shadow: out, the page is discarded (VFIO's pin keeps a frame it still maps); in, it is faulted in again. */
export const shadowBalloon: BalloonHandler = ({ gpaPage, direction }) =>
  direction === 'out' ? [{ kind: 'discard', gpaPage }] : [{ kind: 'touch', gpaPage }];

/**
 * Nested: out, the page is first unmapped from stage 2 (UNMAP_DMA at IOVA = GPA), so the device
 * stops reaching it, then discarded; in, it is faulted in and mapped into stage 2 again.
 */
export const nestedBalloon: BalloonHandler = ({ gpaPage, direction }) =>
  direction === 'out'
    ? [
        { kind: 'unmapDma', iovaPage: gpaPage, npages: 1 },
        { kind: 'discard', gpaPage },
      ]
    : [
        { kind: 'touch', gpaPage },
        { kind: 'mapDma', iovaPage: gpaPage, gpaPage, write: true },
      ];

/**
 * Shadow: QEMU's `vtd_context_device_invalidate` / `vtd_context_global_invalidate` →
 * `vtd_address_space_sync`. A context entry that is not present unmaps everything the device's
 * address space has (`vtd_address_space_unmap`: "instead of synchronizing the shadow pages we
 * should invalidate all existing mappings"); a present one replays the whole range of the table it
 * points to (`vtd_sync_shadow_page_table_range(…, 0, UINT64_MAX)`): unmap what the table does not
 * map (or maps elsewhere), map what it maps.
 */
export const syncAddressSpace: ContextHandler = (trap) => syncAddressSpaceWith(replayGuestTable)(trap);

/**
 * `syncAddressSpace` whose whole-range replay goes through `replay`: QEMU's context resync, TE
 * switch and IOTLB invalidation all reach VFIO through the same shadow sync and notifier
 * (`vtd_sync_shadow_page_table_range` → `vfio_iommu_map_notify`), so a VMM whose invalidation
 * handler is its own replays with it here too.
 */
export function syncAddressSpaceWith(replay: InvalidationHandler): ContextHandler {
  return (trap) =>
    trap.state.guest.did === null
      ? unmapAll(trap.mapped)
      : replay({ state: trap.state, range: 'all', mapped: trap.mapped });
}

/**
 * Shadow, flawed (`shadow-context-clear-keeps-shadow`): a cleared context entry is taken for an
 * error and the sync returns, as before QEMU's "intel-iommu: handle invalid ce for shadow sync".
 */
export const syncKeepingShadowOnClear: ContextHandler = (trap) =>
  trap.state.guest.did === null ? [] : syncAddressSpace(trap);

/**
 * Nested: the guest's table the nested domain walks changed (or is gone), so every first-level
 * translation the host IOTLB cached for it is flushed: one IOMMU_HWPT_INVALIDATE of all. (The
 * model walks the guest's current table; a real VMM also re-binds the first-level pointer.)
 */
export const flushNestedOnRebind: ContextHandler = () => [{ kind: 'invalidateNested', range: 'all' }];

/**
 * Flawed (`context-sync-skips-same-did`): a handler that does nothing when the context entry names
 * the DID the VMM cached, taking a reused DID for the same domain.
 */
export function skipSameDid(handler: ContextHandler): ContextHandler {
  return (trap) => (trap.state.guest.did !== null && trap.state.guest.did === trap.cached ? [] : handler(trap));
}

/**
 * Shadow: QEMU's `vtd_handle_gcmd_te` → `vtd_address_space_refresh_all`: every shadow mapping is
 * unmapped (`vtd_address_space_unmap_all`) and each address space switched
 * (`vtd_switch_address_space`). Off, the device's address space is the no-DMAR alias of guest
 * memory, which VFIO's listener maps whole: one MAP_DMA per RAM page at IOVA = GPA (pages the
 * balloon holds are not backed, and left out). On, the IOMMU region is back and its notifier replays
 * the guest's table (`vtd_iommu_replay`): the whole-range replay, which also unmaps the no-DMAR
 * mappings the table does not keep.
 */
export const refreshAddressSpaces: TranslationHandler = (change) => refreshAddressSpacesWith(replayGuestTable)(change);

/** `refreshAddressSpaces` whose replay (translation back on) goes through `replay` (see `syncAddressSpaceWith`). */
export const refreshAddressSpacesWith =
  (replay: InvalidationHandler): TranslationHandler =>
  ({ state, mapped }) => {
    if (state.guest.translation) return replay({ state, range: 'all', mapped });
    const unmaps = unmapAll(mapped);
    const ram = Array.from({ length: state.guestRam.pages }, (_, page) => page).filter(
      (page) => !state.guest.ballooned.includes(page),
    );
    return [
      ...unmaps,
      ...ram.map((page): VmmRequest => ({ kind: 'mapDma', iovaPage: page, gpaPage: page, write: true })),
    ];
  };

/**
 * Shadow, flawed (`shadow-te-on-keeps-no-dmar`): turning translation on, the VMM maps what the
 * guest's table maps and unmaps nothing, so the no-DMAR mappings the table does not overwrite stay.
 */
export const refreshKeepingNoDmar: TranslationHandler = (change) =>
  change.state.guest.translation
    ? refreshAddressSpaces(change).filter((request) => request.kind !== 'unmapDma')
    : refreshAddressSpaces(change);

/**
 * Nested: the device walks stage 2 alone while translation is off (the model: an identity first
 * level over guest RAM), and the guest's table again when it is on; either way the first-level
 * translations the host IOTLB cached are flushed.
 */
export const flushNestedOnSwitch: TranslationHandler = () => [{ kind: 'invalidateNested', range: 'all' }];

/**
 * A PASID-cache invalidation as QEMU v10.2.0 handles it (hw/i386/intel_iommu.c
 * `vtd_process_pasid_desc` → `vtd_pasid_cache_sync` → `vtd_pasid_cache_sync_locked`), with
 * `unmapWithoutCache` deciding its one gate:
 *
 * 1. The RID_PASID entry in guest memory is not valid (`vtd_dev_get_pe_from_pasid` fails): the
 *    cache is invalidated and every shadow mapping unmapped ("we should unmap all mappings in
 *    shadow pages instantly to ensure DMA security"), whatever the descriptor's granularity, DID
 *    or PASID. QEMU does this only when the cache held the entry (`if (!pc_entry->valid)
 *    return;`): `unmapWithoutCache` false is QEMU's gate, true unmaps either way.
 * 2. PASID-selective for another PASID than the device's RID_PASID: nothing.
 * 3. Domain- or PASID-selective: the DID is compared with the cached entry's, or with guest
 *    memory's when nothing is cached; another DID: nothing.
 * 4. Nothing cached: the entry is cached. Cached and unchanged (`vtd_pasid_entry_compare`):
 *    nothing. Cached and changed: the cache keeps the old entry (QEMU does not update it).
 * 5. `vtd_switch_address_space`, `vtd_address_space_sync`: the whole table replayed with `replay`.
 *
 * `vtd_pasid_cache_sync` does nothing with translation off; the step checks that.
 */
export function syncPasidCacheWith(replay: InvalidationHandler, unmapWithoutCache: boolean): PasidCacheHandler {
  return (trap) => {
    const entry = trap.state.guest.did;
    if (entry === null) {
      if (trap.cached === null && !unmapWithoutCache) return { cache: null, requests: [] };
      return { cache: null, requests: unmapAll(trap.mapped) };
    }
    const unchanged = { cache: trap.cached, requests: [] };
    if (trap.granularity === 'pasid' && trap.pasid !== RID_PASID) return unchanged;
    if (trap.granularity !== 'global' && trap.did !== (trap.cached?.did ?? entry)) return unchanged;
    if (trap.cached?.current === true) return unchanged;
    const requests = replay({ state: trap.state, range: 'all', mapped: trap.mapped });
    return { cache: trap.cached ?? { did: entry, current: true }, requests };
  };
}

/**
 * Scalable mode, sound: QEMU v10.2.0's PASID-cache sync (`syncPasidCacheWith`) whose unmap of an
 * entry that is no longer valid does not depend on the cache having held it.
 */
export const syncPasidCache: PasidCacheHandler = syncPasidCacheWith(replayGuestTable, true);

/** Scalable mode, flawed (`pasid-invalid-unmap-needs-cache`): QEMU v10.2.0 exactly, its gate included. */
export const syncPasidCacheGated: PasidCacheHandler = syncPasidCacheWith(replayGuestTable, false);

/**
 * Scalable mode, flawed (`pasid-cache-ignored`): the descriptor is accepted and nothing done, as in
 * QEMU before v10.2.0 (v9.2 `vtd_process_inv_desc`: "just return true is enough so far").
 */
export const ignorePasidCache: PasidCacheHandler = (trap) => ({ cache: trap.cached, requests: [] });

/** The built-in VMM of each design. */
export const shadowVmm: VmmHooks = {
  invalidation: replayGuestTable,
  balloon: shadowBalloon,
  context: syncAddressSpace,
  translation: refreshAddressSpaces,
  pasidCache: syncPasidCache,
};
export const nestedVmm: VmmHooks = {
  invalidation: forwardToNestedDomain,
  balloon: nestedBalloon,
  context: flushNestedOnRebind,
  translation: flushNestedOnSwitch,
  // A nested design has no scalable mode (the model's nested guest runs legacy mode): never called.
  pasidCache: ignorePasidCache,
};
