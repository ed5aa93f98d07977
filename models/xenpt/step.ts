/**
 * The Xen passthrough stack's step: PCI devices assigned to domains through Xen's IOMMU contexts,
 * the p2m changes that drive the IOMMU, the hardware IOTLB and Xen's deferred flushes, DMA, and
 * domain destruction with devices still assigned. Reference: docs/reference/xen-passthrough.md
 * (Xen at the pinned commit c447b7308b).
 *
 * - IOMMU contexts (xen/drivers/passthrough/x86/iommu.c, vtd/iommu.c): an HVM domain shares its
 *   EPT with the IOMMU (`iommu_use_hap_pt`: DMA walks the p2m, `p2m_get_iommu_flags`) or keeps a
 *   table of its own in sync: `ept_set_entry` (xen/arch/x86/mm/p2m-ept.c) and `p2m_pt_set_entry`
 *   (p2m-pt.c) call `iommu_legacy_map` / `iommu_legacy_unmap` when `need_iommu_pt_sync(d)` and the
 *   entry's IOMMU flags or mfn change; with shared tables `ept_set_entry` flushes the IOTLB itself
 *   (`iommu_iotlb_flush`). A PV domain's table is indexed by mfn (dfn = mfn): the hardware domain's
 *   is filled by `arch_iommu_hwdom_init` (with `dom0-iommu=strict`, only its own pages), a PV domU's
 *   by `_get_page_type` (xen/arch/x86/mm.c: a page becoming PGT_writable is mapped, one leaving it
 *   unmapped), and a freed page's mapping goes in `put_page`'s cleanup. Both legacy calls flush at
 *   once unless `iommu_dont_flush_iotlb` is set. `syncIommu` applies this to every p2m or ownership
 *   change a Xen operation made (the model's p2m changes are the `p2m_set_entry` calls). A dying
 *   domain's p2m is not synced: `relinquish_memory` frees its pages without touching the p2m or
 *   the IOMMU table (`intel_iommu_map_page` ignores a dying domain; its table goes at
 *   `iommu_free_pgtables`).
 * - The IOTLB: translations cached per context (a domain's DID, a quarantined device's pseudo
 *   domain id) and dfn when a DMA walks the tables; `iommu_iotlb_flush` drops a dfn's entries.
 * - XENMEM_add_to_physmap, XENMAPSPACE_gmfn_range (xen/common/memory.c `xenmem_add_to_physmap`,
 *   xen/arch/x86/mm/p2m.c `xenmem_add_to_physmap_one`): `iommu_dont_flush_iotlb` set around the
 *   loop; each extent: the source must be p2m_ram_rw (-EACCES), its page referenced
 *   (`get_page_from_mfn`, -EINVAL); a page at the destination is freed (`guest_remove_page`, which
 *   clears `iommu_dont_flush_iotlb` around its p2m removal since it may free the page); the source
 *   gfn removed, the destination added; the page reference handed to the caller (`extra.ppage`).
 *   After the loop: the flush of the old dfns, then `put_page` of each page, then the flush of the
 *   new ones (XSA-346). Phases: "move" (the loop) and "flush".
 * - Domain destruction (xen/common/domain.c `domain_kill`, xen/arch/x86/domain.c
 *   `domain_relinquish_resources`): the first call marks it dying and releases its grant mappings
 *   (`models/xen/destroy.ts`); the continuation runs `pci_release_devices` and
 *   `iommu_free_pgtables` (the root cleared: the context reaches nothing; the model flushes its
 *   DID) before `relinquish_p2m_mapping` and `relinquish_memory` (`PROGRESS(...)` order). Phases:
 *   "kill", then the two stages in the design's order (`PassthroughTeardown`).
 * - DMA: a device's request is translated through its context's IOTLB entry, else by walking the
 *   context (a domain's table or p2m; a quarantined device's scratch-page table, or nothing in
 *   basic quarantine), a hit cached; it lands in a frame or a scratch page, or faults. Phases:
 *   "issue" (the owner's driver programs it) and "access". A device keeps several requests
 *   outstanding (a PCIe function has many tags), so several DMAs of one device may be in flight.
 *
 * Other Xen commands (the PV memory operations, grant v2 and copy) join
 * `stepXenPt`'s dispatch in `stepXenOp`, followed by `syncIommu` like the ones here.
 */
import { getRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import {
  resetIommu,
  settleXenState,
  shareXenState,
  writableDomain,
  writableMemory,
  writableP2m,
} from '../xen/copy-on-write.js';
import { createDomain } from '../xen/create.js';
import { finishDestroyDomain, startDestroyDomain } from '../xen/destroy.js';
import { grantAccess, mapGrantRef, unmapGrantRef } from '../xen/grant-table.js';
import {
  iommuFlushPendingDfn,
  iommuMapPage,
  iommuMarkPending,
  iommuTranslate,
  iommuUnmapPage,
  p2mIommuFlags,
} from '../xen/iommu.js';
import { decreaseReservation, populatePhysmap } from '../xen/memory-op.js';
import { pvIommuSetup } from '../xen/page-type.js';
import { pvMmuStep } from '../xen/pv-mmu.js';
import type { PvMmuCommand } from '../xen/pv-mmu.js';
import {
  assignDevice,
  assignDeviceCheck,
  deassignDevice,
  deassignDeviceCheck,
  DOMID_IO,
  pciReleaseDevices,
  quarantineDevInit,
} from '../xen/pci.js';
import type { PciConfig, PciDev } from '../xen/pci.js';
import { createXenState, dropFrameRef } from '../xen/state.js';
import type { IommuPte, P2mEntry, XenDomain, XenState } from '../xen/types.js';
import type { XenPtCommand } from './commands.js';
import { HARDWARE_DOMID } from './config.js';
import {
  advanceGrantCopy,
  destroyWaitsForCopy,
  grantCopyPhase,
  setUpWorldGrantFrames,
  stepXenPtGrantV2,
} from './grant-v2.js';
import type { XenPtConfig } from './config.js';
import { mapGrantArgs, pvIommuChangedDfns, unmapGrantArgs } from './pv-memory.js';
import type {
  ContextId,
  DmaAccess,
  DmaTarget,
  IotlbEntry,
  MoveGfnInFlight,
  TeardownStep,
  XenPtOp,
  XenPtState,
} from './types.js';

export interface XenPtStep {
  readonly state: XenPtState;
  readonly result: OpResult & { readonly accesses: readonly DmaAccess[] };
}

/**
 * What a step works on, copy-on-write: Xen's state shared from the step's (`shareXenState`, changed
 * through the `writable*` functions of models/xen/copy-on-write.ts), and the devices, the IOTLB and
 * the operations in flight still the state's own until the step changes them (`writableDevice`,
 * `writableIotlb`, `writableInflight`). Read through any reference; write only through what one of
 * those returned in this step.
 */
interface Work {
  xen: XenState;
  devices: readonly PciDev[];
  iotlb: Readonly<Record<string, IotlbEntry>>;
  inflight: readonly XenPtOp[];
  accesses: DmaAccess[];
  /**
   * The devices array, devices, IOTLB and in-flight array this step copied: its own to change. A
   * list, not a WeakSet: a step copies a few, and a WeakSet per step weighed on the collector.
   */
  readonly copied: object[];
}

/** Device `sbdf` to change (the devices array and the device copied once); undefined: no such device. */
function writableDevice(work: Work, sbdf: number): PciDev | undefined {
  const device = work.devices[sbdf];
  if (device === undefined || work.copied.includes(device)) return device;
  const devices = writableDevices(work);
  const copy = { ...device };
  work.copied.push(copy);
  devices[sbdf] = copy;
  return copy;
}

/** The devices array to change (copied once); its devices stay shared until `writableDevice`. */
function writableDevices(work: Work): PciDev[] {
  if (!work.copied.includes(work.devices)) {
    work.devices = [...work.devices];
    work.copied.push(work.devices);
  }
  return work.devices as PciDev[];
}

function writableIotlb(work: Work): Record<string, IotlbEntry> {
  if (!work.copied.includes(work.iotlb)) {
    work.iotlb = { ...work.iotlb };
    work.copied.push(work.iotlb);
  }
  return work.iotlb as Record<string, IotlbEntry>;
}

function writableInflight(work: Work): XenPtOp[] {
  if (!work.copied.includes(work.inflight)) {
    work.inflight = [...work.inflight];
    work.copied.push(work.inflight);
  }
  return work.inflight as XenPtOp[];
}

/** Device `sbdf`'s DMA requests in flight aborted (a function reset); the array copied only if it has any. */
function abortDeviceDma(work: Work, sbdf: number): void {
  const aborted = (op: XenPtOp): boolean => op.kind === 'dma' && op.device === sbdf;
  if (!work.inflight.some(aborted)) return;
  work.inflight = work.inflight.filter((op) => !aborted(op));
  work.copied.push(work.inflight);
}

/**
 * Xen's state as it is now, for a diff (`syncIommu`) with what the step does next: the share ends
 * and a new one starts, so nothing writes the returned state again — a `writable*` reference taken
 * before this point must not be used after it.
 */
function snapshotXen(work: Work): XenState {
  const before = work.xen;
  work.xen = shareXenState(before);
  return before;
}

export function pciConfigOf(config: XenPtConfig): PciConfig {
  return { quarantine: config.quarantine, scratch: config.scratch, hardwareDomid: HARDWARE_DOMID };
}

// ---------------------------------------------------------------------------------------------
// Contexts and the IOTLB

export function domainContext(domid: number): ContextId {
  return `dom${domid}`;
}

/** The context a device's DMA goes through: its owner's DID, its quarantine page table, or none (blocked). */
export function deviceContext(device: PciDev): ContextId | null {
  if (device.owner !== DOMID_IO) return domainContext(device.owner);
  return device.scratch === null ? null : `q${device.pseudoDomid ?? device.sbdf}`;
}

export function iotlbKey(context: ContextId, dfn: number): string {
  return `${context}/${dfn}`;
}

/** What walking `context` at `dfn` finds (no IOTLB): a domain's table or p2m, a scratch page. */
export function walkContext(
  xen: XenState,
  devices: readonly PciDev[],
  context: ContextId,
  dfn: number,
): IotlbEntry | null {
  if (context.startsWith('q')) {
    // The device whose quarantine context carries this pseudo domain id (the first, if shared).
    const did = Number(context.slice(1));
    const device = devices.find((candidate) => (candidate.pseudoDomid ?? candidate.sbdf) === did);
    if (device?.scratch === null || device === undefined) return null;
    return { target: { kind: 'scratch', id: device.scratch }, read: true, write: true };
  }
  const domain = xen.domains[Number(context.slice(3))];
  if (domain === undefined) return null;
  const pte = iommuTranslate(domain, dfn);
  return pte === null ? null : { target: { kind: 'frame', mfn: pte.mfn }, read: pte.read, write: pte.write };
}

/** `iommu_iotlb_flush(d, dfn, 1)`: the dfn's cached translation dropped, no longer pending. */
function flushDfn(work: Work, domid: number, dfn: number): void {
  const key = iotlbKey(domainContext(domid), dfn);
  if (work.iotlb[key] !== undefined) delete writableIotlb(work)[key];
  iommuFlushPendingDfn(work.xen, domid, dfn);
}

/** A domain-selective flush of `domid`'s DID. */
function flushDomain(work: Work, domid: number): void {
  const prefix = `${domainContext(domid)}/`;
  for (const key of Object.keys(work.iotlb)) if (key.startsWith(prefix)) delete writableIotlb(work)[key];
  const domain = work.xen.domains[domid];
  for (const dfn of domain?.iommu?.flushPending ?? []) iommuFlushPendingDfn(work.xen, domid, dfn);
}

function samePte(left: IommuPte | null, right: IommuPte | null): boolean {
  if (left === null || right === null) return left === right;
  return left.mfn === right.mfn && left.read === right.read && left.write === right.write;
}

/**
 * The IOMMU side of the p2m and ownership changes a Xen operation made (from `before` to
 * `work.xen`): for a running translated domain every gfn whose IOMMU view changed (a shared table
 * flushed, an own table mapped or unmapped through the design's `IommuSync`, then flushed); for a
 * PV domain every frame it no longer owns unmapped (dfn = mfn) and flushed. `defer`:
 * `iommu_dont_flush_iotlb` is set, the dfns stay pending. `dying`: a dying domain's p2m changes
 * are synced too (the grant host mappings `gnttab_release_mappings` removes; see the reference §5).
 */
export function syncIommu(work: Work, before: XenState, config: XenPtConfig, defer: boolean, dying = false): void {
  work.xen.domains.forEach((after, domid) => {
    const old = before.domains[domid];
    if (old === undefined || after.iommu === undefined || old.incarnation !== after.incarnation) return;
    if (after.translated) {
      if ((after.life !== 'running' && !(dying && after.life === 'dying')) || old.p2m === after.p2m) return;
      syncTranslated(work, old, after, config, defer);
    } else syncPv(work, before, domid, defer);
  });
}

/** A p2m's gfns in ascending order (`Object.keys` lists decimal keys so already; sorted if not). */
function ascendingGfns(p2m: Readonly<Record<string, P2mEntry>>): number[] {
  const gfns = Object.keys(p2m).map(Number);
  for (let index = 1; index < gfns.length; index++)
    if (!((gfns[index] ?? 0) > (gfns[index - 1] ?? 0))) return [...new Set(gfns)].sort((left, right) => left - right);
  return gfns;
}

function syncTranslated(work: Work, old: XenDomain, after: XenDomain, config: XenPtConfig, defer: boolean): void {
  // Every gfn of either p2m once, in ascending order: the two ascending lists merged.
  const before = ascendingGfns(old.p2m);
  const now = ascendingGfns(after.p2m);
  let inBefore = 0;
  let inNow = 0;
  while (inBefore < before.length || inNow < now.length) {
    const left = before[inBefore] ?? Number.POSITIVE_INFINITY;
    const right = now[inNow] ?? Number.POSITIVE_INFINITY;
    if (left < right) {
      inBefore += 1;
      syncGfn(work, old, after, config, defer, left);
    } else if (right < left) {
      inNow += 1;
      syncGfn(work, old, after, config, defer, right);
    } else {
      inBefore += 1;
      inNow += 1;
      syncGfn(work, old, after, config, defer, left);
    }
  }
}

/** One gfn of `syncTranslated`: its IOMMU view's change, if any, flushed or propagated. */
function syncGfn(work: Work, old: XenDomain, after: XenDomain, config: XenPtConfig, defer: boolean, gfn: number): void {
  const domid = after.domid;
  // The same entry gives the same IOMMU view (p2mIommuFlags reads only the entry).
  if (old.p2m[gfn] === after.p2m[gfn]) return;
  const was = p2mIommuFlags(old.p2m[gfn]);
  const next = p2mIommuFlags(after.p2m[gfn]);
  if (samePte(was, next)) return;
  if (after.iommu?.sharePt === true) {
    // ept_set_entry: the IOMMU walks the EPT; flush unless deferred.
    if (defer) iommuMarkPending(work.xen, domid, gfn);
    else flushDfn(work, domid, gfn);
    return;
  }
  if (!config.iommuSync.propagates(was, next)) return;
  if (next === null) iommuUnmapPage(work.xen, domid, gfn);
  else iommuMapPage(work.xen, domid, gfn, next.mfn, { read: next.read, write: next.write });
  if (!defer) flushDfn(work, domid, gfn);
}

/**
 * A PV domain's table is changed by the Xen model itself (page types, `cleanup_page_mappings` of a
 * freed page, grant counts: models/xenpt/pv-memory.ts); the IOTLB entries of the dfns it changed
 * are flushed here (left pending under `iommu_dont_flush_iotlb`).
 */
function syncPv(work: Work, before: XenState, domid: number, defer: boolean): void {
  for (const dfn of pvIommuChangedDfns(before, work.xen, domid)) {
    if (defer) iommuMarkPending(work.xen, domid, dfn);
    else flushDfn(work, domid, dfn);
  }
}

// ---------------------------------------------------------------------------------------------
// The world

/** An IOMMU context for domain `domid` as it is built: PV tables map its pages, a sync'd HVM table its p2m. */
function buildContext(xen: XenState, config: XenPtConfig, domid: number): void {
  const world = config.world;
  const spec = world.domains[domid];
  const domain = xen.domains[domid];
  if (spec === undefined || domain === undefined) return;
  const sharePt = domain.translated && spec.sharePt;
  const iommu = resetIommu(xen, domid, sharePt);
  if (sharePt) return;
  if (domain.translated) {
    for (const [gfn, entry] of Object.entries(domain.p2m)) {
      const pte = p2mIommuFlags(entry);
      if (pte !== null) iommu.table[gfn] = pte;
    }
    return;
  }
  // A PV domain's pages typed writable as it is built (the hardware domain: arch_iommu_hwdom_init
  // in strict mode maps its own RAM): each mapped at dfn = mfn.
  pvIommuSetup(xen, config.xen, domid);
}

export function initXenPt(config: XenPtConfig): XenPtState {
  const world = config.world;
  const xen = createXenState({
    memory: { frameCount: world.frames, policy: 'lifo', randomSeed: 'dmaprop' },
    domains: world.domains,
    grantEntries: world.grantEntries,
    maptrackHandles: world.maptrackHandles,
  });
  world.domains.forEach((_, domid) => buildContext(xen, config, domid));
  world.domains.forEach((_, domid) => setUpWorldGrantFrames(xen, world, domid));
  const pci = pciConfigOf(config);
  const devices: PciDev[] = world.devices.map((owner, sbdf) => {
    const pseudo = config.scratch.pseudoDomid?.(sbdf);
    const device: PciDev = {
      sbdf,
      owner: HARDWARE_DOMID,
      quarantine: false,
      scratch: null,
      ...(pseudo === undefined ? {} : { pseudoDomid: pseudo }),
    };
    // Assigned from the hardware domain when the guest was built (assign_device).
    if (owner !== HARDWARE_DOMID) {
      quarantineDevInit(pci, device);
      device.owner = owner;
    }
    return device;
  });
  return { xen, devices, iotlb: {}, inflight: [] };
}

// ---------------------------------------------------------------------------------------------
// The step

function begin(state: XenPtState): Work {
  return {
    xen: shareXenState(state.xen),
    devices: state.devices,
    iotlb: state.iotlb,
    inflight: state.inflight,
    accesses: [],
    copied: [],
  };
}

/** The step's state: Xen's as it was when the step left it alone (`settleXenState`). */
function finish(state: XenPtState, work: Work, result: OpResult): XenPtStep {
  return {
    state: {
      xen: settleXenState(state.xen, work.xen),
      devices: work.devices,
      iotlb: work.iotlb,
      inflight: work.inflight,
    },
    result: { ...result, accesses: work.accesses },
  };
}

function refuse(state: XenPtState, result: OpResult): XenPtStep {
  return { state, result: { ...result, accesses: [] } };
}

/** Runs a Xen operation on `work.xen` and then its IOMMU sync; a refusal leaves the state as it was. */
function xenOp(state: XenPtState, config: XenPtConfig, run: (xen: XenState) => OpResult): XenPtStep {
  const work = begin(state);
  const result = run(work.xen);
  if (!result.ok) return refuse(state, result);
  syncIommu(work, state.xen, config, false);
  return finish(state, work, result);
}

export function stepXenPt(state: XenPtState, config: XenPtConfig, command: XenPtCommand): XenPtStep {
  switch (command.kind) {
    case 'assignDevice':
      return assign(state, config, command.domid, command.device);
    case 'deassignDevice':
      return deassign(state, config, command.domid, command.device);
    case 'dma':
      return dma(state, command);
    case 'moveGfn':
      return moveGfn(state, config, command);
    case 'destroyDomain':
      return destroy(state, config, command.domid, command.phased === true);
    case 'createDomain':
      return create(state, config, command.domid);
    case 'advance':
      return advance(state, config, command.op);
    case 'decreaseReservation':
    case 'populatePhysmap':
    case 'grantAccess':
    case 'mapGrantRef':
    case 'unmapGrantRef':
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      // Other Xen commands (the PV memory operations, grant v2 and copy) join here.
      return stepXenOp(state, config, command);
    case 'setGrantVersion':
    case 'getStatusFrames':
    case 'mapGrantFrame':
    case 'endAccess':
    case 'grantCopy':
      return stepXenPtGrantV2(state, config, command, {
        xenOp: (run) => xenOp(state, config, run),
        xenOpInFlight: (run) => xenOpInFlight(state, config, run),
      });
  }
}

/** `xenOp` for an operation that may stay in flight (`op`, appended to `inflight`). */
function xenOpInFlight(
  state: XenPtState,
  config: XenPtConfig,
  run: (xen: XenState) => { result: OpResult; op?: XenPtOp },
): XenPtStep {
  const work = begin(state);
  const { result, op } = run(work.xen);
  if (!result.ok) return refuse(state, result);
  if (op !== undefined) writableInflight(work).push(op);
  syncIommu(work, state.xen, config, false);
  return finish(state, work, result);
}

/** The Xen operations whose only IOMMU effect is the sync of the p2m changes they make. */
export type XenOpCommand =
  | Extract<
      XenPtCommand,
      { kind: 'decreaseReservation' | 'populatePhysmap' | 'grantAccess' | 'mapGrantRef' | 'unmapGrantRef' }
    >
  | PvMmuCommand;

/**
 * A Xen operation on the stack's Xen state, then the IOMMU sync of what it changed (`syncIommu`):
 * where further XenState-level operations are wired in.
 */
export function stepXenOp(state: XenPtState, config: XenPtConfig, command: XenOpCommand): XenPtStep {
  const xenConfig = config.xen;
  switch (command.kind) {
    case 'decreaseReservation':
      return xenOp(state, config, (xen) => decreaseReservation(xen, xenConfig, command));
    case 'populatePhysmap':
      return xenOp(state, config, (xen) => populatePhysmap(xen, command));
    case 'grantAccess':
      return xenOp(state, config, (xen) => grantAccess(xen, command));
    case 'mapGrantRef':
      return xenOp(state, config, (xen) => mapGrantRef(xen, xenConfig, mapGrantArgs(command)));
    case 'unmapGrantRef':
      return xenOp(state, config, (xen) => unmapGrantRef(xen, xenConfig, unmapGrantArgs(state.xen, command)));
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      return xenOp(state, config, (xen) => pvMmuStep(xen, xenConfig, command));
  }
}

function assign(state: XenPtState, config: XenPtConfig, domid: number, sbdf: number): XenPtStep {
  const pci = pciConfigOf(config);
  const refused = assignDeviceCheck(state.xen, state.devices, pci, { caller: HARDWARE_DOMID, domid, device: sbdf });
  if (refused !== null) return refuse(state, refused);
  const work = begin(state);
  const device = writableDevice(work, sbdf);
  if (device === undefined) return refuse(state, fail('ENODEV'));
  // The toolstack resets the function before assigning it (libxl `libxl__device_pci_reset`): the
  // requests it still had outstanding are aborted.
  abortDeviceDma(work, sbdf);
  return finish(state, work, assignDevice(pci, device, domid));
}

function deassign(state: XenPtState, config: XenPtConfig, domid: number, sbdf: number): XenPtStep {
  const refused = deassignDeviceCheck(state.xen, state.devices, { caller: HARDWARE_DOMID, domid, device: sbdf });
  if (refused !== null) return refuse(state, refused);
  const work = begin(state);
  const device = writableDevice(work, sbdf);
  if (device === undefined) return refuse(state, fail('ENODEV'));
  // xl pci-assignable-remove: the device leaves the pool reset (pciback resets a function it
  // releases), so what it had outstanding is aborted. A guest's device is deassigned as it is:
  // its outstanding DMA lands wherever deassign_device sent it (XSA-302's window).
  if (domid === DOMID_IO) abortDeviceDma(work, sbdf);
  return finish(state, work, deassignDevice(pciConfigOf(config), device));
}

// ---------------------------------------------------------------------------------------------
// DMA

function dma(state: XenPtState, command: Extract<XenPtCommand, { kind: 'dma' }>): XenPtStep {
  const device = state.devices[command.device];
  if (device === undefined) return refuse(state, fail('ENODEV'));
  const work = begin(state);
  if (command.phased === true) {
    writableInflight(work).push({
      kind: 'dma',
      device: device.sbdf,
      dfn: command.dfn,
      write: command.write,
      issuer: device.owner,
    });
    return finish(state, work, succeed({ issued: true }));
  }
  return finish(state, work, performDma(work, device.sbdf, command.dfn, command.write, device.owner));
}

/** The device's request translated (IOTLB, else a walk whose hit is cached) and performed. */
function performDma(work: Work, sbdf: number, dfn: number, write: boolean, issuer: number): OpResult {
  const device = work.devices[sbdf];
  if (device === undefined) return fail('ENODEV');
  const context = deviceContext(device);
  const base = { device: sbdf, dfn, write, issuer, owner: device.owner };
  if (context === null) {
    work.accesses.push({ ...base, via: 'walk', target: null });
    return succeed({ fault: 'blocked' });
  }
  const key = iotlbKey(context, dfn);
  const cached = work.iotlb[key];
  const entry = cached ?? walkContext(work.xen, work.devices, context, dfn);
  const via = cached === undefined ? 'walk' : 'iotlb';
  if (entry === null || !(write ? entry.write : entry.read)) {
    work.accesses.push({ ...base, via, target: null });
    return succeed({ fault: entry === null ? 'not-present' : 'permission' });
  }
  if (cached === undefined) writableIotlb(work)[key] = entry;
  const target: DmaTarget = entry.target;
  const frameOwner = target.kind === 'frame' ? (work.xen.memory.frames[target.mfn]?.owner ?? null) : undefined;
  work.accesses.push({ ...base, via, target, ...(frameOwner === undefined ? {} : { frameOwner }) });
  return succeed(target.kind === 'frame' ? { mfn: target.mfn, via } : { scratch: target.id, via });
}

// ---------------------------------------------------------------------------------------------
// XENMEM_add_to_physmap, XENMAPSPACE_gmfn_range

function moveGfn(
  state: XenPtState,
  config: XenPtConfig,
  command: Extract<XenPtCommand, { kind: 'moveGfn' }>,
): XenPtStep {
  const domain = state.xen.domains[command.domid];
  if (domain === undefined || domain.life !== 'running') return refuse(state, fail('ESRCH'));
  if (!domain.translated) return refuse(state, fail('EACCES'));
  const busy = state.inflight.some((op) => op.kind === 'moveGfn' && op.domid === command.domid);
  if (busy) return refuse(state, fail('EBUSY'));
  const source = domain.p2m[command.idx];
  // get_gfn_unshare: only p2m_ram_rw moves.
  if (source?.type !== 'ram_rw') return refuse(state, fail('EACCES'));
  const mfn = source.mfn;
  const prev = domain.p2m[command.gpfn];
  const work = begin(state);
  const flush = config.deferredFlush;
  // get_page_from_mfn(mfn, d): the reference handed to the caller for after the flush.
  getRef(writableMemory(work.xen), mfn);
  if (prev !== undefined && prev.mfn !== mfn) {
    // guest_remove_page at the destination: it may free the page, so it flushes now (XSA-346).
    const before = snapshotXen(work);
    const removed = decreaseReservation(work.xen, config.xen, { domid: command.domid, gfn: command.gpfn });
    // put_both: the page reference taken above is put again (unless the design forgets it).
    if (!removed.ok && flush.putsPageOnError) return refuse(state, fail(removed.error ?? 'ENXIO'));
    if (!removed.ok) return finish(state, work, fail(removed.error ?? 'ENXIO'));
    syncIommu(work, before, config, !flush.removeFlushesNow);
  }
  if (command.idx !== command.gpfn) {
    const before = snapshotXen(work);
    const p2m = writableP2m(work.xen, command.domid);
    delete p2m[command.idx];
    p2m[command.gpfn] = { type: 'ram_rw', mfn };
    syncIommu(work, before, config, true);
  }
  let heldMfn: number | null = mfn;
  if (flush.putsPage !== 'after-flush') {
    dropFrameRef(work.xen, config.xen, mfn);
    if (flush.putsPage === 'before-flush') heldMfn = null;
  }
  const op: MoveGfnInFlight = { kind: 'moveGfn', domid: command.domid, idx: command.idx, gpfn: command.gpfn, heldMfn };
  if (command.phased === true) {
    writableInflight(work).push(op);
    return finish(state, work, succeed({ mfn, deferred: true }));
  }
  finishMove(work, config, op);
  return finish(state, work, succeed({ mfn }));
}

/** After the loop: flush the old dfn, put the page, flush the new dfn. */
function finishMove(work: Work, config: XenPtConfig, op: MoveGfnInFlight): void {
  const flush = (dfn: number): void => {
    // Without its flags iommu_iotlb_flush returns at once: the caller counts the dfn flushed.
    if (config.deferredFlush.passesFlushFlags) flushDfn(work, op.domid, dfn);
    else iommuFlushPendingDfn(work.xen, op.domid, dfn);
  };
  flush(op.idx);
  if (op.heldMfn !== null) dropFrameRef(work.xen, config.xen, op.heldMfn);
  flush(op.gpfn);
}

// ---------------------------------------------------------------------------------------------
// Domain destruction and creation

function teardownSteps(config: XenPtConfig): readonly TeardownStep[] {
  return config.teardown.devicesBeforeMemory
    ? ['release-devices', 'relinquish-memory']
    : ['relinquish-memory', 'release-devices'];
}

function destroy(state: XenPtState, config: XenPtConfig, domid: number, phased: boolean): XenPtStep {
  const waits = destroyWaitsForCopy(state, domid);
  if (waits !== null) return refuse(state, waits);
  const work = begin(state);
  const started = startDestroyDomain(work.xen, config.xen, domid);
  if (started.pending === undefined) return refuse(state, started.result);
  syncIommu(work, state.xen, config, false, true);
  const steps = teardownSteps(config);
  if (phased) {
    writableInflight(work).push({
      kind: 'destroyDomain',
      domid,
      incarnation: state.xen.domains[domid]?.incarnation ?? 0,
      stages: steps,
    });
    return finish(state, work, started.result);
  }
  for (const step of steps) runTeardownStep(work, config, domid, step);
  return finish(state, work, succeed({ zombie: work.xen.domains[domid]?.life === 'dying' }));
}

function runTeardownStep(work: Work, config: XenPtConfig, domid: number, step: TeardownStep): void {
  if (step === 'release-devices') {
    // pci_release_devices, then iommu_free_pgtables: the root cleared, the DID flushed.
    if (work.devices.some((device) => device.owner === domid)) {
      for (const device of work.devices) if (device.owner === domid) writableDevice(work, device.sbdf);
      pciReleaseDevices(pciConfigOf(config), writableDevices(work), domid);
    }
    const iommu = work.xen.domains[domid]?.iommu;
    if (iommu !== undefined) {
      // An empty context stays as it is (the same table, nothing pending): nothing to copy.
      if (Object.keys(iommu.table).length > 0 || iommu.flushPending.length > 0)
        resetIommu(work.xen, domid, iommu.sharePt);
      flushDomain(work, domid);
    }
    const domain = work.xen.domains[domid];
    if (domain !== undefined && domain.teardownNext === undefined && domain.life === 'dying' && domain.totPages === 0) {
      const written = writableDomain(work.xen, domid);
      if (written !== undefined) written.life = 'dead';
    }
    return;
  }
  const before = snapshotXen(work);
  finishDestroyDomain(work.xen, config.xen, { domid });
  // Frames of a PV domain freed here leave its table (put_page); an HVM p2m is not synced.
  syncIommu(work, before, config, false);
}

function create(state: XenPtState, config: XenPtConfig, domid: number): XenPtStep {
  const work = begin(state);
  const world = config.world;
  const result = createDomain(
    work.xen,
    config.xen,
    { domains: world.domains, grantEntries: world.grantEntries, maptrackHandles: world.maptrackHandles },
    { domid },
  );
  if (!result.ok) return refuse(state, result);
  // The old incarnation's IOTLB entries went with its context (iommu_free_pgtables).
  buildContext(work.xen, config, domid);
  setUpWorldGrantFrames(work.xen, world, domid);
  return finish(state, work, result);
}

// ---------------------------------------------------------------------------------------------
// Operations in flight

function advance(state: XenPtState, config: XenPtConfig, index: number): XenPtStep {
  const op = state.inflight[index];
  if (op === undefined) return refuse(state, fail('ENOENT'));
  const work = begin(state);
  writableInflight(work).splice(index, 1);
  switch (op.kind) {
    case 'dma':
      return finish(state, work, performDma(work, op.device, op.dfn, op.write, op.issuer));
    case 'moveGfn':
      finishMove(work, config, op);
      return finish(state, work, succeed({ flushed: op.idx }));
    case 'destroyDomain': {
      const [step, ...rest] = op.stages;
      // A later incarnation at the domid is not this teardown's (Xen's continuation holds the domain itself).
      if (step !== undefined && work.xen.domains[op.domid]?.incarnation === op.incarnation)
        runTeardownStep(work, config, op.domid, step);
      if (rest.length > 0) writableInflight(work).splice(index, 0, { ...op, stages: rest });
      return finish(state, work, succeed({ stage: step ?? 'none' }));
    }
    case 'grantCopy': {
      const result = advanceGrantCopy(work.xen, config, state.inflight, op, index);
      if (!result.ok) return refuse(state, result);
      syncIommu(work, state.xen, config, false);
      return finish(state, work, result);
    }
  }
}

/** The phase an operation in flight runs next, in Xen's words. */
export function nextPhase(op: XenPtOp): string {
  switch (op.kind) {
    case 'dma':
      return 'access';
    case 'moveGfn':
      return 'flush';
    case 'destroyDomain':
      return op.stages[0] ?? 'done';
    case 'grantCopy':
      return grantCopyPhase;
  }
}

/** The references an operation in flight holds on `mfn` (on behalf of its domain). */
export function inflightRefs(op: XenPtOp, mfn: number): number {
  return op.kind === 'moveGfn' && op.heldMfn === mfn ? 1 : 0;
}
