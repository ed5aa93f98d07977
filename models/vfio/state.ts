/**
 * Construction, copying and lookup of the VFIO state, the operation runner, and the
 * fault-injection points.
 *
 * Atomicity. An operation runs on the caller's (already copied) draft. A refusal decided before
 * the operation changed anything (its checks) is atomic in Linux too: `runOp` restores its
 * snapshot, which changes nothing. A failure after the operation changed state is walked back by
 * the operation itself, step by step, as the kernel does (`unwound`): MAP_DMA (vfio_dma_do_map →
 * vfio_pin_map_dma's per-run unwind → vfio_remove_dma, `pin.ts`), vfio_pin_pages (pin_unwind,
 * `external-pin.ts`) and group attach (attach_group's out_detach/out_domain and vfio_iommu_replay's
 * unwind, `container.ts`). For those `runOp` restores nothing: it only undoes the page faults the
 * operation took (Linux leaves those pages populated; they are memory the process could have
 * touched anyway, and undoing them, frame by frame through the page's own reference, lets the
 * atomicity invariant hold the whole state to "unchanged"), then compares the result with the state
 * before. Equal: the refusal is reported as any other, with nothing for an IOMMU model beside VFIO
 * (the transient maps and unmaps cancel out). Not equal — an unwind forgot a step — the state is
 * kept as the unwind left it, with its effects, and the atomicity and accounting invariants see it.
 * A deliberate bug that breaks an unwind by other means opts out of the restore (`keep`), and so
 * does a kernel crash.
 *
 * Fault injection: while `faultInjection` is armed, the `nth` pin (allocation, iommu_map) attempted
 * by any single operation fails. The count is per operation and lives outside the state; the fault
 * stays armed until `clearFault`. Pins are page pins (an IOMMU-path pin or a new external pin,
 * FOLL_PIN); allocations are frame allocations (a page fault, a frame for another owner) and
 * kernel objects (`vfio_iommu`, `vfio_domain`, `vfio_iommu_group`, `vfio_dma`, `vfio_pfn`); maps
 * are `iommu_map` calls of one page into one domain (the model maps page by page), failing as a
 * page-table allocation does. All fail with ENOMEM, as an out-of-memory page fault, a failed
 * long-term-pin migration or a failed kzalloc does.
 */
import { deepEqual } from '../deep-equal.js';
import {
  allocFrame,
  allocFrameAt,
  cloneHostMemory,
  createHostMemory,
  putRef,
  writableFrame,
} from '../memory/frames.js';
import type { HostMemoryConfig, WritableFrame } from '../memory/frames.js';
import type { Blocked, ResultDetail } from '../result.js';
import { share } from '../copy-on-write.js';
import { setPageMfn } from './process-pages.js';
import type {
  DeviceKind,
  DmaAccess,
  GroupSpec,
  OtherAllocation,
  PageFaultRecord,
  PageRange,
  ProcessPage,
  TranslationEffect,
  Type1Backend,
  VfioDevice,
  VfioDma,
  VfioDomain,
  VfioGroup,
  VfioParams,
  VfioResult,
  VfioState,
} from './types.js';
import { PAGE_LIMIT } from './u64.js';

export interface ProcessRegionSpec {
  readonly vaddrPage: number;
  readonly npages: number;
  readonly writable: boolean;
  /** Fault every page in at start (MAP_POPULATE); otherwise pages are faulted in on first use. */
  readonly populate: boolean;
  /**
   * Populate with physically contiguous frames in ascending order, lowest free first (guest RAM
   * backed by a huge page), whatever the allocation policy; so that MAP_DMA finds contiguous runs.
   */
  readonly contiguous?: boolean;
  /**
   * A VM_PFNMAP VMA (`remap_pfn_range`) mapping pfns `pfnmapBasePfn + i`: a device BAR (pfns beyond
   * host memory, no struct page) or a buffer of host RAM another owner holds. Present from the
   * start, holding no reference (`populate` is ignored).
   */
  readonly pfnmapBasePfn?: number;
  /**
   * A VM_PFNMAP VMA over host RAM: a driver's buffer of frames allocated to this owner at start
   * (`remap_pfn_range` of kernel memory), held by that owner, not by the process.
   */
  readonly pfnmapOwner?: number;
}

