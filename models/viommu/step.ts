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
 * request or a touch (no free frame: ENOMEM) → that error, and nothing changes.
 *
 * Balloon: out, the VMM discards the page (madvise DONTNEED); in nested it first unmaps the page
 * from stage 2 (UNMAP_DMA at IOVA = GPA), so the device stops reaching it. In, the VMM faults a
 * fresh page in; in nested it maps it into stage 2 again.
 */
import type { PassthroughCommand } from '../passthrough/types.js';
import { isPageNumber } from '../vfio/u64.js';
import {
  ASSIGNED_DEVICE,
  forwardInvalidation,
  mapGuestPage,
  runHost,
  shadowSync,
  unmapPages,
  vaddrOfGpa,
} from './vmm.js';
import type { InvalidatedRange } from './vmm.js';
import { GUEST_DID, invalidationGranularities, noCosts } from './types.js';
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

export function stepViommu(state: ViommuState, config: ViommuConfig, command: ViommuCommand): ViommuStep {
  switch (command.kind) {
    case 'guestMap': {
      if (!isPageNumber(command.giovaPage) || !isPageNumber(command.gpaPage) || typeof command.write !== 'boolean')
        return refuse(state, 'EINVAL');
      const table = { ...state.guest.table, [command.giovaPage]: { gpaPage: command.gpaPage, write: command.write } };
      return accept({ ...state, guest: { ...state.guest, table } }, noCosts);
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
    case 'guestBalloonOut':
      return balloonOut(state, config, command.gpaPage);
    case 'guestBalloonIn':
      return balloonIn(state, config, command.gpaPage);
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

/** Runs host commands; the step is refused with the first refusal, and then nothing changes. */
function onHost(
  state: ViommuState,
  config: ViommuConfig,
  commands: readonly PassthroughCommand[],
  exits: StepCosts,
  guest = state.guest,
): ViommuStep {
  const run = runHost(state.host, config, commands);
  if (run.refused !== null) return refuse(state, String(run.refused.error));
  const detail = run.results[run.results.length - 1]?.detail ?? {};
  return accept({ ...state, host: run.host, guest }, { ...run.costs, vmExits: exits.vmExits }, detail);
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
  // A DID the guest's domain does not have reaches no address space (global covers every DID).
  if (granularity !== 'global' && did !== GUEST_DID) return accept(state, trap, { handled: false });
  const range: InvalidatedRange = granularity === 'page' ? { startPage: giovaPage, endPage: giovaPage + pages } : 'all';
  if (config.mode === 'shadow') {
    const sync = shadowSync(state, config, range);
    return accept(
      { ...state, host: sync.host },
      { ...sync.costs, vmExits: 1 },
      {
        handled: true,
        mappedPages: sync.mappedPages,
        unmappedPages: sync.unmappedPages,
        failedPages: sync.failedPages,
      },
    );
  }
  const forward = forwardInvalidation(state, config, range);
  return accept(
    { ...state, host: forward.host },
    { ...forward.costs, vmExits: 1 },
    { handled: true, forwarded: forward.forwarded, dropped: forward.dropped },
  );
}

function balloonOut(state: ViommuState, config: ViommuConfig, gpaPage: number): ViommuStep {
  const vaddrPage = vaddrOfGpa(state.guestRam, gpaPage);
  if (vaddrPage === null || state.guest.ballooned.includes(gpaPage)) return refuse(state, 'EINVAL');
  const discard: PassthroughCommand = { kind: 'discard', vaddrPage, npages: 1 };
  const commands = config.mode === 'nested' ? [unmapPages(gpaPage, 1), discard] : [discard];
  const ballooned = [...state.guest.ballooned, gpaPage].sort((a, b) => a - b);
  return onHost(state, config, commands, trap, { ...state.guest, ballooned });
}

function balloonIn(state: ViommuState, config: ViommuConfig, gpaPage: number): ViommuStep {
  const vaddrPage = vaddrOfGpa(state.guestRam, gpaPage);
  if (vaddrPage === null || !state.guest.ballooned.includes(gpaPage)) return refuse(state, 'EINVAL');
  const touch: PassthroughCommand = { kind: 'touch', vaddrPage, write: true };
  const commands = config.mode === 'nested' ? [touch, mapGuestPage(vaddrPage, gpaPage, true)] : [touch];
  const ballooned = state.guest.ballooned.filter((page) => page !== gpaPage);
  return onHost(state, config, commands, trap, { ...state.guest, ballooned });
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
  const firstLevel = config.mode === 'nested' ? state.guest.table : {};
  const run = runHost(state.host, config, [dma], firstLevel);
  const result = run.results[0];
  if (run.refused !== null || result === undefined) return refuse(state, String(run.refused?.error ?? 'EINVAL'));
  return {
    state: { ...state, host: run.host },
    result: { ok: true, detail: result.detail ?? {}, accesses: result.accesses, costs: noCosts },
  };
}
