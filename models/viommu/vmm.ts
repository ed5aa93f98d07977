/**
 * The VMM's side of the vIOMMU (QEMU's intel-iommu with an assigned device; docs/reference/vtd.md §3.4,
 * §3.6, §5.3): what it does with a trapped guest invalidation in each
 * design, the host commands it issues, and the nested binding at start.
 *
 * Shadow (`shadowSync`): QEMU replays the invalidated range of the guest's table against its own
 * record of what it mapped (its IOVA tree; the model reads the same from VFIO's mapping list, one
 * single-page mapping per GIOVA page). Entries that are gone or changed are unmapped first, one
 * UNMAP_DMA per run of consecutive GIOVA pages; entries that are new or changed are then mapped,
 * one MAP_DMA per page with vaddr = the GPA page's vaddr. A domain-selective or global
 * invalidation replays every page the guest maps or the VMM has mapped. An entry whose GPA page is
 * not guest RAM is not mapped (QEMU refuses a map to a non-RAM area), and a MAP_DMA the host
 * refuses is skipped: in both cases the device faults there.
 *
 * Nested (`forwardInvalidation`): the VMM forwards the guest's invalidation to the nested domain
 * as one IOMMU_HWPT_INVALIDATE entry (the block, or all of it). An invalidation naming another DID
 * than the guest's domain reaches no address space: the VMM does nothing (in both designs).
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
import { addCosts, hasVmmBug, noCosts } from './types.js';
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
function costsOf(command: PassthroughCommand, result: PassthroughResult): StepCosts {
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
 * stops and hands back the host it was given (`refused`). `firstLevel`: the guest's table, for DMA
 * through a nested domain.
 */
export function runHost(
  host: PassthroughState,
  config: ViommuConfig,
  commands: readonly PassthroughCommand[],
  firstLevel: FirstLevelTable = {},
): HostRun & { readonly refused: PassthroughResult | null } {
  let current = host;
  let costs = noCosts;
  const results: PassthroughResult[] = [];
  for (const command of commands) {
    const step = stepPassthrough(current, config.host, command, firstLevel);
    results.push(step.result);
    costs = addCosts(costs, costsOf(command, step.result));
    if (!step.result.ok) return { host, costs, results, refused: step.result };
    current = step.state;
  }
  return { host: current, costs, results, refused: null };
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

/** GIOVA pages [startPage, endPage) of a page-selective invalidation, or every page. */
export type InvalidatedRange = { readonly startPage: number; readonly endPage: number } | 'all';

export interface ShadowSync extends HostRun {
  readonly mappedPages: number;
  readonly unmappedPages: number;
  /** Entries the VMM could not map (not guest RAM, or MAP_DMA refused). */
  readonly failedPages: number;
}

/** The shadow VMM's handling of a trapped invalidation of the guest's domain over `range`. */
export function shadowSync(state: ViommuState, config: ViommuConfig, range: InvalidatedRange): ShadowSync {
  const shadowed = shadowedEntries(state);
  const table = state.guest.table;
  const inRange = (page: number): boolean => range === 'all' || (page >= range.startPage && page < range.endPage);
  const pages = [...new Set([...Object.keys(table).map(Number), ...shadowed.keys()])]
    .filter(inRange)
    .sort((a, b) => a - b);
  const toUnmap: number[] = [];
  const toMap: { giovaPage: number; entry: FirstLevelEntry }[] = [];
  for (const giovaPage of pages) {
    const wanted = Object.hasOwn(table, giovaPage) ? table[giovaPage] : undefined;
    const have = shadowed.get(giovaPage);
    const same =
      wanted !== undefined && have !== undefined && wanted.gpaPage === have.gpaPage && wanted.write === have.write;
    if (have !== undefined && !same && !hasVmmBug(config, 'shadow-misses-unmap')) toUnmap.push(giovaPage);
    if (wanted !== undefined && !same && (have === undefined || !hasVmmBug(config, 'shadow-misses-unmap')))
      toMap.push({ giovaPage, entry: wanted });
  }
  const commands: PassthroughCommand[] = [];
  for (const run of consecutiveRuns(toUnmap)) commands.push(unmapPages(run.startPage, run.pages));
  let failedPages = 0;
  for (const { giovaPage, entry } of toMap) {
    const vaddrPage = vaddrOfGpa(state.guestRam, entry.gpaPage);
    if (vaddrPage === null) failedPages += 1;
    else commands.push(mapGuestPage(vaddrPage, giovaPage, entry.write));
  }
  // Each ioctl runs on its own: a refused MAP_DMA leaves the host as it was and the VMM goes on.
  let host = state.host;
  let costs = noCosts;
  const results: PassthroughResult[] = [];
  for (const command of commands) {
    const run = runHost(host, config, [command]);
    host = run.host;
    costs = addCosts(costs, run.costs);
    results.push(...run.results);
    if (run.refused !== null) failedPages += 1;
  }
  return { host, costs, results, mappedPages: toMap.length - failedPages, unmappedPages: toUnmap.length, failedPages };
}

function consecutiveRuns(pages: readonly number[]): { startPage: number; pages: number }[] {
  const runs: { startPage: number; pages: number }[] = [];
  for (const page of pages) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.startPage + last.pages === page) last.pages += 1;
    else runs.push({ startPage: page, pages: 1 });
  }
  return runs;
}

export interface Forwarded extends HostRun {
  readonly forwarded: boolean;
  readonly dropped: number;
}

/** The nested VMM's handling of a trapped invalidation of the guest's domain: one IOMMU_HWPT_INVALIDATE. */
export function forwardInvalidation(state: ViommuState, config: ViommuConfig, range: InvalidatedRange): Forwarded {
  const nestedDid = state.nestedDid;
  if (nestedDid === null || hasVmmBug(config, 'nested-drops-invalidation')) {
    return { host: state.host, costs: noCosts, results: [], forwarded: false, dropped: 0 };
  }
  const iommu = cloneIommuState(state.host.iommu);
  const args =
    range === 'all'
      ? { domainId: nestedDid, iovaPage: 0, npages: 'all' as const }
      : { domainId: nestedDid, iovaPage: range.startPage, npages: range.endPage - range.startPage };
  const result = invalidateNested(iommu, config.host.iommu, args);
  const dropped = result.detail?.['dropped'];
  return {
    host: { ...state.host, iommu },
    costs: { ...noCosts, invalidateIoctls: 1, hostIotlbInvalidations: result.ok ? 1 : 0 },
    results: [],
    forwarded: result.ok,
    dropped: typeof dropped === 'number' ? dropped : 0,
  };
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
