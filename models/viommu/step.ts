/**
 * The vIOMMU stack's step function: a pure map from (state, command) to (new state, result). Guest
 * table writes touch guest memory only; invalidations and balloon requests trap to the VMM, which
 * acts on the host (`vmm.ts`); the device's DMA goes through the host IOMMU, walking the guest's
 * table as the first level when the device is attached to a nested domain. A step shares with its
 * input every part it did not change, and a refused step hands back its input.
 *
 * Refusals: a malformed command (a page that is not a whole number, a GPA page outside guest RAM
 * for balloon, touch and discard, an invalidation mask above MAMV or an address not aligned to it,
 * an address or mask on a domain-selective or global invalidation) → EINVAL; unmapping a GIOVA
 * page the guest's table does not map → ENOENT (the guest driver's own check); ballooning out a
 * page the balloon already holds, or in one it does not → EINVAL; a host refusal during a balloon
 * request or a touch (no free frame: ENOMEM) → that error, and nothing changes. Scalable mode's
 * (`pasid.ts`): a RID_PASID setup over a present entry → EBUSY; a PASID descriptor QEMU's queue
 * refuses → EINVAL; a RID_PASID write in legacy mode or a context-entry write in scalable mode →
 * EOPNOTSUPP (not modelled).
 *
 * What the VMM does with a trapped invalidation of the guest's domain and with a balloon request
 * is the design's (`config.vmm`, `vmm-hooks.ts`): the built-in shadow VMM replays the guest's table
 * as MAP_DMA/UNMAP_DMA and discards or faults in a ballooned page; the nested one forwards the
 * invalidation and unmaps or maps the page in stage 2 around the discard or fault.
 */
import type { PassthroughCommand } from '../passthrough/types.js';
import { isPageNumber } from '../vfio/u64.js';
import {
  ASSIGNED_DEVICE,
  handleBalloon,
  handleInvalidation,
  performRequests,
  planContextInvalidation,
  planTranslationSwitch,
  runHost,
  vaddrOfGpa,
} from './vmm.js';
import { setTranslation, writeContext } from './lifecycle.js';
import { invalidatePasidCache, invalidatePiotlb, writeRidPasid } from './pasid.js';
import type { PasidStep } from './pasid.js';
import { iotlbCovers, settleIotlb } from './pasid-flush.js';
import { firstLevelOf } from './views.js';
import type { InvalidatedRange } from './vmm-hooks.js';
import {
  advanceInvalidation,
  clearedPages,
  completeContextWait,
  completeWait,
  finishInvalidation,
  startContextInvalidation,
  startInvalidation,
} from './phased.js';
import { addCosts, contextInvalidationGranularities, invalidationGranularities, noCosts } from './types.js';
import type { StepCosts, ViommuCommand, ViommuConfig, ViommuResult, ViommuState } from './types.js';

/** The emulated vIOMMU's MAMV (QEMU reports 18): a page-selective invalidation's largest mask. */
export const VIOMMU_MAMV = 18;

export interface ViommuStep {
  readonly state: ViommuState;
  readonly result: ViommuResult;
}

function refuse(state: ViommuState, error: string): ViommuStep {
  return { state, result: { ok: false, error, accesses: [], costs: noCosts } };
}

function accept(
  state: ViommuState,
  costs: StepCosts,
  detail: Readonly<Record<string, number | string | boolean | null>> = {},
): ViommuStep {
  return { state, result: { ok: true, detail, accesses: [], costs } };
}

const trap: StepCosts = { ...noCosts, vmExits: 1 };

/** Commands that trap to the VMM: with an invalidation in flight, they wait for it to finish. */
const trapping: ReadonlySet<ViommuCommand['kind']> = new Set([
  'guestInvalidate',
  'guestInvalidateContext',
  'guestInvalidatePasidCache',
  'guestInvalidatePiotlb',
  'guestSetTranslation',
  'guestBalloonOut',
  'guestBalloonIn',
]);

export function stepViommu(state: ViommuState, config: ViommuConfig, command: ViommuCommand): ViommuStep {
  if (command.kind === 'advance') return advance(state, config, command.op);
  if (state.inflight.length === 0 || !trapping.has(command.kind)) return stepNow(state, config, command);
  // The VMM finishes the trap it is handling, then takes this one (`phased.ts`).
  const finished = finishInvalidation(state, config);
  const step = stepNow(finished.state, config, command);
  if (!step.result.ok) return refuse(state, String(step.result.error));
  return {
    state: step.state,
    result: {
      ...step.result,
      accesses: [...finished.result.accesses, ...step.result.accesses],
      costs: addCosts(finished.result.costs, step.result.costs),
    },
  };
}

