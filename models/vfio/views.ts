/**
 * Read-only views of the VFIO state for invariants, recomputed from the structures rather than
 * read from the counters the model keeps. Reference: docs/reference/vfio-type1.md §1.13.
 *
 * Which view exposes which deliberate bug (config.ts):
 * - `unmap-skips-unpin`: `frameRefcountMismatches` (a frame keeps a reference no structure
 *   accounts for; it is never freed, so teardown finds it too).
 * - `unmap-skips-unpin-with-emulated-group`: the same, in a container that holds an emulated
 *   group next to an IOMMU-backed one (the only world where the variant's test differs).
 * - `map-failure-leaks-pins`: `frameRefcountMismatches` after the failed MAP_DMA (and the
 *   atomicity invariant: the refusal changed the state).
 * - `locked-vm-not-uncharged`: `lockedVmAccounting` (mm->locked_vm above the pages still charged).
 * - `mdev-ignores-unmap`: `kernelCrash` (the UNMAP_DMA of a range a driver keeps pinned BUG_ONs).
 * - `overlap-not-checked`: `overlappingMappings` (disjointness) and `frameRefcountMismatches`: the
 *   second mapping's translations replace the first's, so the first mapping's pins are orphaned
 *   (no translation names them; unpin reads pfns back from the domain) and are never dropped.
 */
import { dmaMm, dmaVaddrMm, liveMm } from './exec.js';
import type { HostMemory } from '../memory/frames.js';
import { mapInFlight, unmapInFlight } from './inflight.js';
import { isInvalidReservedPfn } from './pfnmap.js';
import { domainOfGroup, type1Backend } from './state.js';
import type { VfioDevice, VfioDma, VfioState } from './types.js';

/** Something that keeps a frame alive. */
export type VfioHolder =
  /** A present page of the VMM process maps it. */
  | { readonly kind: 'process page'; readonly vaddrPage: number }
  /** An IOMMU-path pin of a mapped IOVA page (one per page, whatever the number of domains). */
  | { readonly kind: 'iommu pin'; readonly dmaIovaPage: number; readonly iovaPage: number }
  /** An external pin (`vfio_pfn`; one FOLL_PIN whatever its ref_count). */
  | { readonly kind: 'external pin'; readonly dmaIovaPage: number; readonly iovaPage: number }
  /** The allocation reference of another owner. */
  | { readonly kind: 'other owner'; readonly owner: number };

export function describeHolder(holder: VfioHolder): string {
  switch (holder.kind) {
    case 'process page':
      return `process page at vaddr page ${holder.vaddrPage}`;
    case 'iommu pin':
    case 'external pin':
      return `${holder.kind} of iova page ${holder.iovaPage} (mapping at ${holder.dmaIovaPage})`;
    case 'other owner':
      return `allocation of owner ${holder.owner}`;
  }
}

/**
 * The IOMMU-path pins of a mapping: its pages' frames as the first domain translates them. While
 * an operation in flight holds the mapping's pins where no domain shows them — a MAP_DMA between
 * pinning and mapping, an UNMAP_DMA between clearing the translations and unpinning — they are the
 * frames that operation recorded.
 */
export function iommuPins(state: VfioState, dma: VfioDma): { readonly iovaPage: number; readonly mfn: number }[] {
  const first = type1Backend(state)?.domains[0];
  if (state.inflight.length > 0) {
    const mapping = mapInFlight(state, dma.iovaPage);
    if (mapping !== undefined) {
      // map-before-pin's mapping is published and nothing of it pinned.
      return mapping.next === 'map' ? mapping.mfns.map((mfn, i) => ({ iovaPage: dma.iovaPage + i, mfn })) : [];
    }
    const unmapping = unmapInFlight(state, dma.iovaPage);
    if (unmapping !== undefined) return [...unmapping.toUnpin];
  }
  if (!dma.iommuMapped || first === undefined) return [];
  const pins: { iovaPage: number; mfn: number }[] = [];
  for (let i = 0; i < dma.npages; i++) {
    const translation = first.translations[dma.iovaPage + i];
    if (translation !== undefined) pins.push({ iovaPage: dma.iovaPage + i, mfn: translation.mfn });
  }
  return pins;
}

