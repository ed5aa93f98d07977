/**
 * The VMM's side of the vIOMMU (QEMU's intel-iommu with an assigned device; docs/reference/vtd.md §3.4,
 * §3.6, §5.3): how the requests of its hooks (`vmm-hooks.ts`: what it does with a trapped guest
 * invalidation, with a balloon request) reach the host, and the nested binding at start.
 *
 * An invalidation's requests are carried out one by one, each on its own: QEMU goes on after a
 * refused MAP_DMA, and the device then faults there; an entry whose GPA page is not guest RAM is
 * not mapped at all (QEMU refuses a map to a non-RAM area). A balloon request's are all or
 * nothing. An invalidation naming another DID than the guest's domain reaches no address space:
 * the step does nothing with it, whatever the VMM (`step.ts`).
 *
 * Left out: QEMU's handling of a guest page walk that fails part-way, notifier ranges and
 * memory-region lookups other than guest RAM, MAP_DMA of several contiguous pages at once.
 */
import { attachDevice, detachDevice } from '../iommu/domain.js';
import { createNestedDomain, invalidateNested } from '../iommu/nested.js';
import { cloneIommuState } from '../iommu/state.js';
import type { FirstLevelEntry, FirstLevelTable } from '../iommu/types.js';
import { sourceIdOf } from '../passthrough/forward.js';
import { stepPassthrough } from '../passthrough/step.js';
import type { PassthroughCommand, PassthroughResult, PassthroughState } from '../passthrough/types.js';
import { mapDmaArgs } from '../vfio/map-dma.js';
import { type1Backend } from '../vfio/state.js';
import { unmapDmaArgs } from '../vfio/unmap-dma.js';
import { addCosts, noCosts } from './types.js';
import type { InvalidatedRange, VmmRequest } from './vmm-hooks.js';
import type { GuestRam, StepCosts, ViommuConfig, ViommuState } from './types.js';

/** The assigned device (VFIO device 0, a vfio-pci device behind the host IOMMU). */
export const ASSIGNED_DEVICE = 0;

/** The vaddr page of a GPA page, or null when the page is not guest RAM. */
export function vaddrOfGpa(ram: GuestRam, gpaPage: number): number | null {
  return Number.isInteger(gpaPage) && gpaPage >= 0 && gpaPage < ram.pages ? ram.vaddrPage + gpaPage : null;
}

export interface HostRun {
  readonly host: PassthroughState;
  readonly costs: StepCosts;
  /** Results of the host commands, in order. */
  readonly results: readonly PassthroughResult[];
}

/** What one host command cost: an ioctl for MAP/UNMAP_DMA, its pins, its IOTLB syncs. */
export function costsOf(command: PassthroughCommand, result: PassthroughResult): StepCosts {
  if (command.kind !== 'mapDma' && command.kind !== 'unmapDma') return noCosts;
  const pinned = result.ok ? result.detail?.['pinnedPages'] : 0;
  return {
    ...noCosts,
    vfioIoctls: 1,
    pins: typeof pinned === 'number' ? pinned : 0,
    hostIotlbInvalidations: result.effects.filter((effect) => effect.kind === 'iotlb-sync').length,
  };
}

/**
 * Runs host commands in order, each on the state the previous one left. At the first refusal it
 * stops and hands back the host it was given (`refused`), and, as `left`, the host as the refused
 * command left it: its input, unless the kernel's unwind of a failed ioctl left something changed
 * (a flawed unwind stays visible to the VMM that carries on). `firstLevel`: the guest's table, for
 * DMA through a nested domain.
 */
export function runHost(
  host: PassthroughState,
  config: ViommuConfig,
  commands: readonly PassthroughCommand[],
  firstLevel: FirstLevelTable = {},
): HostRun & { readonly refused: PassthroughResult | null; readonly left: PassthroughState } {
  let current = host;
  let costs = noCosts;
  const results: PassthroughResult[] = [];
  for (const command of commands) {
    const step = stepPassthrough(current, config.host, command, firstLevel);
    results.push(step.result);
    costs = addCosts(costs, costsOf(command, step.result));
    if (!step.result.ok) return { host, costs, results, refused: step.result, left: step.state };
    current = step.state;
  }
  return { host: current, costs, results, refused: null, left: current };
}

/** MAP_DMA of one guest page at a device address (GIOVA in shadow, GPA in nested). */
export function mapGuestPage(vaddrPage: number, iovaPage: number, write: boolean): PassthroughCommand {
  return { kind: 'mapDma', ...mapDmaArgs({ vaddrPage, iovaPage, npages: 1, read: true, write }) };
}