/** `advance`: the next phase of the invalidation in flight; ENOENT when there is none. */
function advance(state: ViommuState, config: ViommuConfig, index: number): ViommuStep {
  const op = Number.isInteger(index) ? state.inflight[index] : undefined;
  if (op === undefined) return refuse(state, 'ENOENT');
  return advanceInvalidation(state, config, op);
}

function stepNow(
  state: ViommuState,
  config: ViommuConfig,
  command: Exclude<ViommuCommand, { kind: 'advance' }>,
): ViommuStep {
  switch (command.kind) {
    case 'guestMap': {
      if (!isPageNumber(command.giovaPage) || !isPageNumber(command.gpaPage) || typeof command.write !== 'boolean')
        return refuse(state, 'EINVAL');
      // No domain: the guest's driver has no table to write for the device (`lifecycle.ts`).
      if (state.guest.did === null) return refuse(state, 'ENODEV');
      const table = { ...state.guest.table, [command.giovaPage]: { gpaPage: command.gpaPage, write: command.write } };
      // The page is in use again: the guest no longer counts on it being unreachable.
      const invalidated = state.guest.invalidated.includes(command.giovaPage)
        ? state.guest.invalidated.filter((page) => page !== command.giovaPage)
        : state.guest.invalidated;
      // Nor does an invalidation in flight cover it: the guest re-used it after submitting.
      const inflight = state.inflight.some((op) => op.cleared.includes(command.giovaPage))
        ? state.inflight.map((op) => ({ ...op, cleared: op.cleared.filter((page) => page !== command.giovaPage) }))
        : state.inflight;
      // Mapped by the domain now attached: no longer an earlier domain's page.
      const retired = state.guest.retired.includes(command.giovaPage)
        ? state.guest.retired.filter((page) => page !== command.giovaPage)
        : state.guest.retired;
      return accept({ ...state, guest: { ...state.guest, table, invalidated, retired }, inflight }, noCosts);
    }
    case 'guestUnmap': {
      if (!isPageNumber(command.giovaPage)) return refuse(state, 'EINVAL');
      if (!Object.hasOwn(state.guest.table, command.giovaPage)) return refuse(state, 'ENOENT');
      const table = { ...state.guest.table };
      delete table[command.giovaPage];
      return accept({ ...state, guest: { ...state.guest, table } }, noCosts);
    }
    case 'guestInvalidate':
      return invalidate(state, config, command);
    case 'guestDetach':
      // Scalable mode: the model leaves the context entry's own writes out (`pasid.ts`).
      if (config.scalable) return refuse(state, 'EOPNOTSUPP');
      return accept(writeContext(state, null), noCosts);
    case 'guestAttach':
      if (config.scalable) return refuse(state, 'EOPNOTSUPP');
      // DID 0 is reserved when caching mode is reported (VT-d §6.2.2.1); a DID is 16 bits.
      if (!Number.isInteger(command.did) || command.did < 1 || command.did > 0xffff) return refuse(state, 'EINVAL');
      return accept(writeContext(state, command.did), noCosts, { reusedDid: command.did === state.guest.did });
    case 'guestInvalidateContext':
      return invalidateContext(state, config, command);
    case 'guestClearPasid':
      return fromPasid(state, writeRidPasid(state, config, null));
    case 'guestSetupPasid':
      return fromPasid(state, writeRidPasid(state, config, command.did));
    case 'guestInvalidatePasidCache':
      return fromPasid(state, invalidatePasidCache(state, config, command));
    case 'guestInvalidatePiotlb':
      return fromPasid(state, invalidatePiotlb(state, config, command));
    case 'guestSetTranslation': {
      if (typeof command.enabled !== 'boolean') return refuse(state, 'EINVAL');
      // QEMU `vtd_handle_gcmd_te`: nothing to do when the setting does not change.
      if (command.enabled === state.guest.translation) return accept(state, trap, { changed: false });
      const switched = setTranslation(state, command.enabled);
      const handled = performRequests(switched, config, planTranslationSwitch(switched, config));
      const { mappedPages, unmappedPages, failedPages, forwarded, dropped } = handled;
      const detail = config.mode === 'shadow' ? { mappedPages, unmappedPages, failedPages } : { forwarded, dropped };
      return accept(
        { ...switched, host: handled.host },
        { ...handled.costs, vmExits: 1 },
        { changed: true, ...detail },
      );
    }
    case 'guestBalloonOut':
      return balloon(state, config, command.gpaPage, 'out');
    case 'guestBalloonIn':
      return balloon(state, config, command.gpaPage, 'in');
    case 'guestTouch':
    case 'vmmDiscard': {
      const vaddrPage = vaddrOfGpa(state.guestRam, command.gpaPage);
      if (vaddrPage === null) return refuse(state, 'EINVAL');
      const host: PassthroughCommand =
        command.kind === 'guestTouch'
          ? { kind: 'touch', vaddrPage, write: true }
          : { kind: 'discard', vaddrPage, npages: 1 };
      return onHost(state, config, [host], noCosts);
    }
    case 'allocateToOther':
    case 'releaseFromOther':
      return onHost(state, config, [command], noCosts);
    case 'deviceDma':
      return deviceDma(state, config, command);
  }
}