/** Holders of every frame, indexed by mfn. */
export function frameHolders(state: VfioState): VfioHolder[][] {
  const holders: VfioHolder[][] = state.memory.frames.map(() => []);
  const add = (mfn: number, holder: VfioHolder): void => {
    holders[mfn]?.push(holder);
  };
  for (const [key, page] of Object.entries(state.process.pages)) {
    // A VM_PFNMAP PTE, or one of the zero page, holds no reference on what it maps.
    if (page.mfn === null || page.pfnmap === true || page.mfn === state.process.zeroMfn) continue;
    add(page.mfn, { kind: 'process page', vaddrPage: Number(key) });
  }
  for (const allocation of state.otherAllocations)
    add(allocation.mfn, { kind: 'other owner', owner: allocation.owner });
  for (const dma of type1Backend(state)?.dmas ?? []) {
    for (const pin of iommuPins(state, dma)) {
      // An invalid or reserved pfn (a BAR, the zero page) is mapped without a pin.
      if (isInvalidReservedPfn(state, pin.mfn)) continue;
      add(pin.mfn, { kind: 'iommu pin', dmaIovaPage: dma.iovaPage, iovaPage: pin.iovaPage });
    }
    for (const [key, vpfn] of Object.entries(dma.externalPins)) {
      add(vpfn.mfn, { kind: 'external pin', dmaIovaPage: dma.iovaPage, iovaPage: Number(key) });
    }
  }
  return holders;
}

export interface RefcountMismatch<H = VfioHolder> {
  readonly mfn: number;
  readonly refcount: number;
  readonly holders: readonly H[];
}

/** Frames whose reference count differs from the number of their holders (indexed by mfn). */
export function refcountMismatches<H>(memory: HostMemory, holders: readonly (readonly H[])[]): RefcountMismatch<H>[] {
  return memory.frames
    .filter((frame) => frame.refcount !== (holders[frame.mfn]?.length ?? 0))
    .map((frame) => ({ mfn: frame.mfn, refcount: frame.refcount, holders: holders[frame.mfn] ?? [] }));
}

/** Frames whose reference count differs from the holders recomputed from every structure. */
export function frameRefcountMismatches(state: VfioState): RefcountMismatch[] {
  return refcountMismatches(state.memory, frameHolders(state));
}

/**
 * The live mm's accounting (`exec.ts`: after an execve the process runs on a new mm; the old one
 * is dead, and what it was charged no longer limits anyone).
 */
export interface LockedVmAccounting {
  /** `mm->locked_vm` of the live mm. */
  readonly processPages: number;
  /** Σ over the mappings whose `dma->mm` is the live mm of the pages each has charged. */
  readonly perMappingPages: number;
  /**
   * What §1.13 inv. 7 says it must be: over the mappings whose vaddr is an address of the live mm
   * (supplied by MAP_DMA or a VADDR update since the last exec), mapped pages with a domain, else
   * external pins.
   */
  readonly expectedPages: number;
  readonly limitPages: number;
  readonly capIpcLock: boolean;
}

/**
 * The pages a mapping has pinned through the IOMMU path while the container has a domain: all of
 * them, except while an operation in flight is half way: a MAP_DMA counts what it has pinned, an
 * UNMAP_DMA what it has not unpinned yet.
 */
function pinnedPagesWithDomain(state: VfioState, dma: VfioDma): number {
  // An invalid or reserved pfn (a BAR behind a VM_PFNMAP VMA, the zero page) is neither pinned nor charged.
  const counted = (mfns: readonly number[]): number => mfns.filter((mfn) => !isInvalidReservedPfn(state, mfn)).length;
  const mapping = state.inflight.length === 0 ? undefined : mapInFlight(state, dma.iovaPage);
  if (mapping !== undefined) return mapping.next === 'map' ? counted(mapping.mfns) : 0;
  const unmapping = state.inflight.length === 0 ? undefined : unmapInFlight(state, dma.iovaPage);
  if (unmapping !== undefined) return counted(unmapping.toUnpin.map((pin) => pin.mfn));
  const first = type1Backend(state)?.domains[0];
  const reserved = Array.from({ length: dma.npages }, (_, i) => first?.translations[dma.iovaPage + i]?.mfn).filter(
    (mfn) => mfn !== undefined && isInvalidReservedPfn(state, mfn),
  ).length;
  return dma.npages - reserved;
}