export interface VmmProcessSpec {
  readonly owner: number;
  readonly memlockLimitPages: number;
  readonly capIpcLock: boolean;
  readonly addressSpaceLimitPages: number;
  readonly regions: readonly ProcessRegionSpec[];
  /** Model the shared zero page (a frame of `ZERO_PAGE_OWNER`, allocated last at start). */
  readonly zeroPage?: boolean;
}

/** Frame owner of the shared zero page (the kernel's `empty_zero_page`). */
export const ZERO_PAGE_OWNER = 0;

export interface DeviceSpec {
  readonly groupId: number;
  readonly kind: DeviceKind;
}

export interface VfioWorldSpec {
  readonly memory: HostMemoryConfig;
  readonly process: VmmProcessSpec;
  /** Frames allocated to other owners at start, after the process's populated pages. */
  readonly otherAllocations: readonly { readonly owner: number; readonly count: number }[];
  /** Group `i` gets id `i`. */
  readonly groups: readonly GroupSpec[];
  /** Device `i` gets id `i`. */
  readonly devices: readonly DeviceSpec[];
  readonly params: VfioParams;
}

/** Builds the initial state; throws when the spec cannot be built (not enough frames, bad ids). */
export function createVfioState(spec: VfioWorldSpec): VfioState {
  const memory = createHostMemory(spec.memory);
  const pages: Record<string, ProcessPage> = {};
  const bufferAllocations: OtherAllocation[] = [];
  for (const region of spec.process.regions) {
    for (let vaddrPage = region.vaddrPage; vaddrPage < region.vaddrPage + region.npages; vaddrPage++) {
      if (pages[vaddrPage] !== undefined) throw new Error(`world spec: vaddr page ${vaddrPage} mapped twice`);
      if (region.pfnmapBasePfn !== undefined) {
        const pfn = region.pfnmapBasePfn + (vaddrPage - region.vaddrPage);
        pages[vaddrPage] = { writable: region.writable, mfn: pfn, pfnmap: true };
        continue;
      }
      if (region.pfnmapOwner !== undefined) {
        const mfn = allocFrame(memory, region.pfnmapOwner);
        if (mfn === null) throw new Error(`world spec: not enough frames for the buffer at vaddr page ${vaddrPage}`);
        bufferAllocations.push({ owner: region.pfnmapOwner, mfn });
        pages[vaddrPage] = { writable: region.writable, mfn, pfnmap: true };
        continue;
      }
      let mfn: number | null = null;
      if (region.populate) {
        mfn =
          region.contiguous === true
            ? allocFrameAt(memory, Math.min(...memory.freeList), spec.process.owner)
            : allocFrame(memory, spec.process.owner);
        if (mfn === null) throw new Error(`world spec: not enough frames to populate vaddr page ${vaddrPage}`);
      }
      pages[vaddrPage] = { writable: region.writable, mfn };
    }
  }
  const otherAllocations: OtherAllocation[] = [...bufferAllocations];
  for (const other of spec.otherAllocations) {
    for (let i = 0; i < other.count; i++) {
      const mfn = allocFrame(memory, other.owner);
      if (mfn === null) throw new Error(`world spec: not enough frames for owner ${other.owner}`);
      otherAllocations.push({ owner: other.owner, mfn });
    }
  }
  let zeroMfn: number | undefined;
  if (spec.process.zeroPage === true) {
    const mfn = allocFrame(memory, ZERO_PAGE_OWNER);
    if (mfn === null) throw new Error('world spec: no frame left for the zero page');
    otherAllocations.push({ owner: ZERO_PAGE_OWNER, mfn });
    zeroMfn = mfn;
  }
  for (const device of spec.devices) {
    const group = spec.groups[device.groupId];
    if (group === undefined) throw new Error(`world spec: device in unknown group ${device.groupId}`);
    const emulated = device.kind !== 'pci';
    if (emulated !== (group.kind === 'emulated')) {
      throw new Error(`world spec: a ${device.kind} device cannot be in a ${group.kind} group`);
    }
  }
  return {
    memory,
    process: {
      owner: spec.process.owner,
      pages,
      lockedVmPages: 0,
      memlockLimitPages: spec.process.memlockLimitPages,
      capIpcLock: spec.process.capIpcLock,
      addressSpaceLimitPages: spec.process.addressSpaceLimitPages,
      ...(zeroMfn === undefined ? {} : { zeroMfn }),
    },
    otherAllocations,
    groups: spec.groups.map((groupSpec, id) => ({ id, spec: groupSpec, inContainer: false, attachedDomain: null })),
    devices: spec.devices.map((device, id) => ({
      id,
      groupId: device.groupId,
      kind: device.kind,
      open: false,
      pins: {},
      io: null,
    })),
    container: { groupIds: [], noiommu: false, backend: null },
    params: spec.params,
    faultInjection: null,
    crash: null,
    inflight: [],
  };
}

