/**
 * Generators of the KVMGT stack. Guest gfns are drawn from the eight pages of RAM and now and
 * then one past it; GGTT indices from the whole table (the host's entries included) and one past
 * it; table indices from the model's four. The guest builds page tables and batch buffers in its
 * own pages, so page-table pages, batch buffers and data pages collide.
 */
import fc from 'fast-check';
import { ownGgttIndices } from '../../models/gvt/config.js';
import { OTHER_OWNER, RAM_PAGES, kvmgtLayout } from '../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import type { CommandSpace } from '../../src/design.js';
import { pickOr, resolvePick } from '../pick.js';
import type { Pickable } from '../pick.js';

type WithPick<C, K extends string, F extends string> = C extends { readonly kind: K }
  ? Omit<C, F> & { readonly [P in F]: Pickable<number> }
  : never;

/**
 * A command as generated. Some fields may name "the k-th live object" instead of a value: a guest
 * page-table page (a page the mediator shadows), a batch page (a page a present GGTT entry of the
 * vGPU names), a GGTT entry of the vGPU that is present, a PPGTT root, a frame of the other VM.
 */
export type KvmgtTemplate =
  | KvmgtCommand
  | WithPick<KvmgtCommand, 'guestWritePte' | 'guestWriteCmd', 'gfn'>
  | WithPick<KvmgtCommand, 'submitBatch', 'ggttIndex'>
  | WithPick<KvmgtCommand, 'gpuDma', 'entry'>
  | WithPick<KvmgtCommand, 'ppgttDestroy' | 'gpuDmaPpgtt', 'rootGfn'>
  | WithPick<KvmgtCommand, 'otherVmRelease', 'mfn'>;

const gfn = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: RAM_PAGES - 1 }) },
  { weight: 1, arbitrary: fc.constant(RAM_PAGES) },
);
/**
 * Page tables tend to live in the low half of RAM and GGTT-mapped pages (batch buffers, surfaces)
 * in the high half, so that a batch buffer is not usually a page table as well; any page can be
 * either.
 */
const tableGfn = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: RAM_PAGES / 2 - 1 }) }, { weight: 1, arbitrary: gfn });
const surfaceGfn = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: RAM_PAGES / 2, max: RAM_PAGES - 1 }) },
  { weight: 1, arbitrary: gfn },
);
const ggttIndex = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: kvmgtLayout.ggttEntries - 1 }) },
  { weight: 1, arbitrary: fc.constant(kvmgtLayout.ggttEntries) },
);
const tableIndex = fc.nat({ max: kvmgtLayout.entriesPerTable - 1 });
/** Mostly whole sections of RAM as the VMM mapped them (two pages), sometimes one page of one. */
const ramRange = fc.oneof(
  { weight: 3, arbitrary: fc.nat({ max: RAM_PAGES / 2 - 1 }).map((section) => ({ gfn: section * 2, npages: 2 })) },
  { weight: 1, arbitrary: fc.record({ gfn: fc.nat({ max: RAM_PAGES - 1 }), npages: fc.constant(1) }) },
);

const table: Readonly<Record<KvmgtTemplate['kind'], fc.Arbitrary<KvmgtTemplate>>> = {
  ggttWrite: fc
    .record({
      index: ggttIndex,
      gfn: surfaceGfn,
      present: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      access: fc.constantFrom(
        { sizeBytes: 8, offsetBytes: 0 },
        { sizeBytes: 8, offsetBytes: 0 },
        { sizeBytes: 8, offsetBytes: 0 },
        { sizeBytes: 8, offsetBytes: 0 },
        { sizeBytes: 4, offsetBytes: 0 },
        { sizeBytes: 4, offsetBytes: 4 },
        { sizeBytes: 2, offsetBytes: 0 },
      ),
    })
    .map(({ access, ...rest }) => ({ kind: 'ggttWrite', ...rest, ...access })),
  guestWritePte: fc
    .record({
      gfn: pickOr(tableGfn, 2),
      index: tableIndex,
      present: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      targetGfn: gfn,
      sizeBytes: fc.constantFrom(8, 8, 8, 4),
    })
    .map((fields) => ({ kind: 'guestWritePte', ...fields })),
  guestWriteCmd: fc
    .record({
      gfn: pickOr(gfn, 3),
      index: tableIndex,
      op: fc.oneof(
        { weight: 8, arbitrary: fc.constant('store' as const) },
        { weight: 1, arbitrary: fc.constant('end' as const) },
        { weight: 1, arbitrary: fc.constant('forbidden' as const) },
      ),
      // Mostly the vGPU's own graphics memory (a batch the scanner accepts), often the host's.
      ggttIndex: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: kvmgtLayout.aperture.start, max: kvmgtLayout.hidden.end - 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: kvmgtLayout.aperture.start - 1 }) },
        { weight: 1, arbitrary: ggttIndex },
      ),
    })
    .map((fields) => ({ kind: 'guestWriteCmd', ...fields })),
  ppgttCreate: tableGfn.map((rootGfn) => ({ kind: 'ppgttCreate', rootGfn })),
  ppgttDestroy: pickOr(gfn).map((rootGfn) => ({ kind: 'ppgttDestroy', rootGfn })),
  submitBatch: pickOr(ggttIndex).map((index) => ({ kind: 'submitBatch', ggttIndex: index })),
  vmmUnmapRam: ramRange.map((range) => ({ kind: 'vmmUnmapRam', ...range })),
  vmmMapRam: ramRange.map((range) => ({ kind: 'vmmMapRam', ...range })),
  vmmUnplugRam: ramRange.map((range) => ({ kind: 'vmmUnplugRam', ...range })),
  vmmPlugRam: ramRange.map((range) => ({ kind: 'vmmPlugRam', ...range })),
  otherVmAllocate: fc.constant({ kind: 'otherVmAllocate' }),
  otherVmRelease: pickOr(fc.nat({ max: 15 })).map((mfn) => ({ kind: 'otherVmRelease', mfn })),
  vgpuCreate: fc.constant({ kind: 'vgpuCreate' }),
  vgpuDestroy: fc.constant({ kind: 'vgpuDestroy' }),
  vmDestroy: fc.constant({ kind: 'vmDestroy' }),
  gpuExecute: fc.constant({ kind: 'gpuExecute' }),
  gpuDma: fc
    .record({ entry: pickOr(ggttIndex, 2), write: fc.boolean() })
    .map((fields) => ({ kind: 'gpuDma', ...fields })),
  gpuDmaPpgtt: fc
    .record({ rootGfn: pickOr(gfn), pdIndex: tableIndex, ptIndex: tableIndex, write: fc.boolean() })
    .map((fields) => ({ kind: 'gpuDmaPpgtt', ...fields })),
};

