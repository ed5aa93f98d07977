/**
 * Forwarding VFIO's translation changes to the VT-d model, the way type1 drives the IOMMU API
 * (docs/reference/vfio-type1.md §1.7, §5.2): VFIO pins a run of physically contiguous pages and
 * maps it with one `iommu_map`; it unmaps with `iommu_unmap_fast` over runs whose frames are
 * contiguous, then `iommu_iotlb_sync`. The VFIO model reports its changes page by page
 * (`TranslationEffect`), so consecutive pages of a domain with consecutive frames and the same
 * permissions are coalesced back into runs here. A run may cross a leaf-table boundary: the IOMMU
 * model then fills or clears two last-level tables in one call.
 *
 * Domains: the first attach of a VFIO domain allocates an IOMMU domain (`unmanaged` in strict
 * mode, `dma-fq` in the lazy modes; an `unmanaged` nesting parent for a VFIO_TYPE1_NESTING_IOMMU
 * container) and every attach points the group's devices' context entries
 * at it; a detach clears them (the context change flushes the domain, §3.3); a domain free first
 * flushes and releases the domain's flush queue, then frees the domain. With the group lifecycle
 * (`lifecycle.ts`, docs/reference/vtd.md §3.10) a detach is the design's `blockTranslation`, a
 * domain free releases the queue, the pages and the DID with no flush (Linux's
 * `intel_iommu_domain_free`), and VFIO's claim and release of a group move its devices out of and
 * back into its default domain.
 *
 * Left out: the IOMMU's own refusals during forwarding (table-page exhaustion cannot happen in the
 * stack's small IOVA universe); if one happened, the IOMMU's page table would disagree with VFIO's
 * domain and the `iommu-matches-vfio` invariant would report it.
 */
import { PAGE_SIZE_BYTES } from '../iommu/address.js';
import { dma } from '../iommu/dma.js';
import type { IommuConfig } from '../iommu/config.js';
import { attachDevice, createDomain, destroyDomain, detachDevice, releaseDomain } from '../iommu/domain.js';
import { flushQueueFlush } from '../iommu/flush-queue.js';
import { map } from '../iommu/map.js';
import { freeTables, getDomain } from '../iommu/state.js';
import type { FirstLevelTable } from '../iommu/types.js';
import { iotlbSync, unmapFast } from '../iommu/unmap.js';
import { getRef, putRef } from '../memory/frames.js';
import { cloneVfioState, deviceAt, type1Backend } from '../vfio/state.js';
import { deviceDmaRefusal } from '../vfio/device-dma.js';
import { landingAccess } from '../vfio/phased-dma.js';
import type { DmaAccess, TranslationEffect, VfioState } from '../vfio/types.js';
import { isPageNumber } from '../vfio/u64.js';
import { claimGroup, ownedIommuGroups, releaseGroup } from './lifecycle.js';
import type { InvalidationMode, PassthroughLifecycle, PassthroughState } from './types.js';

/** The lifecycle's part of a step: the design's hooks, and the IOMMU groups VFIO owned before it. */
export interface LifecycleStep {
  readonly config: PassthroughLifecycle;
  readonly ownedBefore: readonly number[];
  /** VFIO's state before a group left with DMA in flight: where the requests drained then land. */
  readonly landingView?: VfioState;
}

/** The lifecycle step for a command about to run on `vfio`, when the stack models the lifecycle. */
export function lifecycleStep(
  state: PassthroughState,
  lifecycle: PassthroughLifecycle | undefined,
  command?: { readonly kind: string },
): LifecycleStep | undefined {
  if (lifecycle === undefined || state.defaults === undefined) return undefined;
  const ownedBefore = ownedIommuGroups(state.vfio);
  // A group leaving: the ioctl, or the rest of a phased one (`vfio/container.ts`), which unpins.
  const op = command?.kind === 'advance' && 'op' in command ? state.vfio.inflight[Number(command.op)] : undefined;
  const unsetting = command?.kind === 'groupUnsetContainer' || op?.kind === 'groupUnsetContainer';
  const leaving = unsetting && state.iommu.requests.length > 0;
  return leaving
    ? { config: lifecycle, ownedBefore, landingView: cloneVfioState(state.vfio) }
    : { config: lifecycle, ownedBefore };
}

