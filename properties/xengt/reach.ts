/**
 * Reach statistics of the XenGT stack (`--stats`): the states where its bugs live, each with a
 * floor a passing default run must meet (`reachFloors`): a page ballooned out of the guest while
 * the mediator's DMA cache maps its gfn, a grant mapped for host and device at once, a GTT entry
 * rewritten while a GPU access through it is in flight, a vGPU destroyed with its DMA cache in use,
 * and a domain destroyed while operations on it are in flight.
 */
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { Transition } from '../../src/design.js';
import { GTT_WRITE_UNDER_DMA, VGPU_DESTROYED_WITH_CACHE, cacheInUse, cacheMapsRange } from '../gvt/reach.js';

export const BALLOONED_WHILE_CACHED = 'gfn ballooned out while the DMA cache maps it';
export const GRANT_FOR_HOST_AND_DEVICE = 'grant mapped for host and device';
export const DESTROYED_IN_FLIGHT = 'domain destroyed with an operation in flight';

export const xenGtReach: readonly string[] = [
  BALLOONED_WHILE_CACHED,
  GRANT_FOR_HOST_AND_DEVICE,
  GTT_WRITE_UNDER_DMA,
  VGPU_DESTROYED_WITH_CACHE,
  DESTROYED_IN_FLIGHT,
];

/**
 * Floors at the default budget, about a third of the fewest runs a default run of `xen/map`
 * reached each in (`dmaprop check --design xen/map --seed 1 … 3 --stats`: 168–182, 10–17, 34–52,
 * 100–113 and 5–8 runs of 1,000). The grant mapped for both and the destruction with an operation
 * in flight are rare (1 to 2% and under 1% of runs): the generators' holes the guided search aims
 * at; the latter's floor is 1, so that a fresh seed's default run misses it about once in 800.
 */
export const xenGtReachFloors: Readonly<Record<string, number>> = {
  [BALLOONED_WHILE_CACHED]: 55,
  [GRANT_FOR_HOST_AND_DEVICE]: 3,
  [GTT_WRITE_UNDER_DMA]: 11,
  [VGPU_DESTROYED_WITH_CACHE]: 33,
  [DESTROYED_IN_FLIGHT]: 1,
};

export function classifyXenGtStep(transition: Transition<XenGtState, XenGtCommand>): string[] {
  const { before, command, result } = transition;
  if (before === null || command === null || result === null || !result.ok) return [];
  const labels: string[] = [];
  if (command.kind === 'decreaseReservation' && cacheMapsRange(before.vgpu, command.gfn))
    labels.push(BALLOONED_WHILE_CACHED);
  if (command.kind === 'mapGrantRef' && command.host && command.device) labels.push(GRANT_FOR_HOST_AND_DEVICE);
  if (command.kind === 'gttWrite' && before.inflight.some((op) => op.kind === 'gpuDma'))
    labels.push(GTT_WRITE_UNDER_DMA);
  if (command.kind === 'vgpuDestroy' && cacheInUse(before.vgpu)) labels.push(VGPU_DESTROYED_WITH_CACHE);
  if (command.kind === 'destroyDomain' && before.inflight.length > 0) labels.push(DESTROYED_IN_FLIGHT);
  return labels;
}
