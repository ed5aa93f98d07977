/**
 * The words of a VFIO state (`models/vfio/types.ts`) for the compact fingerprints of the stacks
 * that embed it: VFIO over VT-d (`../passthrough/state-words.ts`, frames kept) and KVMGT
 * (`../kvmgt/state-words.ts`, frames renamed in order of first appearance). The encoding and the
 * frame names are `../generic/state-words.ts`'s; the frame fields named here are those of
 * `vfioFrameFields` (`mfn`, `mfns`, `firstMfn`, `zeroMfn`, `freeListBefore`), which the generic
 * walk renames wherever they sit, and `allocCountBefore` is written only where `countersKept`.
 *
 * Left out, constant across every scope (no step writes them, `models/vfio/state.ts` builds them
 * from the world's spec and the clones copy them; `test/explore/state-words.test.ts` holds every
 * reachable state of the scopes to the initial state's): the parameters (`params`), each group's id
 * and spec, each device's id, group and kind. The memory is written last, by the caller
 * (`putFrameTail`), once every other frame of the state is named. A value no writer spells out (a
 * crash record, an operation of a kind added later) is written in `putAny`'s self-describing form.
 */
import type {
  CcwTransfer,
  DeviceDmaOp,
  MapDmaOp,
  OtherAllocation,
  PageFaultRecord,
  ProcessPage,
  Type1Backend,
  UnmapDmaOp,
  VfioDevice,
  VfioDma,
  VfioDomain,
  VfioGroup,
  VfioOp,
  VfioPfn,
  VfioState,
  VmmProcess,
  Translation,
  DriverPinOp,
  GroupUnsetOp,
  FaultInjection,
  VfioContainer,
} from '../../models/vfio/types.js';
import { putWord } from '../../src/stable-fingerprint.js';
import {
  countersKept,
  NIL,
  putAny,
  putFlag,
  putFrame,
  putFrames,
  putInt,
  putInts,
  putIntRecord,
  putList,
  putNullable,
  putNullableFrame,
  putOptionalFlag,
  putOptionalInt,
  putRecord,
  RecordKeys,
  putText,
} from '../generic/state-words.js';
import type { AnyFields, FieldsOf } from '../generic/state-words.js';
import { vfioFrameFields } from './explore-scope.js';

/** The keys of the records each site met last (`RecordKeys`). */
const sites = {
  pages: new RecordKeys(),
  pins: new RecordKeys(),
  translations: new RecordKeys(),
  externalPins: new RecordKeys(),
};

/** The fields `putAny` renames and leaves out in a renaming walk (`FrameSymmetry`'s for VFIO). */
export const vfioAnyFields: AnyFields = { renamed: new Set(vfioFrameFields), counters: new Set(['allocCountBefore']) };

