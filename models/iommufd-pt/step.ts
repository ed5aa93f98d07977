/**
 * The step of the passthrough stack over iommufd: iommufd runs the command (`iommufdStep`), its
 * translation effects are replayed into the VT-d model by the type1 stack's `forwardEffects` over a
 * view of this state (`host-view.ts`), a device's DMA goes through the VT-d model, and an access
 * driver's DMA lands in the frame its pin returned. Pure: the state passed in is never modified; a
 * refused command hands back that very state, except the refusals iommufd keeps partial effects of
 * (`detail.partial`: an unmap that removed some areas before ENOENT / EDEADLOCK), whose effects are
 * forwarded like a success's.
 *
 * `lazy-held`: as in models/passthrough/step.ts, the command is first run on the input (the model
 * is pure and deterministic) to learn which frames it unmaps; a reference is taken on each in a
 * copy, the command runs on that copy, and the forwarding keeps each reference until the flush that
 * covers its unmap completes.
 */
import { PAGE_SIZE_BYTES } from '../iommu/address.js';
import { dma } from '../iommu/dma.js';
import { createDomain } from '../iommu/domain.js';
import { drainFlushQueue } from '../iommu/flush-queue.js';
import { cloneIommuState } from '../iommu/state.js';
import { iommufdStep } from '../iommufd/step.js';
import type { IommufdCommand } from '../iommufd/commands.js';
import type { IommufdState } from '../iommufd/types.js';
import { allocFrame, cloneHostMemory, getRef, putRef } from '../memory/frames.js';
import { forwardEffects, releaseFlushedHolds, sourceIdOf } from '../passthrough/forward.js';
import type { PassthroughState } from '../passthrough/types.js';
import type { OpResult } from '../result.js';
import { isPageNumber } from '../vfio/u64.js';
import type { TranslationEffect } from '../vfio/types.js';
import { vfioShim } from './host-view.js';
import { OTHER_OWNER } from './types.js';
import type { IommufdPtCommand, IommufdPtConfig, IommufdPtState } from './types.js';

export interface IommufdPtStep {
  readonly state: IommufdPtState;
  readonly result: OpResult;
}

function refused(error: string): OpResult {
  return { ok: false, error };
}

/** The frame's owner as a DMA result reports it (`null`: free). */
function landing(memory: IommufdState['memory'], mfn: number): OpResult {
  const frame = memory.frames[mfn];
  if (frame === undefined) return { ok: true, detail: { outcome: 'master-abort', mfn: null, owner: null } };
  return { ok: true, detail: { outcome: 'landed', mfn, owner: frame.owner } };
}

/** A bound (or not: the hardware does not know) device's DMA through the VT-d model: IOTLB, then the walk. */
function deviceDma(
  state: IommufdPtState,
  config: IommufdPtConfig,
  command: Extract<IommufdPtCommand, { kind: 'deviceDma' }>,
): IommufdPtStep {
  const spec = config.iommufd.devices[command.deviceIndex];
  if (spec === undefined || !isPageNumber(command.iovaPage) || typeof command.write !== 'boolean')
    return { state, result: refused('EINVAL') };
  // A DMA changes only the IOTLB (a fill): the rest of the state is shared with the input.
  const iommu = { ...state.iommu, iotlb: [...state.iommu.iotlb] };
  const outcome = dma(iommu, {
    deviceId: sourceIdOf(command.deviceIndex),
    pasid: null,
    iova: command.iovaPage * PAGE_SIZE_BYTES,
    write: command.write,
  });
  const frame = outcome.detail?.['frame'];
  const via = String(outcome.detail?.['via'] ?? 'none');
  const result =
    outcome.detail?.['landed'] === 'frame' && typeof frame === 'number'
      ? landing(state.iommufd.memory, frame)
      : { ok: true, detail: { outcome: 'fault', mfn: null, owner: null } };
  return { state: { ...state, iommu }, result: { ...result, detail: { ...result.detail, via } } };
}

/**
 * The access driver's DMA into a page it pinned (the vGPU's engine writing a guest page it got from
 * `iommufd_access_pin_pages`): it lands in the frame the pin returned, whatever the IOAS holds now.
 * A page no pin of the driver covers (for a write: no write pin) is refused EFAULT: the driver has
 * no frame for it.
 */
function accessDma(state: IommufdPtState, command: Extract<IommufdPtCommand, { kind: 'accessDma' }>): IommufdPtStep {
  const access = state.iommufd.objects[command.accessId];
  if (access?.type !== 'access' || !isPageNumber(command.iovaPage) || typeof command.write !== 'boolean')
    return { state, result: refused('ENOENT') };
  const pin = access.pins.find(
    (held) =>
      held.iovaPage <= command.iovaPage &&
      command.iovaPage < held.iovaPage + held.npages &&
      (held.write || !command.write),
  );
  const mfn = pin?.mfns[command.iovaPage - (pin?.iovaPage ?? 0)];
  if (mfn === undefined) return { state, result: refused('EFAULT') };
  return { state, result: landing(state.iommufd.memory, mfn) };
}

function withMemory(state: IommufdPtState, change: (memory: IommufdState['memory']) => OpResult): IommufdPtStep {
  const memory = cloneHostMemory(state.iommufd.memory);
  const result = change(memory);
  if (!result.ok) return { state, result };
  return { state: { ...state, iommufd: { ...state.iommufd, memory } }, result };
}

