/**
 * The VFIO invariants, read on the VFIO part of a composed state: the passthrough and KVMGT stacks
 * keep every VFIO rule that applies to them (accounting, teardown, where accesses landed) and add
 * their own.
 */
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant } from '../../../src/design.js';
import { liftInvariant } from '../../generic/lift.js';

export type PassthroughInvariant = Invariant<PassthroughState, PassthroughCommand>;

/** `stateOnly`: the verdict depends on VFIO's state after the step alone, not on the command or result. */
export function liftVfioInvariant<S extends { readonly vfio: VfioState } = PassthroughState, C = PassthroughCommand>(
  invariant: Invariant<VfioState, VfioCommand>,
  stateOnly = false,
): Invariant<S, C> {
  return liftInvariant(invariant, (state: S) => state.vfio, stateOnly);
}
