/**
 * Reach statistics of the VFIO stacks with emulated devices (`--stats`): the `dma_unmap` contract
 * is only exercised when an UNMAP_DMA meets a mapping that a driver still pins, so runs must get
 * there often. In a container that also holds an IOMMU-backed group, the mapping is then pinned
 * twice over (the IOMMU path's pin and the driver's external pin of the same pages): runs must
 * reach that too.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import { dmaVaddrMm, liveMm } from '../../models/vfio/exec.js';
import { VFIO_DMA_MAP_FLAG_VADDR } from '../../models/vfio/map-dma.js';
import { VFIO_UPDATE_VADDR } from '../../models/vfio/query.js';
import type { VfioState } from '../../models/vfio/types.js';
import type { Transition } from '../../src/design.js';

export const UNMAP_CALLBACK_WITH_PINS = 'unmap callback with pins outstanding';
export const UNMAP_CALLBACK_WITH_DOMAIN = 'unmap callback with pins outstanding on an IOMMU-mapped mapping';

/** The labels worlds with emulated devices must reach; `withDomain`: the world also has an IOMMU group. */
export function mediatedReach(withDomain: boolean): readonly string[] {
  return withDomain ? [UNMAP_CALLBACK_WITH_PINS, UNMAP_CALLBACK_WITH_DOMAIN] : [UNMAP_CALLBACK_WITH_PINS];
}

/** Lifecycle labels every VFIO world must reach (issue 18): reconfiguration with mappings, unwinds. */
export const ATTACH_OVER_MAPPINGS = 'group attached to a container with mappings (replay)';
export const DOMAIN_GONE_MAPPINGS_KEPT = 'last IOMMU domain gone, mappings kept for the emulated groups';
export const BACKEND_SET_AGAIN = 'VFIO_SET_IOMMU on a container whose backend was released';
export const BACKEND_RELEASED = 'the last group out released the backend';
export const SET_IOMMU_ATTACH_UNWOUND = 'VFIO_SET_IOMMU with several groups failed in a later attach, unwound';
export const FAILED_REQUEST_UNWOUND = 'request failed after pinning or mapping, and unwound';

/**
 * The lifecycle labels every type1 world must reach in a good share of runs: a request that failed
 * after pinning or mapping, and unwound. The reconfigurations (`classifyLifecycleStep`'s other
 * labels) take a chain of rare steps — every device of a group closed, the group out, back in —
 * and show in `--stats` when reached, without a floor.
 */
export const lifecycleReach: readonly string[] = [FAILED_REQUEST_UNWOUND];

export function classifyLifecycleStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result, after } = transition;
  if (command === null || result === null) return [];
  if (!result.ok && command.kind === 'setIommu') {
    // The backend's allocation is the first; a later one is a group's attach (`container.ts`).
    const fault = before?.faultInjection;
    const groups = before?.container.groupIds.length ?? 0;
    return groups > 1 && result.error === 'ENOMEM' && fault?.point === 'alloc' && fault.nth > 2
      ? [SET_IOMMU_ATTACH_UNWOUND]
      : [];
  }
  if (!result.ok) return result.detail?.['unwound'] === true ? [FAILED_REQUEST_UNWOUND] : [];
  const backend = before?.container.backend;
  const mappings = backend?.kind === 'type1' ? backend.dmas.length : 0;
  if (command.kind === 'setIommu') return [BACKEND_SET_AGAIN];
  if (command.kind === 'groupSetContainer') return mappings > 0 ? [ATTACH_OVER_MAPPINGS] : [];
  if (command.kind !== 'groupUnsetContainer') return [];
  if (after.container.groupIds.length === 0) return [BACKEND_RELEASED];
  const left = after.container.backend;
  const kept = left?.kind === 'type1' && left.domains.length === 0 && left.dmas.length > 0;
  return backend?.kind === 'type1' && backend.domains.length > 0 && kept ? [DOMAIN_GONE_MAPPINGS_KEPT] : [];
}

