/**
 * What each XenGT command reads and writes, for the explorer's partial-order reduction
 * (`ExploreScope.footprint`, `src/partial-order.ts`). Writes are read off the step (the paths of
 * the state it changed, `properties/generic/footprint.ts`); reads are declared here, per kind, a
 * part of the state at a time and on the safe side: a whole domain (its p2m, grant table, active
 * entries and maptrack) rather than one entry, the whole of host memory for anything that may
 * allocate or free a frame (the free list decides which frame comes next), the whole vGPU for the
 * mediator. `footprintProblems` and test/explore/partial-order.test.ts hold them to their promise.
 *
 * The operations in flight are a list an `advance` indexes, oldest first, so positions are part of
 * an operation's identity: an advance of op i reads positions 0..i (an earlier op finishing would
 * renumber it). Checks that wait for a lock held by an operation in flight (a balloon's p2m lock,
 * a trapped write's vCPU and the vGPU lock, a grant unmap in flight) read every position that
 * holds one and the next free position under `/lock` (a new holder would appear there); a GPU
 * access started appends under `/dma`, which those checks do not read. IOTLB flushes drain the
 * GPU's accesses in flight, so anything that may flush reads the whole list.
 *
 * The grant map and the teardown in phases need nothing of their own: a map in flight holds the
 * maptrack handle it took, which a map's handle search reads through those same positions (every
 * operation in flight but a GPU access); the second phase of either is an `advance` of an operation
 * that is not a GPU access, which reads the mediator, every domain, host memory and the whole list;
 * a teardown started, like any destruction, reads everything.
 */
import type { ExploreScope, Footprint, Step } from '../../src/design.js';
import type { OpResult } from '../../models/result.js';
import { changedPaths } from '../generic/footprint.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtTemplate } from './resolve.js';
import type { XenGtResult, XenGtState } from '../../models/xengt/types.js';

/** Path depth of the writes: `xen/memory/frames/7`, `xen/domains/1/p2m`, `vgpu/ggttHost/0`, `inflight/2/…`. */
const WRITE_DEPTH = 4;

const MEMORY = 'xen/memory';
const domain = (domid: number): string => `xen/domains/${domid}`;
const frame = (mfn: number): string => `${MEMORY}/frames/${mfn}`;

/** Positions 0..last of the list. */
function positions(last: number): string[] {
  return Array.from({ length: Math.max(0, last + 1) }, (_, index) => `inflight/${index}`);
}

/** What a lock check reads: each operation in flight that may hold a lock, and the next position's lock. */
function locks(state: XenGtState): string[] {
  const held = state.inflight.flatMap((op, index) => (op.kind === 'gpuDma' ? [] : [`inflight/${index}`]));
  return [...held, `inflight/${state.inflight.length}/lock`];
}

/** The frames the step's GPU accesses landed in (their owner is what the effect invariants judge). */
function landed(result: OpResult): string[] {
  const accesses = (result as Partial<XenGtResult>).accesses ?? [];
  return accesses.flatMap((access) => (access.mfn === null ? [] : [frame(access.mfn)]));
}

/**
 * Every command but the fault's own may meet the armed fault (`XenGtState.fault`: the n-th attempt
 * at its point fails), so each reads it; `injectFault` and `clearFault` write it.
 */
function readsOf(config: XenGtConfig, state: XenGtState, command: XenGtCommand, result: OpResult): string[] | null {
  const reads = partsRead(config, state, command, result);
  if (reads === null || command.kind === 'injectFault' || command.kind === 'clearFault') return reads;
  return [...reads, 'fault'];
}

function partsRead(config: XenGtConfig, state: XenGtState, command: XenGtCommand, result: OpResult): string[] | null {
  const gvt = ['vgpu', 'guestPages', 'writeProtected', domain(config.guestDomid), domain(config.backendDomid), MEMORY];
  switch (command.kind) {
    case 'advance': {
      const op = state.inflight[command.op];
      if (op === undefined) return positions(state.inflight.length - 1);
      const mine = positions(command.op);
      // A GPU access lands: its frame, and nothing else (it was translated at fetch).
      if (op.kind === 'gpuDma') return [...mine, ...landed(result)];
      // Any other phase may map, unmap, flush or release: the mediator, both domains, memory and the list.
      return [...gvt, 'xen/domains', 'inflight'];
    }
    case 'gpuDma':
      // Translated through the host entry and the backend's p2m; an atomic access lands at once.
      return ['vgpu', domain(config.backendDomid), ...landed(result)];
    case 'grantAccess':
      return [domain(command.domid), domain(command.granteeDomid), ...locks(state)];
    case 'endAccess':
      return [domain(command.domid), ...locks(state)];
    // The round trip of what these create is judged only with nothing in flight
    // (`round-trip-returns-everything`): they read the whole list.
    case 'populatePhysmap':
      return [domain(command.domid), MEMORY, 'inflight'];
    case 'mapGrantRef':
      // The scope maps "the first granted ref": every domain's grant table decides which.
      return ['xen/domains', MEMORY, 'inflight'];
    case 'mapForeign':
      return [domain(command.domid), domain(command.foreignDomid), MEMORY, ...locks(state)];
    // These may unmap and flush (draining the GPU's accesses) and free frames.
    case 'decreaseReservation':
    case 'unmapGrantRef':
    case 'unmapForeign':
      return ['xen/domains', MEMORY, 'inflight'];
    case 'gttWrite':
      return [...gvt, 'inflight'];
    case 'injectFault':
    case 'clearFault':
      return [];
    case 'destroyDomain':
    case 'createDomain':
    case 'vgpuCreate':
    case 'vgpuDestroy':
    case 'guestWritePte':
    case 'guestWriteCmd':
    case 'ppgttCreate':
    case 'ppgttDestroy':
    case 'submitBatch':
    case 'gpuExecute':
    case 'gpuDmaPpgtt':
      // Domain destruction, the vGPU's life and the mediator's own commands: everything.
      return null;
  }
}

/** The footprint of `command` at `state`, given what its step did. */
export function xenGtFootprint(
  config: XenGtConfig,
  state: XenGtState,
  command: XenGtCommand,
  after: Step<XenGtState>,
): Footprint | null {
  const reads = readsOf(config, state, command, after.result);
  if (reads === null) return null;
  let writes = changedPaths(state, after.state, WRITE_DEPTH);
  // A GPU access started takes the next position without holding a lock.
  if (command.kind === 'gpuDma' && command.phased === true) {
    const next = `inflight/${state.inflight.length}`;
    writes = writes.map((path) => (path === next || path.startsWith(`${next}/`) ? `${next}/dma` : path));
  }
  return { reads: [...reads, ...writes], writes };
}

/**
 * The scope with footprints, under a built-in backend (whose translation reads what `readsOf`
 * says: the backend's p2m and host memory). A backend of a design's own may read anything: its
 * scope has none, and the explorer tries every order.
 */
export function withXenGtFootprint(
  scope: ExploreScope<XenGtState, XenGtTemplate>,
  config: XenGtConfig,
  builtInBackend: boolean,
): ExploreScope<XenGtState, XenGtTemplate> {
  if (!builtInBackend) return scope;
  return {
    ...scope,
    // The explorer passes the concrete commands its templates resolved to, and what they did.
    footprint: (state, command, step) => xenGtFootprint(config, state, command as XenGtCommand, step),
  };
}