// The copies below are written out rather than built from `Object.entries`: a step copies the state
// at least once, and these loops are most of that copy's cost (issue 23).

// The records keyed by iova page are shared, copied on their first write (`copied-parts.ts`). The
// objects are built field by field, which V8 does several times faster than a spread of them; a
// field added to their types must be added here (`test/vfio/clone.test.ts` compares copies).

function cloneDma(dma: VfioDma): VfioDma {
  const copy: VfioDma = {
    iovaPage: dma.iovaPage,
    vaddrPage: dma.vaddrPage,
    npages: dma.npages,
    read: dma.read,
    write: dma.write,
    iommuMapped: dma.iommuMapped,
    lockCap: dma.lockCap,
    vaddrInvalid: dma.vaddrInvalid,
    lockedVmPages: dma.lockedVmPages,
    externalPins: share(dma.externalPins),
  };
  if (dma.mm !== undefined) copy.mm = dma.mm;
  if (dma.vaddrMm !== undefined) copy.vaddrMm = dma.vaddrMm;
  return copy;
}

function cloneDomain(domain: VfioDomain): VfioDomain {
  return { id: domain.id, groupIds: [...domain.groupIds], translations: share(domain.translations) };
}

function cloneDevice(device: VfioDevice): VfioDevice {
  return {
    id: device.id,
    groupId: device.groupId,
    kind: device.kind,
    open: device.open,
    pins: share(device.pins),
    io: device.io === null ? null : [...device.io],
  };
}

function cloneGroup(group: VfioGroup): VfioGroup {
  return { id: group.id, spec: group.spec, inContainer: group.inContainer, attachedDomain: group.attachedDomain };
}

function cloneType1Backend(backend: Type1Backend): Type1Backend {
  return {
    kind: backend.kind,
    v2: backend.v2,
    nesting: backend.nesting,
    domains: backend.domains.map(cloneDomain),
    emulatedGroupIds: [...backend.emulatedGroupIds],
    deviceIds: [...backend.deviceIds],
    dmas: backend.dmas.map(cloneDma),
    dmaAvail: backend.dmaAvail,
    dmaEntryLimit: backend.dmaEntryLimit,
    vaddrInvalidCount: backend.vaddrInvalidCount,
    iovaListEmpty: backend.iovaListEmpty,
  };
}