/** UNMAP_DMA of `npages` from a device address. */
export function unmapPages(iovaPage: number, npages: number): PassthroughCommand {
  return { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage, npages }) };
}

/** What the VMM has shadowed at each GIOVA page: the entry it mapped, read back from VFIO's mappings. */
export function shadowedEntries(state: ViommuState): Map<number, FirstLevelEntry> {
  const shadowed = new Map<number, FirstLevelEntry>();
  for (const dma of type1Backend(state.host.vfio)?.dmas ?? []) {
    for (let i = 0; i < dma.npages; i++) {
      shadowed.set(dma.iovaPage + i, { gpaPage: dma.vaddrPage + i - state.guestRam.vaddrPage, write: dma.write });
    }
  }
  return shadowed;
}

export interface HandledInvalidation extends HostRun {
  /** MAP_DMA requests the host carried out. */
  readonly mappedPages: number;
  /** Pages the VMM asked to unmap (UNMAP_DMA requests, refused or not). */
  readonly unmappedPages: number;
  /** MAP_DMA requests that did not map: a GPA page outside guest RAM, or refused by the host. */
  readonly failedPages: number;
  /** An IOMMU_HWPT_INVALIDATE was carried out. */
  readonly forwarded: boolean;
  /** IOTLB entries the forwarded invalidations dropped. */
  readonly dropped: number;
}

/** A request as host commands: MAP_DMA, UNMAP_DMA, discard or touch; null when it cannot be made. */
export function hostCommand(state: ViommuState, request: VmmRequest): PassthroughCommand | null {
  switch (request.kind) {
    case 'mapDma': {
      const vaddrPage = vaddrOfGpa(state.guestRam, request.gpaPage);
      return vaddrPage === null ? null : mapGuestPage(vaddrPage, request.iovaPage, request.write);
    }
    case 'unmapDma':
      return unmapPages(request.iovaPage, request.npages);
    case 'discard':
    case 'touch': {
      const vaddrPage = vaddrOfGpa(state.guestRam, request.gpaPage);
      if (vaddrPage === null) return null;
      return request.kind === 'discard'
        ? { kind: 'discard', vaddrPage, npages: 1 }
        : { kind: 'touch', vaddrPage, write: true };
    }
    case 'invalidateNested':
    case 'completeWait':
      return null;
  }
}

/** IOMMU_HWPT_INVALIDATE of `range` on the nested domain: the new host, or null when refused. */
export function invalidateNestedDomain(
  state: ViommuState,
  host: PassthroughState,
  config: ViommuConfig,
  range: InvalidatedRange,
): { host: PassthroughState; ok: boolean; dropped: number } | null {
  if (state.nestedDid === null) return null;
  const iommu = cloneIommuState(host.iommu);
  const args =
    range === 'all'
      ? { domainId: state.nestedDid, iovaPage: 0, npages: 'all' as const }
      : { domainId: state.nestedDid, iovaPage: range.startPage, npages: range.endPage - range.startPage };
  const result = invalidateNested(iommu, config.host.iommu, args);
  const dropped = result.detail?.['dropped'];
  return { host: { ...host, iommu }, ok: result.ok, dropped: typeof dropped === 'number' ? dropped : 0 };
}

/**
 * A trapped invalidation of the guest's domain over `range`, handled by the design's VMM
 * (`config.vmm.invalidation`): each request it makes is carried out on its own, and one the host
 * refuses leaves the host as it was (`performRequests`).
 */
export function handleInvalidation(
  state: ViommuState,
  config: ViommuConfig,
  range: InvalidatedRange,
): HandledInvalidation {
  // What the VMM has mapped is read from VFIO when the handler first asks (the nested one never does).
  let mapped: ReadonlyMap<number, FirstLevelEntry> | undefined;
  const requests = config.vmm.invalidation({
    state,
    range,
    get mapped() {
      mapped ??= shadowedEntries(state);
      return mapped;
    },
  });
  return performRequests(state, config, requests);
}

/** The requests a context-cache invalidation's handler makes (`config.vmm.context`), planned on `state`. */
export function planContextInvalidation(state: ViommuState, config: ViommuConfig): readonly VmmRequest[] {
  let mapped: ReadonlyMap<number, FirstLevelEntry> | undefined;
  return config.vmm.context({
    state,
    cached: state.contextCache,
    get mapped() {
      mapped ??= shadowedEntries(state);
      return mapped;
    },
  });
}