export function lockedVmAccounting(state: VfioState): LockedVmAccounting {
  const backend = type1Backend(state);
  const dmas = backend?.dmas ?? [];
  const withDomain = (backend?.domains.length ?? 0) > 0;
  const live = liveMm(state);
  const expectedPages = dmas
    .filter((dma) => dmaVaddrMm(dma) === live)
    .reduce(
      (sum, dma) => sum + (withDomain ? pinnedPagesWithDomain(state, dma) : Object.keys(dma.externalPins).length),
      0,
    );
  return {
    processPages: state.process.lockedVmPages,
    perMappingPages: dmas.filter((dma) => dmaMm(dma) === live).reduce((sum, dma) => sum + dma.lockedVmPages, 0),
    expectedPages,
    limitPages: state.process.memlockLimitPages,
    capIpcLock: state.process.capIpcLock,
  };
}

export interface ReachableFrame {
  readonly deviceId: number;
  /**
   * `iommu`: a translation of the device's domain; `noiommu`: any bus address; `pin`: a page the
   * driver holds; `in-flight`: a request already translated to it and not yet landed.
   */
  readonly via: 'iommu' | 'noiommu' | 'pin' | 'in-flight';
  readonly addressPage: number;
  readonly mfn: number;
  readonly write: boolean;
}

/** The frames requests in flight will land in: reach until they land, whatever the tables say now. */
export function inflightDmaReach(state: VfioState): ReachableFrame[] {
  const reach: ReachableFrame[] = [];
  for (const op of state.inflight) {
    if (op.kind !== 'deviceDma' || op.outcome !== 'landed' || op.mfn === null) continue;
    if (state.memory.frames[op.mfn] === undefined) continue;
    reach.push({ deviceId: op.deviceId, via: 'in-flight', addressPage: op.addressPage, mfn: op.mfn, write: op.write });
  }
  return reach;
}

/** Every frame each open device can reach right now, and how (requests in flight included). */
export function deviceReach(state: VfioState): ReachableFrame[] {
  const reach: ReachableFrame[] = inflightDmaReach(state);
  const backend = state.container.backend;
  for (const device of state.devices) {
    if (!device.open) continue;
    if (device.kind !== 'pci') {
      emulatedReachOf(state, device, reach);
      continue;
    }
    if (backend?.kind === 'noiommu') {
      for (const frame of state.memory.frames) {
        reach.push({ deviceId: device.id, via: 'noiommu', addressPage: frame.mfn, mfn: frame.mfn, write: true });
      }
      continue;
    }
    const domain = backend?.kind === 'type1' ? domainOfGroup(backend, device.groupId) : undefined;
    for (const [key, translation] of Object.entries(domain?.translations ?? {})) {
      // A pfn that is no frame of host memory is a peer's BAR (peer-to-peer DMA): no RAM to reach.
      if (state.memory.frames[translation.mfn] === undefined) continue;
      reach.push({ deviceId: device.id, via: 'iommu', addressPage: Number(key), ...translation });
    }
  }
  return reach;
}

/**
 * What the open emulated-IOMMU devices (mdev, ccw) can reach: the frames of an I/O in flight and
 * the pages their drivers pin. No IOMMU is on their path, so a stack that translates vfio-pci DMA
 * through an IOMMU model adds these to what the IOMMU lets through.
 */
export function emulatedDeviceReach(state: VfioState): ReachableFrame[] {
  const reach: ReachableFrame[] = [];
  for (const device of state.devices) if (device.open && device.kind !== 'pci') emulatedReachOf(state, device, reach);
  return reach;
}

function emulatedReachOf(state: VfioState, device: VfioDevice, reach: ReachableFrame[]): void {
  const backend = state.container.backend;
  for (const transfer of device.io ?? []) {
    reach.push({ deviceId: device.id, via: 'pin', addressPage: transfer.iovaPage, mfn: transfer.mfn, write: true });
  }
  for (const key of Object.keys(device.pins)) {
    const iovaPage = Number(key);
    const dma =
      backend?.kind === 'type1' ? backend.dmas.find((d) => d.externalPins[iovaPage] !== undefined) : undefined;
    const vpfn = dma?.externalPins[iovaPage];
    if (vpfn !== undefined)
      reach.push({ deviceId: device.id, via: 'pin', addressPage: iovaPage, mfn: vpfn.mfn, write: true });
  }
}

export interface ExternalPinSummary {
  readonly dmaIovaPage: number;
  /** `vfio_pfn` records. */
  readonly records: number;
  /** Σ ref_count. */
  readonly references: number;
  /** Σ over open devices of the pins their drivers record in this mapping. */
  readonly driverRecorded: number;
}

