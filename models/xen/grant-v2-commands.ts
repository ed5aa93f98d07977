/**
 * Grant table v2 and GNTTABOP_copy as commands (JSON-safe data, a union on `kind`) and one step
 * function over `XenState` (`stepGrantV2`), for a stack to wire in: the new operations
 * (`GrantV2OwnCommand`: set_version, get_status_frames, add_to_physmap of a grant-table frame, a
 * copy whole or in its two phases) and, so that the module runs on its own (its generators and
 * tests), the grant and memory operations it meets (`GrantV2Command`: the granter's grant / end
 * access, which follow the version, map / unmap, balloon out / in), which call the existing model.
 */
import type { OpResult } from '../result.js';
import type { XenConfig } from './config.js';
import { shareXenState } from './copy-on-write.js';
import { finishGrantCopy, grantCopy, startGrantCopy } from './grant-copy.js';
import type { GrantCopyArgs } from './grant-copy.js';
import { endAccess, grantAccess, mapGrantRef, unmapGrantRef } from './grant-table.js';
import type { EndAccessArgs, GrantAccessArgs, MapGrantArgs, UnmapGrantArgs } from './grant-table.js';
import { getStatusFrames, mapGrantFrame, setGrantVersion } from './grant-v2.js';
import type { GetStatusFramesArgs, MapGrantFrameArgs, SetVersionArgs } from './grant-v2.js';
import { decreaseReservation, populatePhysmap } from './memory-op.js';
import type { GfnArgs } from './memory-op.js';
import type { GrantCopyAccess, XenState } from './types.js';

/** The operations this module adds. */
export type GrantV2OwnCommand =
  /** GNTTABOP_set_version by `domid` on its own table. */
  | ({ readonly kind: 'setGrantVersion' } & SetVersionArgs)
  /** GNTTABOP_get_status_frames. */
  | ({ readonly kind: 'getStatusFrames' } & GetStatusFramesArgs)
  /** XENMEM_add_to_physmap, XENMAPSPACE_grant_table (XENMAPIDX_grant_table_status when `status`). */
  | ({ readonly kind: 'mapGrantFrame' } & MapGrantFrameArgs)
  /** GNTTABOP_copy of one segment, whole. */
  | ({ readonly kind: 'grantCopy' } & GrantCopyArgs)
  /** GNTTABOP_copy up to its `memcpy`: the segment stays claimed in the caller's `grantCopies`. */
  | ({ readonly kind: 'startGrantCopy' } & GrantCopyArgs)
  /** The `memcpy` and release of the caller's claimed segment `index`. */
  | { readonly kind: 'finishGrantCopy'; readonly callerDomid: number; readonly index: number };

/** The operations of the existing model the v2 and copy commands meet. */
export type GrantV2WorldCommand =
  | ({ readonly kind: 'grantAccess' } & GrantAccessArgs)
  | ({ readonly kind: 'endAccess' } & EndAccessArgs)
  | ({ readonly kind: 'mapGrantRef' } & MapGrantArgs)
  | ({ readonly kind: 'unmapGrantRef' } & UnmapGrantArgs)
  | ({ readonly kind: 'decreaseReservation' } & GfnArgs)
  | ({ readonly kind: 'populatePhysmap' } & GfnArgs);

export type GrantV2Command = GrantV2OwnCommand | GrantV2WorldCommand;

export interface GrantV2Step {
  /** The state after (sharing every part the command left alone with the state before). */
  readonly state: XenState;
  readonly result: OpResult;
  /** A copy's `memcpy`: the frames it read and wrote. */
  readonly accesses?: readonly GrantCopyAccess[];
}

/**
 * One command on a state that is not changed (copy-on-write, `shareXenState`). Refusals return the
 * real error and a state equal to the one given.
 */
export function stepGrantV2(before: XenState, config: XenConfig, command: GrantV2Command): GrantV2Step {
  const state = shareXenState(before);
  switch (command.kind) {
    case 'setGrantVersion':
      return { state, result: setGrantVersion(state, config, command) };
    case 'getStatusFrames':
      return { state, result: getStatusFrames(state, command) };
    case 'mapGrantFrame':
      return { state, result: mapGrantFrame(state, config, command) };
    case 'grantCopy': {
      const copied = grantCopy(state, config, command);
      return { state, result: copied.result, accesses: copied.accesses };
    }
    case 'startGrantCopy':
      return { state, result: startGrantCopy(state, config, command).result };
    case 'finishGrantCopy': {
      const copied = finishGrantCopy(state, config, command.callerDomid, command.index);
      return { state, result: copied.result, accesses: copied.accesses };
    }
    case 'grantAccess':
      return { state, result: grantAccess(state, command) };
    case 'endAccess':
      return { state, result: endAccess(state, config, command) };
    case 'mapGrantRef':
      return { state, result: mapGrantRef(state, config, command) };
    case 'unmapGrantRef':
      return { state, result: unmapGrantRef(state, config, command) };
    case 'decreaseReservation':
      return { state, result: decreaseReservation(state, config, command) };
    case 'populatePhysmap':
      return { state, result: populatePhysmap(state, command) };
  }
}