export function cloneVfioState(state: VfioState): VfioState {
  const backend = state.container.backend;
  return {
    memory: cloneHostMemory(state.memory),
    // Copied on its first write (`process-pages.ts`).
    process: { ...state.process, pages: share(state.process.pages) },
    // Its entries are read-only: added and removed, never edited in place.
    otherAllocations: [...state.otherAllocations],
    groups: state.groups.map(cloneGroup),
    devices: state.devices.map(cloneDevice),
    container: {
      groupIds: [...state.container.groupIds],
      noiommu: state.container.noiommu,
      backend: backend === null || backend.kind === 'noiommu' ? backend : cloneType1Backend(backend),
    },
    params: state.params,
    faultInjection: state.faultInjection,
    crash: state.crash,
    // Operations in flight are replaced whole when a phase changes them, never edited in place.
    inflight: state.inflight.length === 0 ? [] : [...state.inflight],
  };
}

// ---------------------------------------------------------------------------------------------
// Lookups

export function type1Backend(state: VfioState): Type1Backend | null {
  const backend = state.container.backend;
  return backend !== null && backend.kind === 'type1' ? backend : null;
}

export function groupAt(state: VfioState, groupId: unknown): VfioGroup | undefined {
  return typeof groupId === 'number' && Number.isInteger(groupId) ? state.groups[groupId] : undefined;
}

export function deviceAt(state: VfioState, deviceId: unknown): VfioDevice | undefined {
  return typeof deviceId === 'number' && Number.isInteger(deviceId) ? state.devices[deviceId] : undefined;
}

/** The mapping containing `iovaPage`, if any (`vfio_find_dma(iommu, iova, PAGE_SIZE)`). */
export function findDmaContaining(backend: Type1Backend, iovaPage: number): VfioDma | undefined {
  return backend.dmas.find((dma) => dma.iovaPage <= iovaPage && iovaPage < dma.iovaPage + dma.npages);
}

export function dmaEndPage(dma: VfioDma): number {
  return dma.iovaPage + dma.npages;
}

/** Inserts a mapping keeping `dma_list` sorted by IOVA. */
export function linkDma(backend: Type1Backend, dma: VfioDma): void {
  const index = backend.dmas.findIndex((other) => other.iovaPage > dma.iovaPage);
  if (index < 0) backend.dmas.push(dma);
  else backend.dmas.splice(index, 0, dma);
}

export function unlinkDma(backend: Type1Backend, dma: VfioDma): void {
  const index = backend.dmas.indexOf(dma);
  if (index >= 0) backend.dmas.splice(index, 1);
}

/** The domain a group's devices translate through, if the group is attached to one. */
export function domainOfGroup(backend: Type1Backend, groupId: number): VfioDomain | undefined {
  return backend.domains.find((domain) => domain.groupIds.includes(groupId));
}

/**
 * The usable IOVA ranges (`iova_list`), or `null` while the list was never populated (any IOVA
 * is allowed). With IOMMU groups attached: the intersection of their apertures minus their
 * reserved regions. After the last domain went away: the whole space (§1.9 detach, aper_expand).
 */
export function usableIovaRanges(state: VfioState): PageRange[] | null {
  const backend = type1Backend(state);
  if (backend === null || backend.iovaListEmpty) return null;
  let endPage = PAGE_LIMIT;
  const reserved: PageRange[] = [];
  for (const domain of backend.domains) {
    for (const groupId of domain.groupIds) {
      const spec = state.groups[groupId]?.spec;
      if (spec === undefined || spec.kind !== 'iommu') continue;
      endPage = Math.min(endPage, spec.apertureEndPage);
      reserved.push(...spec.reservedRanges);
    }
  }
  return subtractRanges({ startPage: 0, endPage }, reserved);
}

