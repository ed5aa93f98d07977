/**
 * The VFIO invariants, read on the VFIO part of the composed state: the passthrough stack keeps
 * every VFIO rule (accounting, teardown, where accesses landed) and adds the IOMMU's.
 */
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant } from '../../../src/design.js';

export type PassthroughInvariant = Invariant<PassthroughState, PassthroughCommand>;

/** `stateOnly`: the verdict depends on VFIO's state after the step alone, not on the command or result. */
export function liftVfioInvariant(
  invariant: Invariant<VfioState, VfioCommand>,
  stateOnly = false,
): PassthroughInvariant {
  return {
    ...(stateOnly ? { reads: (state: PassthroughState) => [state.vfio] } : {}),
    name: invariant.name,
    class: invariant.class,
    description: invariant.description,
    check: ({ before, command, result, after }) =>
      invariant.check({
        before: before?.vfio ?? null,
        // The VFIO invariants never read the command; the flush-queue timer is not a VFIO command.
        command: command as VfioCommand | null,
        result,
        after: after.vfio,
      }),
  };
}