/** Whether the command changed which IOMMU groups VFIO owns (a claim or a release to forward). */
export function ownershipChanged(lifecycle: LifecycleStep | undefined, vfio: VfioState): boolean {
  if (lifecycle === undefined) return false;
  const owned = ownedIommuGroups(vfio);
  return owned.length !== lifecycle.ownedBefore.length || owned.some((id) => !lifecycle.ownedBefore.includes(id));
}

/**
 * Why a DMA by `args.deviceId` is refused: VFIO's reasons (`deviceDmaRefusal`), except that with the
 * lifecycle modelled a vfio-pci device whose fd is closed still issues DMA (the hardware does not
 * know about fds; only the IOMMU stands between it and memory).
 */
export function passthroughDmaRefusal(
  state: PassthroughState,
  args: { readonly deviceId: number; readonly addressPage: number; readonly write: boolean },
): string | null {
  const refusal = deviceDmaRefusal(state.vfio, args);
  if (refusal !== 'ENODEV' || state.defaults === undefined) return refusal;
  const device = deviceAt(state.vfio, args.deviceId);
  if (device === undefined || device.kind !== 'pci') return refusal;
  return typeof args.write === 'boolean' ? null : 'EINVAL';
}

/** PCI source-id (bus 1, device = VFIO device index, function 0) of a VFIO device. */
export function sourceIdOf(deviceId: number): number {
  return 0x100 + deviceId * 8;
}

function groupDevices(vfio: VfioState, groupId: number): number[] {
  return vfio.devices.filter((device) => device.groupId === groupId).map((device) => device.id);
}

/** A run of pages of one domain being mapped or unmapped. */
interface Run {
  readonly kind: 'map' | 'unmap';
  readonly domainId: number;
  readonly iovaPage: number;
  readonly mfn: number;
  pages: number;
  /** The frame of each page, in order: contiguous from `mfn` unless an IOVA-range unmap. */
  readonly mfns: number[];
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * How a caller's unmaps reach the IOMMU: `contiguous-frames` (type1's `vfio_unmap_unpin`: one
 * `iommu_unmap_fast` per run of physically contiguous frames) or `iova-range` (iommufd's
 * `iopt_area_unmap_domain_range`: one `iommu_unmap` over the area's whole IOVA range, whatever the
 * frames behind it). Maps are coalesced over contiguous frames either way (`batch_to_domain` maps
 * each contiguous run of a batch).
 */
export type UnmapRuns = 'contiguous-frames' | 'iova-range';

function extends_(run: Run, effect: TranslationEffect, unmapRuns: UnmapRuns): boolean {
  if (effect.kind !== run.kind || effect.domainId !== run.domainId) return false;
  if (effect.iovaPage !== run.iovaPage + run.pages) return false;
  if (effect.kind === 'unmap' && unmapRuns === 'iova-range') return true;
  if (effect.mfn !== run.mfn + run.pages) return false;
  return effect.kind === 'unmap' || (effect.read === run.read && effect.write === run.write);
}

function startRun(effect: TranslationEffect & { kind: 'map' | 'unmap' }): Run {
  const { kind, domainId, iovaPage, mfn } = effect;
  const prot = effect.kind === 'map' ? { read: effect.read, write: effect.write } : { read: false, write: false };
  return { kind, domainId, iovaPage, mfn, pages: 1, mfns: [mfn], ...prot };
}

/** Releases the references held for flush-queue entries that are no longer queued. */
export function releaseFlushedHolds(state: PassthroughState): void {
  if (state.held.length === 0) return;
  const queued = new Set<number>();
  for (const domain of Object.values(state.iommu.domains)) for (const entry of domain.flushQueue) queued.add(entry.seq);
  const kept = [];
  for (const hold of state.held) {
    if (queued.has(hold.seq)) kept.push(hold);
    else putRef(state.vfio.memory, hold.mfn);
  }
  state.held = kept;
}

/**
 * Lands the DMA requests in flight that an invalidation drained (`iommu/requests.ts`): each lands
 * where its translation sent it, now, before whatever the caller does next (an unpin, a release).
 */
export function landDrainedRequests(state: PassthroughState, accesses: DmaAccess[], view?: VfioState): void {
  const requests = state.iommu.requests;
  if (requests.length === 0 || !requests.some((request) => request.drained)) return;
  const drained = new Set(requests.filter((request) => request.drained).map((request) => request.deviceId));
  state.vfio.inflight = state.vfio.inflight.filter((op) => {
    if (op.kind !== 'deviceDma' || op.requestId === null || !drained.has(op.requestId)) return true;
    accesses.push(landingAccess(view ?? state.vfio, op));
    return false;
  });
  state.iommu.requests = requests.filter((request) => !request.drained);
}