/** The requests the VMM's `translation` hook makes for a GCMD.TE change, planned on the switched `state`. */
export function planTranslationSwitch(state: ViommuState, config: ViommuConfig): readonly VmmRequest[] {
  let mapped: ReadonlyMap<number, FirstLevelEntry> | undefined;
  return config.vmm.translation({
    state,
    get mapped() {
      mapped ??= shadowedEntries(state);
      return mapped;
    },
  });
}

/** An invalidation's requests carried out in order, each on its own (one the host refuses changes nothing). */
export function performRequests(
  state: ViommuState,
  config: ViommuConfig,
  requests: readonly VmmRequest[],
): HandledInvalidation {
  let host = state.host;
  let costs = noCosts;
  const results: PassthroughResult[] = [];
  let mappedPages = 0;
  let unmappedPages = 0;
  let failedPages = 0;
  let forwarded = false;
  let dropped = 0;
  for (const request of requests) {
    // Atomic, the wait completes when every request is done, wherever the handler placed it.
    if (request.kind === 'completeWait') continue;
    if (request.kind === 'invalidateNested') {
      const done = invalidateNestedDomain(state, host, config, request.range);
      if (done === null) continue;
      host = done.host;
      costs = addCosts(costs, { ...noCosts, invalidateIoctls: 1, hostIotlbInvalidations: done.ok ? 1 : 0 });
      forwarded ||= done.ok;
      dropped += done.dropped;
      continue;
    }
    if (request.kind === 'unmapDma') unmappedPages += request.npages;
    const command = hostCommand(state, request);
    const run = command === null ? null : runHost(host, config, [command]);
    if (run !== null) {
      // A refused MAP_DMA or UNMAP_DMA: QEMU reports it and goes on, with whatever the ioctl left.
      host = run.left;
      costs = addCosts(costs, run.costs);
      results.push(...run.results);
    }
    if (request.kind === 'mapDma') {
      if (run === null || run.refused !== null) failedPages += 1;
      else mappedPages += 1;
    }
  }
  return { host, costs, results, mappedPages, unmappedPages, failedPages, forwarded, dropped };
}

/**
 * A balloon request handled by the design's VMM (`config.vmm.balloon`): its requests carried out
 * in order, all or nothing. A request that cannot be made (a page outside guest RAM, a nested
 * invalidation without a nested domain) is refused with EINVAL.
 */
export function handleBalloon(
  state: ViommuState,
  config: ViommuConfig,
  gpaPage: number,
  direction: 'out' | 'in',
): HostRun & { readonly refused: { readonly error: string } | null } {
  let host = state.host;
  let costs = noCosts;
  const results: PassthroughResult[] = [];
  for (const request of config.vmm.balloon({ state, gpaPage, direction })) {
    if (request.kind === 'completeWait') continue;
    if (request.kind === 'invalidateNested') {
      const done = invalidateNestedDomain(state, host, config, request.range);
      if (done === null || !done.ok) return { host: state.host, costs, results, refused: { error: 'EINVAL' } };
      host = done.host;
      costs = addCosts(costs, { ...noCosts, invalidateIoctls: 1, hostIotlbInvalidations: 1 });
      continue;
    }
    const command = hostCommand(state, request);
    if (command === null) return { host: state.host, costs, results, refused: { error: 'EINVAL' } };
    const run = runHost(host, config, [command]);
    costs = addCosts(costs, run.costs);
    results.push(...run.results);
    if (run.refused !== null)
      return { host: state.host, costs, results, refused: { error: String(run.refused.error) } };
    host = run.host;
  }
  return { host, costs, results, refused: null };
}

/**
 * Nested setup, on a host draft whose VFIO container is a nesting one with guest RAM mapped at
 * IOVA = GPA: a nested domain on the container's domain (the stage 2), with the assigned device
 * moved onto it. Returns the nested DID. Throws when the host refuses (a broken world).
 */
export function bindGuestFirstLevel(host: PassthroughState): number {
  const parent = Object.values(host.dids)[0];
  if (parent === undefined) throw new Error('vIOMMU nested setup: the container has no IOMMU domain');
  const created = createNestedDomain(host.iommu, { parentDomainId: parent });
  const nestedDid = created.detail?.['domainId'];
  if (!created.ok || typeof nestedDid !== 'number') {
    throw new Error(`vIOMMU nested setup: nested domain refused with ${String(created.error)}`);
  }
  const deviceId = sourceIdOf(ASSIGNED_DEVICE);
  for (const result of [
    detachDevice(host.iommu, { deviceId }),
    attachDevice(host.iommu, { deviceId, domainId: nestedDid }),
  ]) {
    if (!result.ok) throw new Error(`vIOMMU nested setup: attach refused with ${String(result.error)}`);
  }
  return nestedDid;
}