/**
 * Relative frequencies: the guest's page-table and GGTT traffic and the GPU's accesses dominate;
 * the VMM's memory changes and the vGPU's lifecycle are rarer.
 */
const weights: Readonly<Record<string, number>> = {
  ggttWrite: 12,
  guestWritePte: 20,
  guestWriteCmd: 12,
  ppgttCreate: 8,
  ppgttDestroy: 4,
  submitBatch: 8,
  gpuExecute: 10,
  gpuDma: 8,
  gpuDmaPpgtt: 10,
  vmmUnmapRam: 4,
  vmmMapRam: 4,
  vmmUnplugRam: 2,
  vmmPlugRam: 2,
  otherVmAllocate: 4,
  otherVmRelease: 2,
  vgpuCreate: 2,
  vgpuDestroy: 1,
  vmDestroy: 1,
};

export const kvmgtCommandSpace: CommandSpace<KvmgtTemplate> = {
  kinds: Object.keys(table),
  weight: (kind) => weights[kind] ?? 1,
  arbitrary(kind) {
    const arbitrary = table[kind as KvmgtTemplate['kind']];
    if (arbitrary === undefined) throw new Error(`kvmgt: no generator for command kind '${kind}'`);
    return arbitrary;
  },
};

/** Fixes the picks of a template against the state. */
export function resolveKvmgt(state: KvmgtState, template: KvmgtTemplate): KvmgtCommand {
  const vgpu = state.vgpu;
  const asIs = (pick: number): number => pick;
  switch (template.kind) {
    case 'guestWritePte':
      return { ...template, gfn: resolvePick(template.gfn, Object.keys(vgpu?.spts ?? {}).map(Number), asIs) };
    case 'guestWriteCmd':
      return { ...template, gfn: resolvePick(template.gfn, batchPages(state), asIs) };
    case 'submitBatch':
      return { ...template, ggttIndex: resolvePick(template.ggttIndex, presentEntries(state), asIs) };
    case 'gpuDma':
      return { ...template, entry: resolvePick(template.entry, presentEntries(state), asIs) };
    case 'ppgttDestroy':
    case 'gpuDmaPpgtt':
      return { ...template, rootGfn: resolvePick(template.rootGfn, vgpu?.mms.map((mm) => mm.rootGfn) ?? [], asIs) };
    case 'otherVmRelease': {
      const frames = state.vfio.otherAllocations
        .filter((allocation) => allocation.owner === OTHER_OWNER)
        .map((allocation) => allocation.mfn);
      return { ...template, mfn: resolvePick(template.mfn, frames, asIs) };
    }
    case 'ggttWrite':
    case 'ppgttCreate':
    case 'vmmUnmapRam':
    case 'vmmMapRam':
    case 'vmmUnplugRam':
    case 'vmmPlugRam':
    case 'otherVmAllocate':
    case 'vgpuCreate':
    case 'vgpuDestroy':
    case 'vmDestroy':
    case 'gpuExecute':
      return template;
  }
}

/** GGTT indices of the vGPU whose guest entry is present. */
function presentEntries(state: KvmgtState): number[] {
  return ownGgttIndices(kvmgtLayout).filter((index) => state.vgpu?.ggttGuest[index]?.present === true);
}

/**
 * Where batch buffers live: the pages of queued workloads (an adversarial guest rewrites a buffer
 * in flight), else the pages the vGPU's present GGTT entries name.
 */
function batchPages(state: KvmgtState): number[] {
  const queued = state.vgpu?.workloads.map((workload) => workload.batchGfn) ?? [];
  if (queued.length > 0) return queued;
  return presentEntries(state).map((index) => state.vgpu?.ggttGuest[index]?.gfn ?? 0);
}