// The fields of each record type and how the writers below treat them (a new field fails to compile).
export const vfioStateFields: FieldsOf<VfioState> = {
  memory: 'written',
  process: 'written',
  otherAllocations: 'written',
  groups: 'written',
  devices: 'written',
  container: 'written',
  params: 'constant',
  faultInjection: 'written',
  crash: 'written',
  inflight: 'written',
};
export const vfioGroupFields: FieldsOf<VfioGroup> = {
  id: 'constant',
  spec: 'constant',
  inContainer: 'written',
  attachedDomain: 'written',
};
export const vfioDeviceFields: FieldsOf<VfioDevice> = {
  id: 'constant',
  groupId: 'constant',
  kind: 'constant',
  open: 'written',
  pins: 'written',
  io: 'written',
};
const written = {
  processPage: { writable: 'written', mfn: 'written', pfnmap: 'written' },
  process: {
    owner: 'written',
    pages: 'written',
    lockedVmPages: 'written',
    memlockLimitPages: 'written',
    capIpcLock: 'written',
    addressSpaceLimitPages: 'written',
    zeroMfn: 'written',
    mm: 'written',
    lastExecShiftPages: 'written',
  },
  otherAllocation: { owner: 'written', mfn: 'written' },
  ccw: { iovaPage: 'written', mfn: 'written', write: 'written' },
  translation: { mfn: 'written', read: 'written', write: 'written' },
  domain: { id: 'written', groupIds: 'written', translations: 'written' },
  pfn: { mfn: 'written', refCount: 'written' },
  dma: {
    iovaPage: 'written',
    vaddrPage: 'written',
    npages: 'written',
    read: 'written',
    write: 'written',
    iommuMapped: 'written',
    lockCap: 'written',
    vaddrInvalid: 'written',
    lockedVmPages: 'written',
    mm: 'written',
    vaddrMm: 'written',
    externalPins: 'written',
  },
  type1: {
    kind: 'written',
    v2: 'written',
    nesting: 'written',
    domains: 'written',
    emulatedGroupIds: 'written',
    deviceIds: 'written',
    dmas: 'written',
    dmaAvail: 'written',
    dmaEntryLimit: 'written',
    vaddrInvalidCount: 'written',
    iovaListEmpty: 'written',
  },
  container: { groupIds: 'written', noiommu: 'written', backend: 'written' },
  fault: { point: 'written', nth: 'written' },
  deviceDma: {
    kind: 'written',
    deviceId: 'written',
    addressPage: 'written',
    write: 'written',
    outcome: 'written',
    mfn: 'written',
    domainId: 'written',
    requestId: 'written',
    via: 'written',
  },
  pageFault: {
    vaddrPage: 'written',
    mfn: 'written',
    freeListBefore: 'written',
    allocCountBefore: 'written',
    zeroBefore: 'written',
    zeroMapped: 'written',
  },
  mapDma: {
    kind: 'written',
    next: 'written',
    iovaPage: 'written',
    npages: 'written',
    mfns: 'written',
    faults: 'written',
  },
  unmapDma: {
    kind: 'written',
    next: 'written',
    iova: 'written',
    end: 'written',
    unmappedBytes: 'written',
    removed: 'written',
    callbacks: 'written',
    lastNotifiedPage: 'written',
    retries: 'written',
    dmaIovaPage: 'written',
    toUnpin: 'written',
  },
  driverPin: { kind: 'written', deviceId: 'written', iovaPage: 'written', npage: 'written', firstMfn: 'written' },
  groupUnset: { kind: 'written', groupId: 'written', domainId: 'written' },
} as const satisfies {
  processPage: FieldsOf<ProcessPage>;
  process: FieldsOf<VmmProcess>;
  otherAllocation: FieldsOf<OtherAllocation>;
  ccw: FieldsOf<CcwTransfer>;
  translation: FieldsOf<Translation>;
  domain: FieldsOf<VfioDomain>;
  pfn: FieldsOf<VfioPfn>;
  dma: FieldsOf<VfioDma>;
  type1: FieldsOf<Type1Backend>;
  container: FieldsOf<VfioContainer>;
  fault: FieldsOf<FaultInjection>;
  deviceDma: FieldsOf<DeviceDmaOp>;
  pageFault: FieldsOf<PageFaultRecord>;
  mapDma: FieldsOf<MapDmaOp>;
  unmapDma: FieldsOf<UnmapDmaOp>;
  driverPin: FieldsOf<DriverPinOp>;
  groupUnset: FieldsOf<GroupUnsetOp>;
};
/** Every record type the writers below spell out, each field marked `written`. */
export const vfioWrittenFields = written;

function putProcessPage(page: ProcessPage): void {
  putFlag(page.writable);
  putNullableFrame(page.mfn);
  putOptionalFlag(page.pfnmap);
}

function putProcess(process: VmmProcess): void {
  putInt(process.owner);
  putRecord(process.pages, putProcessPage, sites.pages);
  putInt(process.lockedVmPages);
  putInt(process.memlockLimitPages);
  putFlag(process.capIpcLock);
  putInt(process.addressSpaceLimitPages);
  if (process.zeroMfn === undefined) putWord(NIL);
  else putFrame(process.zeroMfn);
  putOptionalInt(process.mm);
  putOptionalInt(process.lastExecShiftPages);
}

function putOtherAllocation(other: OtherAllocation): void {
  putInt(other.owner);
  putFrame(other.mfn);
}

function putGroup(group: VfioGroup): void {
  putFlag(group.inContainer);
  putNullable(group.attachedDomain);
}

function putCcw(transfer: CcwTransfer): void {
  putInt(transfer.iovaPage);
  putFrame(transfer.mfn);
  putFlag(transfer.write);
}

function putDevice(device: VfioDevice): void {
  putFlag(device.open);
  putIntRecord(device.pins, sites.pins);
  if (device.io === null) putWord(NIL);
  else putList(device.io, putCcw);
}

