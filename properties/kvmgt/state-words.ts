/**
 * The compact fingerprint of a KVMGT state (issue 23): the VFIO part's words
 * (`../vfio/state-words.ts`), the vGPU's and the stack's own records (`models/kvmgt/types.ts`,
 * `models/gvt/types.ts`), in the encoding of `../generic/state-words.ts`.
 *
 * It partitions states as the scope's earlier fingerprints did (`./explore-scope.ts`): with
 * `renameFrames`, `FrameSymmetry`'s over `kvmgtFrameSplit` (VFIO's frame fields and each frame the
 * host's DMA domain maps renamed in order of first appearance, the allocation counter and its
 * records left out but under the `random` policy, the memory's tail last); without (the `2m` part),
 * `stableFingerprint` of the whole state. Either way the vCPU running an operation in flight is
 * left out (the key wrote 0 for it), and so are the VFIO parts constant across the scope (its
 * writer's header). A renaming by first appearance gives two states equal words exactly when a
 * renaming of the frames met maps one onto the other, whatever order the walk meets them in (the
 * frames met are the same set), so this walk's order, not the generic walk's, partitions alike.
 * `test/explore/state-words.test.ts` holds it to the earlier fingerprint over every design's scope.
 */
import type {
  GgttWriteOp,
  GpuDmaOp,
  GvtOp,
  PendingShadow,
  PpgttCreateOp,
  StoreOp,
  SubmitOp,
} from '../../models/gvt/inflight.js';
import type { DmaCacheEntry, GuestQword, GvtVgpu, ShadowPte, Spt, Workload } from '../../models/gvt/types.js';
import type { KvmgtState } from '../../models/kvmgt/types.js';
import { finishWords, putWord, startWords } from '../../src/stable-fingerprint.js';
import type { Fingerprint } from '../../src/state-table.js';
import {
  NIL,
  putAny,
  putFlag,
  putFrame,
  putFrameTail,
  putInt,
  putInts,
  putIntRecord,
  putList,
  putOptionalFlag,
  putOptionalInt,
  putRecord,
  RecordKeys,
  putText,
  startFrames,
} from '../generic/state-words.js';
import type { FieldsOf } from '../generic/state-words.js';
import { putVfioState, vfioAnyFields } from '../vfio/state-words.js';

/** The fields of each record type and how the writers below treat them (a new field fails to compile). */
export const kvmgtFields = {
  state: {
    vfio: 'written',
    vgpu: 'written',
    guestPages: 'written',
    hostDma: 'written',
    writeProtected: 'written',
    vmDestroyed: 'written',
    inflight: 'written',
    fault: 'written',
    releasedGgtt: 'written',
  },
  vgpu: {
    ggttGuest: 'written',
    ggttHost: 'written',
    ggttPartial: 'written',
    mms: 'written',
    spts: 'written',
    tracked: 'written',
    cache: 'written',
    workloads: 'written',
    failsafe: 'written',
  },
  spt: {
    gfn: 'written',
    level: 'written',
    ips: 'written',
    refcount: 'written',
    entries: 'written',
    postShadow: 'written',
  },
  cache: { gfn: 'written', dmaAddr: 'written', pages: 'written', kref: 'written' },
  workload: { batchGfn: 'written', shadowCopy: 'written' },
  pending: { sptGfn: 'written', index: 'written', pte: 'written', gfn: 'written', cached: 'written' },
} as const satisfies {
  state: FieldsOf<KvmgtState>;
  vgpu: FieldsOf<GvtVgpu>;
  spt: FieldsOf<Spt>;
  cache: FieldsOf<DmaCacheEntry>;
  workload: FieldsOf<Workload>;
  pending: FieldsOf<PendingShadow>;
};

/** The keys of the records each site met last (`RecordKeys`). */
const sites = {
  ggttPartial: new RecordKeys(),
  spts: new RecordKeys(),
  cache: new RecordKeys(),
  guestPages: new RecordKeys(),
  hostDma: new RecordKeys(),
};

function putPte(pte: ShadowPte): void {
  switch (pte.kind) {
    case 'scratch':
      putWord(0);
      return;
    case 'dma':
      putWord(1);
      putInt(pte.dmaAddr);
      putOptionalInt(pte.pages);
      return;
    case 'split2m':
      putWord(2);
      putInt(pte.baseGfn);
      putList(pte.entries, putPte);
      return;
    case 'table':
      putWord(3);
      putInt(pte.gfn);
      return;
    default:
      putWord(4);
      putAny(pte, null);
  }
}

function putQword(qword: GuestQword): void {
  if (qword.kind === 'pte') {
    putWord(0);
    putFlag(qword.present);
    putInt(qword.gfn);
    putOptionalFlag(qword.ips);
    putOptionalFlag(qword.pse);
    return;
  }
  if (qword.kind === 'cmd') {
    putWord(1);
    putText(qword.op);
    putInt(qword.ggttIndex);
    return;
  }
  putWord(2);
  putAny(qword, null);
}

function putQwords(qwords: readonly GuestQword[]): void {
  putList(qwords, putQword);
}

function putGuestPte(pte: { readonly present: boolean; readonly gfn: number }): void {
  putFlag(pte.present);
  putInt(pte.gfn);
}

function putSpt(spt: Spt): void {
  putInt(spt.gfn);
  putText(spt.level);
  putOptionalFlag(spt.ips);
  putInt(spt.refcount);
  putList(spt.entries, putPte);
  putInts(spt.postShadow);
}