export function classifyMediatedStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result } = transition;
  if (command?.kind !== 'unmapDma' || result === null) return [];
  // A driver that keeps its pins crashes the host inside the unmap, and a driver called with
  // iommu->lock held waits inside it for ever (`notifyUnderLock`): the callback still happened.
  const callbacks = result.detail?.['callbacks'];
  const crashed = result.error === 'BUG_ON' && before?.crash === null;
  const waitsOnItself = result.blocked?.holds.includes(result.blocked.waitsFor) === true;
  if (!((typeof callbacks === 'number' && callbacks > 0) || crashed || waitsOnItself)) return [];
  const backend = before?.container.backend;
  const withDomain = backend?.kind === 'type1' && backend.domains.length > 0;
  return withDomain ? [UNMAP_CALLBACK_WITH_PINS, UNMAP_CALLBACK_WITH_DOMAIN] : [UNMAP_CALLBACK_WITH_PINS];
}

/**
 * The query ioctls' situations (issue 21, `models/vfio/query.ts`): GET_INFO answering its
 * capability chain, GET_INFO with a buffer too small for it (the kernel answers the size it needs),
 * and, with an emulated group attached, CHECK_EXTENSION(VFIO_UPDATE_VADDR) — the answer the mdev
 * exclusion decides.
 */
export const INFO_CHAIN_COPIED = 'GET_INFO answered with its capability chain';
export const INFO_ARGSZ_TOO_SMALL = 'GET_INFO argsz too small for the chain: the size needed answered';
export const UPDATE_VADDR_ASKED_WITH_EMULATED = 'CHECK_EXTENSION(VFIO_UPDATE_VADDR) with an emulated group attached';

/** The query labels a type1 world must reach; `emulated`: it has emulated-IOMMU devices. */
export function queryReach(emulated: boolean): readonly string[] {
  const info = [INFO_CHAIN_COPIED, INFO_ARGSZ_TOO_SMALL];
  return emulated ? [...info, UPDATE_VADDR_ASKED_WITH_EMULATED] : info;
}

export function classifyQueryStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result } = transition;
  if (result?.ok !== true) return [];
  if (command?.kind === 'getInfo') {
    const capOffset = result.detail?.['capOffset'];
    if (result.detail?.['dmaAvail'] !== null && result.detail?.['dmaAvail'] !== undefined) return [INFO_CHAIN_COPIED];
    return capOffset === 0 || capOffset === null ? [INFO_ARGSZ_TOO_SMALL] : [];
  }
  if (command?.kind !== 'checkExtension' || command.extension !== VFIO_UPDATE_VADDR) return [];
  const backend = before?.container.backend;
  return backend?.kind === 'type1' && backend.emulatedGroupIds.length > 0 ? [UPDATE_VADDR_ASKED_WITH_EMULATED] : [];
}

/**
 * The VMM's VM_PFNMAP memory (issue 21, `models/vfio/pfnmap.ts`), in a world that has it: a BAR's
 * pages mapped for peer-to-peer DMA (nothing pinned), RAM behind a VM_PFNMAP VMA refused, and a
 * device's DMA landing in the peer BAR.
 */
export const BAR_MAPPED = 'MAP_DMA of a device BAR (VM_PFNMAP: mapped, nothing pinned or charged)';
export const PFNMAP_RAM_REFUSED = 'MAP_DMA of host RAM behind a VM_PFNMAP VMA refused';
export const DMA_TO_PEER_BAR = "device DMA landing in a peer BAR's pfn";

/** The labels with a floor (a device's DMA into the BAR shows in `--stats`, without one: 4-5% of runs). */
export function pfnmapReach(bar: boolean, buffer: boolean): readonly string[] {
  return [...(bar ? [BAR_MAPPED] : []), ...(buffer ? [PFNMAP_RAM_REFUSED] : [])];
}

export function classifyPfnmapStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result, after } = transition;
  if (command === null || result === null || before === null) return [];
  if (command.kind === 'deviceDma') {
    const mfn = result.detail?.['mfn'];
    return result.ok && typeof mfn === 'number' && after.memory.frames[mfn] === undefined ? [DMA_TO_PEER_BAR] : [];
  }
  if (command.kind !== 'mapDma') return [];
  const vaddr = Number(command.vaddr) / 4096;
  const page = before.process.pages[vaddr];
  if (page?.pfnmap !== true || page.mfn === null) return [];
  const bar = before.memory.frames[page.mfn] === undefined;
  if (bar) return result.ok ? [BAR_MAPPED] : [];
  return !result.ok && result.error === 'EFAULT' ? [PFNMAP_RAM_REFUSED] : [];
}