/** Another owner takes a free frame (the frames iommufd lets go of are reused), or gives its oldest back. */
function otherOwner(state: IommufdPtState, kind: 'allocateToOther' | 'releaseFromOther'): IommufdPtStep {
  if (kind === 'allocateToOther') {
    let taken: number | null = null;
    const step = withMemory(state, (memory) => {
      taken = allocFrame(memory, OTHER_OWNER);
      return taken === null ? refused('ENOMEM') : { ok: true, detail: { mfn: taken } };
    });
    if (taken === null) return step;
    return { state: { ...step.state, otherFrames: [...state.otherFrames, taken] }, result: step.result };
  }
  const [oldest, ...rest] = state.otherFrames;
  if (oldest === undefined) return { state, result: refused('ENOENT') };
  const step = withMemory(state, (memory) => {
    putRef(memory, oldest);
    return { ok: true, detail: { mfn: oldest } };
  });
  return { state: { ...step.state, otherFrames: rest }, result: step.result };
}

/** The flush-queue timer fires for every lazy domain: a domain-wide flush, then the queue is released. */
function drainAll(state: IommufdPtState, config: IommufdPtConfig): IommufdPtStep {
  const lazy = Object.values(state.iommu.domains).filter((domain) => domain.type === 'dma-fq');
  if (lazy.length === 0) return { state, result: refused('EINVAL') };
  // The holds released below put frame references: on a copy of the memory, never the state given.
  const view = passthroughDraft(state, config, { ...state.iommufd, memory: cloneHostMemory(state.iommufd.memory) });
  let releasedEntries = 0;
  for (const domain of lazy) {
    const drained = drainFlushQueue(view.iommu, config.iommu, { domainId: domain.domainId });
    const released = drained.detail?.['releasedEntries'];
    if (typeof released === 'number') releasedEntries += released;
  }
  releaseFlushedHolds(view);
  return { state: fromDraft(state, view), result: { ok: true, detail: { domains: lazy.length, releasedEntries } } };
}

/** A draft passthrough state over `iommufd` (edited in place: its memory is the draft's own). */
function passthroughDraft(state: IommufdPtState, config: IommufdPtConfig, iommufd: IommufdState): PassthroughState {
  return {
    vfio: vfioShim(iommufd, config.iommufd),
    iommu: cloneIommuState(state.iommu),
    dids: { ...state.dids },
    held: [...state.held],
  };
}

function fromDraft(state: IommufdPtState, draft: PassthroughState): IommufdPtState {
  return {
    iommufd: { ...state.iommufd, memory: draft.vfio.memory, process: draft.vfio.process },
    iommu: draft.iommu,
    dids: draft.dids,
    held: draft.held,
    otherFrames: state.otherFrames,
  };
}

/**
 * IOMMU_HWPT_ALLOC allocates and fills a domain before any device attaches to it; the type1
 * forwarding allocates a VT-d domain at a domain's first attach (type1 never has a domain without a
 * group). So a domain the effects map into that has no VT-d domain yet gets one here first, of the
 * type the forwarding would give it (`unmanaged` in strict mode, `dma-fq` otherwise).
 */
function allocateDomains(
  draft: PassthroughState,
  config: IommufdPtConfig,
  effects: readonly TranslationEffect[],
): void {
  for (const effect of effects) {
    if (effect.kind !== 'map' || draft.dids[effect.domainId] !== undefined) continue;
    const created = createDomain(draft.iommu, {
      type: config.mode === 'strict' ? 'unmanaged' : 'dma-fq',
      nestingParent: false,
    });
    const did = created.detail?.['domainId'];
    if (typeof did === 'number') draft.dids[effect.domainId] = did;
  }
}

function unmappedFrames(effects: readonly TranslationEffect[]): number[] {
  return effects.flatMap((effect) => (effect.kind === 'unmap' ? [effect.mfn] : []));
}

/** An iommufd command, its effects forwarded to VT-d. */
function iommufdCommand(state: IommufdPtState, config: IommufdPtConfig, command: IommufdCommand): IommufdPtStep {
  let input = state.iommufd;
  let preheld: number[] = [];
  let probe: ReturnType<typeof iommufdStep> | null = null;
  if (config.mode === 'lazy-held') {
    probe = iommufdStep(input, config.iommufd, command);
    preheld = unmappedFrames(probe.effects);
    if (preheld.length > 0) {
      input = { ...input, memory: cloneHostMemory(input.memory) };
      for (const mfn of preheld) getRef(input.memory, mfn);
    }
  }
  // Nothing to hold: the probe ran the command on this very input (the step is pure and
  // deterministic), so its answer is the step's.
  const step = probe !== null && preheld.length === 0 ? probe : iommufdStep(input, config.iommufd, command);
  // iommufd hands back its input unless it kept the command's effects (a success, a partial unmap).
  const keep = step.state !== input;
  if (!keep) return { state, result: step.result };
  if (step.effects.length === 0 && preheld.length === 0)
    return { state: { ...state, iommufd: step.state }, result: step.result };
  const draft = passthroughDraft(state, config, step.state);
  allocateDomains(draft, config, step.effects);
  // iommufd unmaps an area's whole IOVA range with one iommu_unmap (iopt_area_unmap_domain_range).
  forwardEffects(draft, config.mode, config.iommu, step.effects, preheld, undefined, 'iova-range');
  return { state: { ...fromDraft(state, draft), iommufd: step.state }, result: step.result };
}

export function stepIommufdPt(
  state: IommufdPtState,
  config: IommufdPtConfig,
  command: IommufdPtCommand,
): IommufdPtStep {
  if (command.kind === 'deviceDma') return deviceDma(state, config, command);
  if (command.kind === 'accessDma') return accessDma(state, command);
  if (command.kind === 'allocateToOther' || command.kind === 'releaseFromOther') return otherOwner(state, command.kind);
  if (command.kind === 'drainFlushQueue') return drainAll(state, config);
  return iommufdCommand(state, config, command);
}
