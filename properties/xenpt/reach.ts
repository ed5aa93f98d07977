/**
 * Reach statistics of the Xen passthrough stack (`--stats`): the states where its bugs live,
 * each with a floor a passing default run must meet (`reachFloors`). They are the situations the
 * flawed designs need: a gfn whose translation the IOTLB caches changing in the p2m (moved, or
 * ballooned out), a grant mapped where the domain's device reaches it, a device reassigned or a
 * domain destroyed while an operation is in flight, and a domain destroyed while it still owns a
 * device.
 */
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { domainContext, iotlbKey } from '../../models/xenpt/step.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { Transition } from '../../src/design.js';

export const P2M_CHANGE_UNDER_DEVICE =
  'p2m change of a gfn the IOTLB caches for its domain (gfn moved or ballooned out)';
export const GRANT_MAPPED_UNDER_DEVICE = 'grant mapped into a domain that owns a device';
export const RECONFIGURED_IN_FLIGHT = 'device (de)assigned or domain destroyed with an operation in flight';
export const DESTROYED_WITH_DEVICE = 'domain destroyed while it owns a device';

export const xenPtReach: readonly string[] = [
  P2M_CHANGE_UNDER_DEVICE,
  GRANT_MAPPED_UNDER_DEVICE,
  RECONFIGURED_IN_FLIGHT,
  DESTROYED_WITH_DEVICE,
];

/**
 * Floors at the default budget, about a third of the fewest runs a default run of the sound
 * designs reached each in (`dmaprop check --design xenpt/hvm-shared-pt xenpt/quarantine-basic
 * --seed 1 … 3 --stats`: 562–587, 33–47, 141–173 and 422–447 runs of 1,000).
 */
export const xenPtReachFloors: Readonly<Record<string, number>> = {
  [P2M_CHANGE_UNDER_DEVICE]: 180,
  [GRANT_MAPPED_UNDER_DEVICE]: 11,
  [RECONFIGURED_IN_FLIGHT]: 45,
  [DESTROYED_WITH_DEVICE]: 140,
};

function ownsDevice(state: XenPtState, domid: number): boolean {
  return state.devices.some((device) => device.owner === domid);
}

export function classifyXenPtStep(transition: Transition<XenPtState, XenPtCommand>): string[] {
  const { before, command, result } = transition;
  if (before === null || command === null || result === null || !result.ok) return [];
  const labels: string[] = [];
  if (command.kind === 'moveGfn' || command.kind === 'decreaseReservation') {
    const gfn = command.kind === 'moveGfn' ? command.idx : command.gfn;
    if (before.iotlb[iotlbKey(domainContext(command.domid), gfn)] !== undefined) labels.push(P2M_CHANGE_UNDER_DEVICE);
  }
  if (command.kind === 'mapGrantRef' && ownsDevice(before, command.mapperDomid)) labels.push(GRANT_MAPPED_UNDER_DEVICE);
  const reconfigures =
    command.kind === 'assignDevice' || command.kind === 'deassignDevice' || command.kind === 'destroyDomain';
  if (reconfigures && before.inflight.length > 0) labels.push(RECONFIGURED_IN_FLIGHT);
  if (command.kind === 'destroyDomain' && ownsDevice(before, command.domid)) labels.push(DESTROYED_WITH_DEVICE);
  return labels;
}