/**
 * The shared zero page (issue 21), in a world that models it: a MAP_DMA of a page that mapped the
 * zero page (COW broken or unshared for the long-term pin), read-only and with WRITE. Shown in
 * `--stats` without a floor: a read of a page never written, then its MAP_DMA, is 1-2% of runs.
 */
export const ZERO_PAGE_UNSHARED = 'read-only MAP_DMA of a page mapping the zero page (unshared for the pin)';
export const ZERO_PAGE_COW_BROKEN = 'MAP_DMA with WRITE of a page mapping the zero page (COW broken)';

export function classifyZeroPageStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result } = transition;
  if (command?.kind !== 'mapDma' || result?.ok !== true || before === null) return [];
  const zero = before.process.zeroMfn;
  const page = before.process.pages[Number(command.vaddr) / 4096];
  if (zero === undefined || page?.mfn !== zero) return [];
  return [(command.flags & 2) !== 0 ? ZERO_PAGE_COW_BROKEN : ZERO_PAGE_UNSHARED];
}

/**
 * The VMM's live update (issue 21, `models/vfio/exec.ts`), in a type1 world: an exec while every
 * mapping's vaddr is invalidated (the protocol's first half), and a VADDR update that moves a
 * mapping to the new mm (its second half, `vfio_change_dma_owner`).
 */
export const EXEC_WITH_VADDRS_INVALID = "exec with every mapping's vaddr invalidated (cpr-exec)";
export const VADDR_RESUPPLIED_AFTER_EXEC = 'vaddr re-supplied after exec: the mapping moved to the new mm';

export const liveUpdateReach: readonly string[] = [EXEC_WITH_VADDRS_INVALID, VADDR_RESUPPLIED_AFTER_EXEC];

export function classifyLiveUpdateStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result } = transition;
  if (result?.ok !== true || before === null || command === null) return [];
  const backend = before.container.backend;
  const dmas = backend?.kind === 'type1' ? backend.dmas : [];
  if (command.kind === 'exec') {
    return dmas.length > 0 && dmas.every((dma) => dma.vaddrInvalid) ? [EXEC_WITH_VADDRS_INVALID] : [];
  }
  if (command.kind !== 'mapDma' || (command.flags & VFIO_DMA_MAP_FLAG_VADDR) === 0) return [];
  const iovaPage = Number(BigInt(command.iova) / 4096n);
  const dma = dmas.find((mapping) => mapping.iovaPage === iovaPage);
  return dma !== undefined && dmaVaddrMm(dma) !== liveMm(before) ? [VADDR_RESUPPLIED_AFTER_EXEC] : [];
}

/**
 * Floors at the default budget (`Design.reachFloors`): about a third of the fewest runs in 1,000 a
 * default run of the VFIO-only, passthrough and vIOMMU stacks' sound designs reached each label in
 * (`dmaprop check --design <the sound designs> --seed 1 … 3 --stats`: 62, 52, 102, 110, 97, 132,
 * 159 and 165 runs).
 */
export const vfioReachFloors: Readonly<Record<string, number>> = {
  [UNMAP_CALLBACK_WITH_PINS]: 20,
  [UNMAP_CALLBACK_WITH_DOMAIN]: 17,
  [FAILED_REQUEST_UNWOUND]: 34,
  [INFO_CHAIN_COPIED]: 36,
  [INFO_ARGSZ_TOO_SMALL]: 32,
  [UPDATE_VADDR_ASKED_WITH_EMULATED]: 44,
  [BAR_MAPPED]: 53,
  [PFNMAP_RAM_REFUSED]: 55,
  // The live update (vfio/type1, vfio/p2p-bar, vfio/zero-page, seeds 1-3): the exec in 26 to 38
  // runs, the re-supply in 19 to 30.
  [EXEC_WITH_VADDRS_INVALID]: 9,
  [VADDR_RESUPPLIED_AFTER_EXEC]: 6,
};