function fromPasid(state: ViommuState, step: PasidStep): ViommuStep {
  return step.ok ? accept(step.state, step.costs, step.detail) : refuse(state, step.error);
}

/** Runs host commands; the step is refused with the first refusal, and then nothing changes. */
function onHost(
  state: ViommuState,
  config: ViommuConfig,
  commands: readonly PassthroughCommand[],
  exits: StepCosts,
): ViommuStep {
  const run = runHost(state.host, config, commands);
  if (run.refused !== null) return refuse(state, String(run.refused.error));
  const detail = run.results[run.results.length - 1]?.detail ?? {};
  return accept({ ...state, host: run.host }, { ...run.costs, vmExits: exits.vmExits }, detail);
}

function invalidate(
  state: ViommuState,
  config: ViommuConfig,
  command: Extract<ViommuCommand, { kind: 'guestInvalidate' }>,
): ViommuStep {
  const { granularity, did, giovaPage, mask } = command;
  if (!invalidationGranularities.includes(granularity) || !isPageNumber(did) || !isPageNumber(giovaPage))
    return refuse(state, 'EINVAL');
  if (!Number.isInteger(mask) || mask < 0 || mask > VIOMMU_MAMV) return refuse(state, 'EINVAL');
  const pages = 2 ** mask;
  if (granularity === 'page' ? giovaPage % pages !== 0 : giovaPage !== 0 || mask !== 0) return refuse(state, 'EINVAL');
  // A DID the device's context entry does not name reaches no address space (global covers every
  // DID); with the entry cleared, none does (`vtd_iotlb_page_invalidate_notify`); with translation
  // off the device's IOMMU region has no notifier left to reach.
  // Scalable mode: a domain-selective or global one may settle what the guest owes its RID_PASID
  // entry writes (`pasid-flush.ts`), once it completes.
  const pasidStep = config.scalable && iotlbCovers(state, command);
  const settle = (next: ViommuState): ViommuState => (pasidStep ? settleIotlb(next) : next);
  if (!state.guest.translation || (granularity !== 'global' && did !== state.guest.did))
    return accept(settle(state), trap, { handled: false });
  const range: InvalidatedRange = granularity === 'page' ? { startPage: giovaPage, endPage: giovaPage + pages } : 'all';
  if (command.phased === true) {
    const started = startInvalidation(state, config, range);
    const op = pasidStep ? { ...started, pasidStep } : started;
    return accept({ ...state, inflight: [op] }, trap, { handled: true, started: true, requests: op.requests.length });
  }
  const cleared = clearedPages(state, range);
  const handled = handleInvalidation(state, config, range);
  // The counters of the mode's mechanism, and the other mode's when the VMM's requests moved them.
  const { mappedPages, unmappedPages, failedPages, forwarded, dropped } = handled;
  const replayed = { mappedPages, unmappedPages, failedPages };
  const detail =
    config.mode === 'shadow'
      ? forwarded || dropped > 0
        ? { ...replayed, forwarded, dropped }
        : replayed
      : mappedPages + unmappedPages + failedPages > 0
        ? { forwarded, dropped, ...replayed }
        : { forwarded, dropped };
  return accept(
    settle(completeWait({ ...state, host: handled.host }, cleared)),
    { ...handled.costs, vmExits: 1 },
    { handled: true, ...detail },
  );
}