/** External pins outstanding per mapping, next to what the drivers think they hold. */
export function externalPinsByMapping(state: VfioState): ExternalPinSummary[] {
  const backend = type1Backend(state);
  if (backend === null) return [];
  return backend.dmas.map((dma) => {
    const pins = Object.values(dma.externalPins);
    let driverRecorded = 0;
    for (const device of state.devices) {
      for (const [key, count] of Object.entries(device.pins)) {
        const page = Number(key);
        if (page >= dma.iovaPage && page < dma.iovaPage + dma.npages) driverRecorded += count;
      }
    }
    return {
      dmaIovaPage: dma.iovaPage,
      records: pins.length,
      references: pins.reduce((sum, pin) => sum + pin.refCount, 0),
      driverRecorded,
    };
  });
}

/** Pairs of mappings whose IOVA ranges intersect (§1.13 inv. 1: there must be none). */
export function overlappingMappings(state: VfioState): { readonly first: number; readonly second: number }[] {
  const dmas = type1Backend(state)?.dmas ?? [];
  const pairs: { first: number; second: number }[] = [];
  dmas.forEach((a, i) => {
    for (const b of dmas.slice(i + 1)) {
      if (a.iovaPage < b.iovaPage + b.npages && b.iovaPage < a.iovaPage + a.npages) {
        pairs.push({ first: a.iovaPage, second: b.iovaPage });
      }
    }
  });
  return pairs;
}

/** §1.13 inv. 2: `dma_avail + |dma_list| = dma_entry_limit`. */
export function slotAccounting(
  state: VfioState,
): { readonly dmaAvail: number; readonly mappings: number; readonly limit: number } | null {
  const backend = type1Backend(state);
  if (backend === null) return null;
  return { dmaAvail: backend.dmaAvail, mappings: backend.dmas.length, limit: backend.dmaEntryLimit };
}

export interface TranslationDisagreement {
  readonly domainId: number;
  readonly iovaPage: number;
  readonly problem: string;
}

/**
 * §1.13 inv. 3: with domains, every page of every mapping translates in every domain to the same
 * frame with the mapping's prot, and no other translation exists; without domains, no mapping is
 * iommu_mapped.
 */
export function translationDisagreements(state: VfioState): TranslationDisagreement[] {
  const backend = type1Backend(state);
  if (backend === null) return [];
  const problems: TranslationDisagreement[] = [];
  const [first] = backend.domains;
  if (first === undefined) {
    for (const dma of backend.dmas) {
      if (dma.iommuMapped)
        problems.push({ domainId: -1, iovaPage: dma.iovaPage, problem: 'iommu_mapped without a domain' });
    }
    return problems;
  }
  const covered = new Set<number>();
  for (const dma of backend.dmas) {
    if (state.inflight.length > 0 && (mapInFlight(state, dma.iovaPage) ?? unmapInFlight(state, dma.iovaPage))) {
      // Half mapped or half unmapped under iommu->lock: the operation in flight finishes it.
      for (let i = 0; i < dma.npages; i++) covered.add(dma.iovaPage + i);
      continue;
    }
    if (!dma.iommuMapped) {
      problems.push({ domainId: first.id, iovaPage: dma.iovaPage, problem: 'mapping not iommu_mapped' });
      continue;
    }
    for (let i = 0; i < dma.npages; i++) {
      const iovaPage = dma.iovaPage + i;
      covered.add(iovaPage);
      const reference = first.translations[iovaPage];
      for (const domain of backend.domains) {
        const translation = domain.translations[iovaPage];
        if (translation === undefined) {
          problems.push({ domainId: domain.id, iovaPage, problem: 'no translation' });
        } else if (translation.read !== dma.read || translation.write !== dma.write) {
          problems.push({ domainId: domain.id, iovaPage, problem: 'prot differs from the mapping' });
        } else if (reference !== undefined && translation.mfn !== reference.mfn) {
          problems.push({
            domainId: domain.id,
            iovaPage,
            problem: `mfn ${translation.mfn}, first domain ${reference.mfn}`,
          });
        }
      }
    }
  }
  for (const domain of backend.domains) {
    for (const key of Object.keys(domain.translations)) {
      if (!covered.has(Number(key)))
        problems.push({ domainId: domain.id, iovaPage: Number(key), problem: 'no mapping' });
    }
  }
  return problems;
}

/** The kernel crash, if one happened (BUG_ON in the unmap retry loop). */
export function kernelCrash(state: VfioState): VfioState['crash'] {
  return state.crash;
}