/**
 * Applies VFIO's effects, in order, to the IOMMU: each run of unmaps is `iommu_unmap_fast`ed and
 * waits for its domain's `iotlb-sync` (which may come in a later phase of the same UNMAP_DMA).
 * `preheld` lists frames (one per unmapped page) on which the caller took a reference before VFIO
 * unpinned them (`lazy-held`): each becomes a hold on the flush-queue entry of its unmap, or is
 * dropped at once if the unmap was not queued. Requests in flight an invalidation drained land
 * (their accesses are returned) before any frame is let go.
 */
export function forwardEffects(
  state: PassthroughState,
  mode: InvalidationMode,
  config: IommuConfig,
  effects: readonly TranslationEffect[],
  preheld: readonly number[],
  lifecycle?: LifecycleStep,
  unmapRuns: UnmapRuns = 'contiguous-frames',
): DmaAccess[] {
  const accesses: DmaAccess[] = [];
  // Where a drained request lands: in the memory as it was before VFIO's command, when the stack
  // kept it (a group leaving: Linux drains at the detach, or the release's first unmap, before it
  // unpins anything; the VFIO model has run the whole command already).
  const view = lifecycle?.landingView;
  const owned = lifecycle === undefined ? [] : ownedIommuGroups(state.vfio);
  // VFIO_GROUP_SET_CONTAINER claims the group before type1 attaches it (vfio_container_attach_group).
  for (const groupId of owned) {
    if (!lifecycle?.ownedBefore.includes(groupId)) claimGroup(state, groupId, sourceIdOf);
  }
  const pending = new Map<number, Run>();
  const unsyncedRuns = new Map<number, Run[]>();
  const unclaimed = new Map<number, number>();
  for (const mfn of preheld) unclaimed.set(mfn, (unclaimed.get(mfn) ?? 0) + 1);
  const claim = (run: Run, seq: number | null): void => {
    for (const mfn of run.mfns) {
      const count = unclaimed.get(mfn) ?? 0;
      if (count === 0) continue;
      unclaimed.set(mfn, count - 1);
      if (seq !== null) state.held.push({ seq, mfn });
      else putRef(state.vfio.memory, mfn);
    }
  };

  const issue = (run: Run): void => {
    const did = state.dids[run.domainId];
    if (did === undefined) return;
    const range = { domainId: did, iova: run.iovaPage * PAGE_SIZE_BYTES, sizeBytes: run.pages * PAGE_SIZE_BYTES };
    if (run.kind === 'map') {
      map(state.iommu, config, { ...range, frame: run.mfn, read: run.read, write: run.write });
      return;
    }
    const result = unmapFast(state.iommu, config, range);
    if (result.detail?.['unmappedBytes'] === 0) return;
    unsyncedRuns.set(run.domainId, [...(unsyncedRuns.get(run.domainId) ?? []), run]);
  };
  const flushRun = (domainId: number): void => {
    const run = pending.get(domainId);
    if (run === undefined) return;
    pending.delete(domainId);
    issue(run);
  };
  const sync = (domainId: number): void => {
    const did = state.dids[domainId];
    if (did === undefined) return;
    const synced = iotlbSync(state.iommu, config, did);
    landDrainedRequests(state, accesses, view);
    const runs = unsyncedRuns.get(domainId) ?? [];
    unsyncedRuns.delete(domainId);
    runs.forEach((run, index) => claim(run, synced.queuedSeqs[index] ?? null));
  };

  for (const effect of effects) {
    if (effect.kind === 'map' || effect.kind === 'unmap') {
      const run = pending.get(effect.domainId);
      if (run !== undefined && extends_(run, effect, unmapRuns)) {
        run.pages += 1;
        run.mfns.push(effect.mfn);
        continue;
      }
      flushRun(effect.domainId);
      pending.set(effect.domainId, startRun(effect));
      continue;
    }
    flushRun(effect.domainId);
    switch (effect.kind) {
      case 'iotlb-sync':
        // iommu_iotlb_sync: the unmaps gathered for the domain are invalidated (strict) or queued (lazy).
        sync(effect.domainId);
        break;
      case 'attach': {
        let did = state.dids[effect.domainId];
        if (did === undefined) {
          // A VFIO_TYPE1_NESTING_IOMMU container allocates nesting parents (stage 2 of a nested domain).
          const nestingParent = type1Backend(state.vfio)?.nesting === true;
          const type = mode === 'strict' || nestingParent ? 'unmanaged' : 'dma-fq';
          const created = createDomain(state.iommu, { type, nestingParent });
          const domainId = created.detail?.['domainId'];
          if (typeof domainId !== 'number') break;
          did = domainId;
          state.dids[effect.domainId] = did;
        }
        for (const deviceId of groupDevices(state.vfio, effect.groupId)) {
          attachDevice(state.iommu, { deviceId: sourceIdOf(deviceId), domainId: did });
        }
        break;
      }
      case 'detach':
        for (const deviceId of groupDevices(state.vfio, effect.groupId)) {
          if (lifecycle === undefined) detachDevice(state.iommu, { deviceId: sourceIdOf(deviceId) });
          else lifecycle.config.blockTranslation(state.iommu, sourceIdOf(deviceId));
        }
        landDrainedRequests(state, accesses, view);
        break;
      case 'domain-free': {
        const did = state.dids[effect.domainId];
        const domain = did === undefined ? undefined : getDomain(state.iommu, did);
        if (did === undefined || domain === undefined) break;
        if (lifecycle === undefined) {
          flushQueueFlush(state.iommu, config, domain);
          landDrainedRequests(state, accesses, view);
          destroyDomain(state.iommu, { domainId: did });
        } else {
          // intel_iommu_domain_free: the queue's entries go (iommu_dma_free_fq) and the domain's
          // pages with its DID, no invalidation: the detach's context clear issued it.
          for (const entry of domain.flushQueue) freeTables(state.iommu, entry.freedTableIds);
          domain.flushQueue = [];
          releaseDomain(state.iommu, did);
        }
        delete state.dids[effect.domainId];
        break;
      }
    }
  }
  for (const domainId of [...pending.keys()]) flushRun(domainId);
  // vfio_group_detach_container releases the group's DMA ownership after type1's detach.
  for (const groupId of lifecycle?.ownedBefore ?? []) {
    if (!owned.includes(groupId)) releaseGroup(state, groupId, sourceIdOf);
  }
  landDrainedRequests(state, accesses, view);
  // Preheld frames no unmap claimed (none when VFIO is deterministic) must not leak.
  for (const [mfn, count] of unclaimed) for (let i = 0; i < count; i++) putRef(state.vfio.memory, mfn);
  releaseFlushedHolds(state);
  return accesses;
}