/**
 * A context-cache invalidation (`lifecycle.ts`): the VMM drops its cached context entry, reads the
 * guest's and resyncs the device's address space with its `context` hook; the wait completes last.
 */
function invalidateContext(
  state: ViommuState,
  config: ViommuConfig,
  command: Extract<ViommuCommand, { kind: 'guestInvalidateContext' }>,
): ViommuStep {
  if (!contextInvalidationGranularities.includes(command.granularity)) return refuse(state, 'EINVAL');
  if (config.scalable) return invalidateScalableContext(state, config);
  const cached: ViommuState = { ...state, contextCache: state.guest.did };
  // Translation off: the address space stays the no-DMAR one and has no notifier to resync
  // (`vtd_switch_address_space`, `vtd_address_space_sync`); the invalidation still completes.
  if (!state.guest.translation) return accept(completeContextWait(cached, true), trap, { handled: false });
  if (command.phased === true) {
    const op = startContextInvalidation(state, config);
    return accept({ ...cached, inflight: [op] }, trap, { handled: true, started: true, requests: op.requests.length });
  }
  const handled = performRequests(state, config, planContextInvalidation(state, config));
  const { mappedPages, unmappedPages, failedPages, forwarded, dropped } = handled;
  const detail = config.mode === 'shadow' ? { mappedPages, unmappedPages, failedPages } : { forwarded, dropped };
  return accept(
    completeContextWait({ ...cached, host: handled.host }, true),
    { ...handled.costs, vmExits: 1 },
    { handled: true, ...detail },
  );
}

/**
 * A context-cache invalidation in scalable mode (`pasid.ts`): QEMU's `vtd_address_space_sync` reads
 * the RID_PASID entry from guest memory through the context entry: present, the whole table is
 * replayed; not present, `vtd_dev_to_context_entry` fails the RID2PASID check and nothing is done.
 * It settles nothing the guest owes its RID_PASID writes. Atomic, even when asked to be phased.
 */
function invalidateScalableContext(state: ViommuState, config: ViommuConfig): ViommuStep {
  if (!state.guest.translation || state.guest.did === null) return accept(state, trap, { handled: false });
  const handled = handleInvalidation(state, config, 'all');
  const { mappedPages, unmappedPages, failedPages } = handled;
  return accept(
    { ...state, host: handled.host },
    { ...handled.costs, vmExits: 1 },
    { handled: true, mappedPages, unmappedPages, failedPages },
  );
}

/** A balloon request: the VMM's requests all carried out, or the request refused and nothing changed. */
function balloon(state: ViommuState, config: ViommuConfig, gpaPage: number, direction: 'out' | 'in'): ViommuStep {
  const vaddrPage = vaddrOfGpa(state.guestRam, gpaPage);
  const held = state.guest.ballooned.includes(gpaPage);
  if (vaddrPage === null || held !== (direction === 'in')) return refuse(state, 'EINVAL');
  const run = handleBalloon(state, config, gpaPage, direction);
  if (run.refused !== null) return refuse(state, run.refused.error);
  const ballooned =
    direction === 'out'
      ? [...state.guest.ballooned, gpaPage].sort((a, b) => a - b)
      : state.guest.ballooned.filter((page) => page !== gpaPage);
  const detail = run.results[run.results.length - 1]?.detail ?? {};
  return accept(
    { ...state, host: run.host, guest: { ...state.guest, ballooned } },
    { ...run.costs, vmExits: 1 },
    detail,
  );
}

function deviceDma(
  state: ViommuState,
  config: ViommuConfig,
  command: Extract<ViommuCommand, { kind: 'deviceDma' }>,
): ViommuStep {
  if (!isPageNumber(command.giovaPage)) return refuse(state, 'EINVAL');
  const dma: PassthroughCommand = {
    kind: 'deviceDma',
    deviceId: ASSIGNED_DEVICE,
    addressPage: command.giovaPage,
    write: command.write,
  };
  const firstLevel = config.mode === 'nested' ? firstLevelOf(state) : {};
  const run = runHost(state.host, config, [dma], firstLevel);
  const result = run.results[0];
  if (run.refused !== null || result === undefined) return refuse(state, String(run.refused?.error ?? 'EINVAL'));
  return {
    state: { ...state, host: run.host },
    result: { ok: true, detail: result.detail ?? {}, accesses: result.accesses, costs: noCosts },
  };
}