function subtractRanges(range: PageRange, holes: readonly PageRange[]): PageRange[] {
  let pieces: PageRange[] = range.startPage < range.endPage ? [range] : [];
  for (const hole of holes) {
    const next: PageRange[] = [];
    for (const piece of pieces) {
      if (hole.endPage <= piece.startPage || hole.startPage >= piece.endPage) {
        next.push(piece);
        continue;
      }
      if (piece.startPage < hole.startPage) next.push({ startPage: piece.startPage, endPage: hole.startPage });
      if (hole.endPage < piece.endPage) next.push({ startPage: hole.endPage, endPage: piece.endPage });
    }
    pieces = next;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Running an operation

/** The bookkeeping of an operation about to run: nothing attempted, nothing done. */
export function newOpContext(): OpContext {
  return { pinAttempts: 0, allocAttempts: 0, mapAttempts: 0, effects: [], accesses: [], faults: [] };
}

/** Per-operation bookkeeping: fault-injection counts and what the operation did. */
export interface OpContext {
  pinAttempts: number;
  allocAttempts: number;
  mapAttempts: number;
  readonly effects: TranslationEffect[];
  readonly accesses: DmaAccess[];
  readonly faults: PageFaultRecord[];
}

export type Outcome =
  | { readonly ok: true; readonly detail?: ResultDetail }
  | {
      readonly ok: false;
      readonly error: string;
      readonly detail?: ResultDetail;
      /** Do not restore the snapshot: a deliberate bug's broken unwind, or a kernel crash. */
      readonly keep?: boolean;
      /** The operation walked its own work back (see the header): compare, do not restore. */
      readonly unwound?: boolean;
      /** It must wait (EBUSY): what for and what it holds meanwhile (`src/waits.ts`). */
      readonly blocked?: Blocked;
    };

export function ok(detail?: ResultDetail): Outcome {
  return detail === undefined ? { ok: true } : { ok: true, detail };
}

export function err(error: string, detail?: ResultDetail): Outcome {
  return detail === undefined ? { ok: false, error } : { ok: false, error, detail };
}

/** A failure after the operation changed state, which it has walked back itself. */
export function unwound(error: string, detail?: ResultDetail): Outcome {
  return detail === undefined ? { ok: false, error, unwound: true } : { ok: false, error, detail, unwound: true };
}

/**
 * A request that must wait for `waitsFor` (a lock, a busy actor), holding `holds` meanwhile:
 * refused EBUSY, the state unchanged; the engine tells a wait that ends from one that never does.
 */
export function mustWait(waitsFor: string, holds: readonly string[] = []): Outcome {
  return { ok: false, error: 'EBUSY', detail: { waits: waitsFor }, blocked: { waitsFor, holds } };
}

/** A refusal decided before anything changed. */
export function refused(error: string, detail?: ResultDetail): VfioResult {
  return detail === undefined
    ? { ok: false, error, effects: [], accesses: [] }
    : { ok: false, error, detail, effects: [], accesses: [] };
}

// A draft made by `draftOf` remembers the state it copies until its first operation runs. That
// operation then needs no snapshot of its own: a refusal is restored from the original, or, when
// the caller only wants the original back (`finishDraft`), not restored at all. This halves the
// copying per step and lets a refused step hand back its input unchanged.
const pristine = new WeakMap<VfioState, VfioState>();
const abandoned = new WeakSet<VfioState>();

/**
 * A copy of `state` to run one command on. If the command is refused without `keep`, the draft is
 * left as it stands and `finishDraft(draft)` says so: the caller must use `state` instead.
 */
export function draftOf(state: VfioState): VfioState {
  const draft = cloneVfioState(state);
  pristine.set(draft, state);
  return draft;
}

/**
 * Ends a `draftOf` draft's command: true when its operation was refused and the draft left
 * unrestored (use the original state); false when the draft is the new state.
 */
export function finishDraft(draft: VfioState): boolean {
  pristine.delete(draft);
  return abandoned.delete(draft);
}

/**
 * Runs one operation on `state` (the caller's draft). A refusal restores the draft to exactly
 * what it was (unless the outcome says `keep`), or, for a `draftOf` draft, abandons it. On a
 * crashed host nothing runs: `BUG_ON`.
 */
export function runOp(state: VfioState, body: (ctx: OpContext) => Outcome): VfioResult {
  if (state.crash !== null) return refused('BUG_ON', { where: state.crash.where });
  const original = pristine.get(state);
  pristine.delete(state);
  const snapshot = original === undefined ? cloneVfioState(state) : null;
  const ctx = newOpContext();
  const outcome = body(ctx);
  if (outcome.ok) {
    const base = { ok: true, effects: ctx.effects, accesses: ctx.accesses } as const;
    return outcome.detail === undefined ? base : { ...base, detail: outcome.detail };
  }
  let detail = outcome.detail;
  if (outcome.unwound === true) {
    undoPageFaults(state, ctx.faults);
    // It pinned or mapped before it failed: the report says it unwound (completely or not).
    if (ctx.pinAttempts + ctx.mapAttempts > 0) detail = { ...detail, unwound: true };
    if (!deepEqual(state, original ?? snapshot)) return keptRefusal(outcome.error, detail, ctx);
  } else if (outcome.keep === true) return keptRefusal(outcome.error, detail, ctx);
  if (snapshot !== null) Object.assign(state, snapshot);
  else abandoned.add(state);
  const answer = refused(outcome.error, detail);
  return outcome.blocked === undefined ? answer : { ...answer, blocked: outcome.blocked };
}

/** A refusal that left the state changed (a broken unwind, a crash): its effects go with it. */
function keptRefusal(error: string, detail: ResultDetail | undefined, ctx: OpContext): VfioResult {
  const base = { ok: false, error, effects: ctx.effects, accesses: ctx.accesses } as const;
  return detail === undefined ? base : { ...base, detail };
}

/**
 * Undoes the page faults of a failed operation, newest first: the page is not present again and
 * its reference on the frame goes. A frame nothing else holds returns to the allocator where it
 * was (free-list position, allocation count), so a complete unwind leaves memory as it found it;
 * a frame something still holds (a pin the unwind forgot) stays allocated.
 */
export function undoPageFaults(state: VfioState, faults: readonly PageFaultRecord[]): void {
  for (const fault of [...faults].reverse()) {
    const page = state.process.pages[fault.vaddrPage];
    if (page?.mfn !== fault.mfn) continue;
    setPageMfn(state.process, fault.vaddrPage, fault.zeroBefore === true ? (state.process.zeroMfn ?? null) : null);
    if (fault.zeroMapped === true) continue;
    const memory = state.memory;
    const frame = memory.frames[fault.mfn];
    if (frame === undefined) continue;
    if (frame.refcount !== 1) {
      putRef(memory, fault.mfn);
      continue;
    }
    const own = writableFrame(memory, fault.mfn) as WritableFrame;
    own.refcount = 0;
    own.owner = null;
    const index = fault.freeListBefore.indexOf(fault.mfn);
    memory.freeList.splice(index < 0 ? memory.freeList.length : index, 0, fault.mfn);
    memory.allocCount = fault.allocCountBefore;
  }
}

/** Counts a page-pin attempt; `false` when the armed fault makes this one fail. */
export function attemptPin(state: VfioState, ctx: OpContext): boolean {
  ctx.pinAttempts += 1;
  const fault = state.faultInjection;
  return !(fault !== null && fault.point === 'pin' && fault.nth === ctx.pinAttempts);
}

/** Counts an allocation attempt; `false` when the armed fault makes this one fail. */
export function attemptAlloc(state: VfioState, ctx: OpContext): boolean {
  ctx.allocAttempts += 1;
  const fault = state.faultInjection;
  return !(fault !== null && fault.point === 'alloc' && fault.nth === ctx.allocAttempts);
}

/** Counts an `iommu_map` attempt (one page into one domain); `false` when the armed fault makes this one fail. */
export function attemptMap(state: VfioState, ctx: OpContext): boolean {
  ctx.mapAttempts += 1;
  const fault = state.faultInjection;
  return !(fault !== null && fault.point === 'map' && fault.nth === ctx.mapAttempts);
}