function putTranslation(translation: Translation): void {
  putFrame(translation.mfn);
  putFlag(translation.read);
  putFlag(translation.write);
}

function putDomain(domain: VfioDomain): void {
  putInt(domain.id);
  putInts(domain.groupIds);
  putRecord(domain.translations, putTranslation, sites.translations);
}

function putPfn(pfn: VfioPfn): void {
  putFrame(pfn.mfn);
  putInt(pfn.refCount);
}

function putDma(dma: VfioDma): void {
  putInt(dma.iovaPage);
  putInt(dma.vaddrPage);
  putInt(dma.npages);
  putFlag(dma.read);
  putFlag(dma.write);
  putFlag(dma.iommuMapped);
  putFlag(dma.lockCap);
  putFlag(dma.vaddrInvalid);
  putInt(dma.lockedVmPages);
  putOptionalInt(dma.mm);
  putOptionalInt(dma.vaddrMm);
  putRecord(dma.externalPins, putPfn, sites.externalPins);
}

function putContainer(container: VfioContainer): void {
  putInts(container.groupIds);
  putFlag(container.noiommu);
  const backend = container.backend;
  if (backend === null) {
    putWord(NIL);
    return;
  }
  if (backend.kind !== 'type1') {
    putWord(1);
    return;
  }
  putWord(2);
  putFlag(backend.v2);
  putFlag(backend.nesting);
  putList(backend.domains, putDomain);
  putInts(backend.emulatedGroupIds);
  putInts(backend.deviceIds);
  putList(backend.dmas, putDma);
  putInt(backend.dmaAvail);
  putInt(backend.dmaEntryLimit);
  putInt(backend.vaddrInvalidCount);
  putFlag(backend.iovaListEmpty);
}

function putPageFault(fault: PageFaultRecord): void {
  putInt(fault.vaddrPage);
  putFrame(fault.mfn);
  putFrames(fault.freeListBefore);
  if (countersKept()) putInt(fault.allocCountBefore);
  putOptionalFlag(fault.zeroBefore);
  putOptionalFlag(fault.zeroMapped);
}

function putUnpin(pending: { readonly iovaPage: number; readonly mfn: number }): void {
  putInt(pending.iovaPage);
  putFrame(pending.mfn);
}

/** An operation in flight: its kind's code, then its fields (an unknown kind: `putAny`'s form). */
function putOp(op: VfioOp): void {
  switch (op.kind) {
    case 'deviceDma':
      putWord(1);
      putInt(op.deviceId);
      putInt(op.addressPage);
      putFlag(op.write);
      putText(op.outcome);
      putNullableFrame(op.mfn);
      putNullable(op.domainId);
      putNullable(op.requestId);
      putText(op.via);
      return;
    case 'mapDma':
      putWord(2);
      putText(op.next);
      putInt(op.iovaPage);
      putInt(op.npages);
      putFrames(op.mfns);
      if (op.faults === undefined) putWord(NIL);
      else putList(op.faults, putPageFault);
      return;
    case 'unmapDma':
      putWord(3);
      putText(op.next);
      putText(op.iova);
      putText(op.end);
      putText(op.unmappedBytes);
      putInt(op.removed);
      putInt(op.callbacks);
      putNullable(op.lastNotifiedPage);
      putInt(op.retries);
      putNullable(op.dmaIovaPage);
      putList(op.toUnpin, putUnpin);
      return;
    case 'mdevPinPages':
      putWord(4);
      putInt(op.deviceId);
      putInt(op.iovaPage);
      putInt(op.npage);
      putNullableFrame(op.firstMfn);
      return;
    case 'groupUnsetContainer':
      putWord(5);
      putInt(op.groupId);
      putInt(op.domainId);
      return;
    default:
      putWord(0);
      putAny(op, vfioAnyFields);
  }
}

/**
 * A VFIO state's words but its memory's (the caller ends with `putFrameTail`), after
 * `startFrames(state.memory, …)` and `startWords()`.
 */
export function putVfioState(state: VfioState): void {
  putProcess(state.process);
  putList(state.otherAllocations, putOtherAllocation);
  putList(state.groups, putGroup);
  putList(state.devices, putDevice);
  putContainer(state.container);
  const fault = state.faultInjection;
  if (fault === null) putWord(NIL);
  else {
    putText(fault.point);
    putInt(fault.nth);
  }
  putAny(state.crash, vfioAnyFields);
  putList(state.inflight, putOp);
}