/** Takes a reference on each frame the effects unmap (lazy-held, before VFIO unpins them). */
export function holdUnmappedFrames(vfio: VfioState, effects: readonly TranslationEffect[]): number[] {
  const held: number[] = [];
  for (const effect of effects) {
    if (effect.kind !== 'unmap') continue;
    getRef(vfio.memory, effect.mfn);
    held.push(effect.mfn);
  }
  return held;
}

/**
 * A device's DMA through the VT-d model (`pasid` null: a request without PASID, which walks the
 * RID2PASID entry): the access it made — a fault unless the IOTLB or the walk gave a frame, a
 * master abort for a frame no memory holds — and how the IOMMU translated it (`via`).
 */
export function dmaThroughIommu(
  state: PassthroughState,
  args: { readonly deviceId: number; readonly addressPage: number; readonly write: boolean },
  pasid: number | null,
  firstLevel: FirstLevelTable = {},
): { access: DmaAccess; via: string } {
  const base = { deviceId: args.deviceId, addressPage: args.addressPage, write: args.write };
  const fault: DmaAccess = { ...base, outcome: 'fault', mfn: null, owner: null };
  if (!isPageNumber(args.addressPage)) return { access: fault, via: 'none' };
  const request = {
    deviceId: sourceIdOf(args.deviceId),
    pasid,
    iova: args.addressPage * PAGE_SIZE_BYTES,
    write: args.write,
  };
  const outcome = dma(state.iommu, request, firstLevel);
  const frame = outcome.detail?.['frame'];
  const via = String(outcome.detail?.['via'] ?? 'none');
  if (outcome.detail?.['landed'] !== 'frame' || typeof frame !== 'number') return { access: fault, via };
  const target = state.vfio.memory.frames[frame];
  const access: DmaAccess =
    target === undefined
      ? { ...base, outcome: 'master-abort', mfn: null, owner: null }
      : { ...base, outcome: 'landed', mfn: frame, owner: target.owner };
  return { access, via };
}