function putCacheEntry(entry: DmaCacheEntry): void {
  putInt(entry.gfn);
  putInt(entry.dmaAddr);
  putOptionalInt(entry.pages);
  putInt(entry.kref);
}

function putWorkload(workload: Workload): void {
  putInt(workload.batchGfn);
  if (workload.shadowCopy === null) putWord(NIL);
  else putQwords(workload.shadowCopy);
}

function putVgpu(vgpu: GvtVgpu): void {
  putList(vgpu.ggttGuest, putGuestPte);
  putList(vgpu.ggttHost, putPte);
  putIntRecord(vgpu.ggttPartial, sites.ggttPartial);
  putList(vgpu.mms, (mm) => {
    putInt(mm.rootGfn);
    putInt(mm.refcount);
  });
  putRecord(vgpu.spts, putSpt, sites.spts);
  putInts(vgpu.tracked);
  putRecord(vgpu.cache, putCacheEntry, sites.cache);
  putList(vgpu.workloads, putWorkload);
  putFlag(vgpu.failsafe);
}

function putPending(pending: PendingShadow): void {
  putInt(pending.sptGfn);
  putInt(pending.index);
  putPte(pending.pte);
  putInt(pending.gfn);
  putFlag(pending.cached);
}

/** An operation in flight without its vCPU (see the header): its kind's code, then its fields. */
function putOp(op: GvtOp): void {
  switch (op.kind) {
    case 'guestWritePte':
    case 'guestWriteCmd':
      putWord(op.kind === 'guestWritePte' ? 1 : 2);
      putInt(op.gfn);
      putInt(op.index);
      putInt(op.sizeBytes);
      putQword(op.qword);
      putText(op.phase);
      if (op.old === null) putWord(NIL);
      else putPte(op.old);
      putList(op.pending, putPending);
      return;
    case 'ppgttCreate':
      putWord(3);
      putInt(op.rootGfn);
      putText(op.phase);
      putList(op.pending, putPending);
      return;
    case 'ggttWrite':
      putWord(4);
      putInt(op.index);
      putGuestPte(op.written);
      putFlag(op.partialUpdate);
      putText(op.phase);
      if (op.mapError === null) putWord(NIL);
      else putText(op.mapError);
      putList(op.pending, putPending);
      return;
    case 'submitBatch':
      putWord(5);
      putInt(op.ggttIndex);
      putInt(op.batchGfn);
      putText(op.phase);
      putInt(op.lengthQwords);
      putFlag(op.ended);
      putFlag(op.scanned);
      return;
    case 'gpuDmaPpgtt':
      putWord(6);
      putText(op.via);
      putInt(op.dmaAddr);
      putFlag(op.write);
      putText(op.phase);
      return;
    default:
      putWord(0);
      putAny('vcpu' in (op as object) ? { ...(op as object), vcpu: 0 } : op, vfioAnyFields);
  }
}

/** The fields of each operation's kind the writer above spells out (a new field fails to compile). */
export const gvtOpFields = {
  store: {
    kind: 'written',
    vcpu: 'constant',
    gfn: 'written',
    index: 'written',
    sizeBytes: 'written',
    qword: 'written',
    phase: 'written',
    old: 'written',
    pending: 'written',
  },
  ppgttCreate: { kind: 'written', vcpu: 'constant', rootGfn: 'written', phase: 'written', pending: 'written' },
  ggttWrite: {
    kind: 'written',
    vcpu: 'constant',
    index: 'written',
    written: 'written',
    partialUpdate: 'written',
    phase: 'written',
    mapError: 'written',
    pending: 'written',
  },
  submit: {
    kind: 'written',
    vcpu: 'constant',
    ggttIndex: 'written',
    batchGfn: 'written',
    phase: 'written',
    lengthQwords: 'written',
    ended: 'written',
    scanned: 'written',
  },
  gpuDma: { kind: 'written', via: 'written', dmaAddr: 'written', write: 'written', phase: 'written' },
} as const satisfies {
  store: FieldsOf<StoreOp>;
  ppgttCreate: FieldsOf<PpgttCreateOp>;
  ggttWrite: FieldsOf<GgttWriteOp>;
  submit: FieldsOf<SubmitOp>;
  gpuDma: FieldsOf<GpuDmaOp>;
};

/** The words of a KVMGT state (see the header). */
export function putKvmgtState(state: KvmgtState, renameFrames: boolean): void {
  startFrames(state.vfio.memory, renameFrames);
  putVfioState(state.vfio);
  if (state.vgpu === null) putWord(NIL);
  else putVgpu(state.vgpu);
  putRecord(state.guestPages, putQwords, sites.guestPages);
  // The host DMA domain's map: DMA address (kept) → frame (renamed with the others).
  putRecord(state.hostDma.map, putFrame, sites.hostDma);
  putInts(state.hostDma.free);
  putInts(state.writeProtected);
  putFlag(state.vmDestroyed);
  putList(state.inflight, putOp);
  const fault = state.fault;
  if (fault === null) putWord(NIL);
  else {
    putText(fault.point);
    putInt(fault.nth);
  }
  if (state.releasedGgtt === null) putWord(NIL);
  else putList(state.releasedGgtt, putPte);
  putFrameTail(state.vfio.memory);
}

/** The fingerprint of the KVMGT scope's partition (see the header). */
export function kvmgtStateFingerprint(state: KvmgtState, renameFrames: boolean): Fingerprint {
  startWords();
  putKvmgtState(state, renameFrames);
  return finishWords();
}
