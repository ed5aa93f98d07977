/**
 * The VFIO invariants, read on the VFIO part of the composed state: the passthrough stack keeps
 * every VFIO rule (accounting, teardown, where accesses landed) and adds the IOMMU's.
 */
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant } from '../../../src/design.js';
import { liftInvariant } from '../../generic/lift.js';

export type PassthroughInvariant = Invariant<PassthroughState, PassthroughCommand>;

/** `stateOnly`: the verdict depends on VFIO's state after the step alone, not on the command or result. */
export function liftVfioInvariant(
  invariant: Invariant<VfioState, VfioCommand>,
  stateOnly = false,
): PassthroughInvariant {
  return liftInvariant(invariant, (state: PassthroughState) => state.vfio, stateOnly);
}
