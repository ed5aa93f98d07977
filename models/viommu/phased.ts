/**
 * A guest invalidation as the phases it takes when the VMM handles its trap while the guest's other
 * vCPUs and the device keep running (QEMU hw/i386/intel_iommu.c at commit 0192d6677c38, docs/reference/viommu.md §7.6;
 * Linux v6.12 drivers/iommu/intel/dmar.c):
 *
 * 1. `start` (guest vCPU): the guest's driver queues an IOTLB invalidation descriptor and a wait
 *    descriptor and writes the queue tail (`qi_submit_sync`, dmar.c), then polls the wait
 *    descriptor's status. The tail write exits to QEMU (`vtd_handle_iqt_write` →
 *    `vtd_fetch_inv_desc`), which processes the descriptors in order (`vtd_process_inv_desc`):
 *    the IOTLB descriptor (`vtd_process_iotlb_desc` → `vtd_iotlb_page_invalidate` /
 *    `vtd_iotlb_domain_invalidate` → `vtd_iotlb_page_invalidate_notify` /
 *    `vtd_sync_shadow_page_table_range`) walks the guest's table over the range and notifies
 *    each change (`memory_region_notify_iommu`), which VFIO turns into ioctls (hw/vfio/common.c
 *    `vfio_iommu_map_notify` → `vfio_dma_unmap` / `vfio_dma_map`, `vfio_container_dma_*` since
 *    QEMU 8.2: VFIO_IOMMU_UNMAP_DMA / MAP_DMA; a failed map is reported and the walk goes on).
 *    The model runs the VMM's hook here (`vmm-hooks.ts`), on the state at the tail write: the
 *    requests it returns are the VMM's plan.
 * 2. one `advance` per host phase: each MAP_DMA / UNMAP_DMA is started phased on the host
 *    (`models/vfio/phased-map.ts`, `phased-unmap.ts`: pin, map; clear, iotlb_sync, unpin) and
 *    advanced one phase at a time, so the device's DMA, the process's memory and the other VM
 *    run between them as they do between the real ioctl's steps; an IOMMU_HWPT_INVALIDATE, a
 *    discard or a touch is one phase.
 * 3. the wait descriptor (`vtd_process_wait_desc`, "we process the descriptors in order"): its
 *    status write (or completion event) completes the guest's wait, and `qi_submit_sync`
 *    returns: from then on the guest takes the cleared GIOVA pages of the range for unreachable
 *    (`GuestState.invalidated`). QEMU processes the wait after
 *    every descriptor before it, so the built-in VMMs complete it last; a hook may place the
 *    `completeWait` request anywhere (the flawed `completeWaitFirst` puts it first).
 *
 * The VMM handles one trap at a time (QEMU runs each exit under the BQL): another invalidation or
 * a balloon request that traps while one is in flight waits for it — the model runs the one in
 * flight to its end first (queued, not refused). The guest's table writes (no exit) and its DMA do
 * not wait.
 *
 * Simplified: QEMU walks the guest's table during processing and issues each ioctl as the walk
 * meets the change; the model takes the walk at the tail write (the guest's later writes are not
 * covered by this invalidation either way, since it submitted the descriptor after its clear).
 * The ioctl costs of a phased invalidation are counted as its phases run.
 */
import type { PassthroughCommand, PassthroughState } from '../passthrough/types.js';
import { stepPassthrough } from '../passthrough/step.js';
import { actorOfOp, nextPhaseOf } from '../vfio/inflight.js';
import { addCosts, noCosts } from './types.js';
import type { InvalidationOp, StepCosts, ViommuCommand, ViommuConfig, ViommuResult, ViommuState } from './types.js';
import { costsOf, hostCommand, invalidateNestedDomain, planContextInvalidation, shadowedEntries } from './vmm.js';
import { viommuReach } from './views.js';
import { settleIotlb } from './pasid-flush.js';
import type { InvalidatedRange, VmmRequest } from './vmm-hooks.js';
import type { DmaAccess } from '../vfio/types.js';

/** What one phase did. */
export interface PhaseResult {
  readonly state: ViommuState;
  readonly result: ViommuResult;
}

function inRange(range: InvalidatedRange, page: number): boolean {
  return range === 'all' || (page >= range.startPage && page < range.endPage);
}

/**
 * GIOVA pages of `range` the guest's table does not map and the device can reach or the VMM has
 * mapped: what the guest takes for unreachable once the invalidation completes. (A page neither
 * reachable nor mapped at the tail write stays so until the guest maps it, which drops it.)
 */
export function clearedPages(state: ViommuState, range: InvalidatedRange): number[] {
  const candidates = new Set<number>([
    ...viommuReach(state).map((found) => found.iovaPage),
    ...(state.nestedDid === null ? shadowedEntries(state).keys() : []),
  ]);
  return [...candidates]
    .filter((page) => inRange(range, page) && !Object.hasOwn(state.guest.table, page))
    .sort((a, b) => a - b);
}

/** The guest's wait returns: the cleared pages join `invalidated`. */
export function completeWait(state: ViommuState, cleared: readonly number[]): ViommuState {
  if (cleared.length === 0) return state;
  const invalidated = [...new Set([...state.guest.invalidated, ...cleared])].sort((a, b) => a - b);
  return { ...state, guest: { ...state.guest, invalidated } };
}

/** The guest's context-cache invalidation has completed: if it covers its last context write, nothing is pending. */
export function completeContextWait(state: ViommuState, covers: boolean): ViommuState {
  if (!covers || !state.guest.contextPending) return state;
  return { ...state, guest: { ...state.guest, contextPending: false } };
}

/**
 * Phase 1 of a context-cache invalidation (`lifecycle.ts`): the VMM drops its cached context entry
 * and reads the guest's (`contextCache`), and its `context` hook plans the resync.
 */
export function startContextInvalidation(state: ViommuState, config: ViommuConfig): InvalidationOp {
  const planned = planContextInvalidation(state, config);
  const requests = planned.some((request) => request.kind === 'completeWait')
    ? planned
    : [...planned, { kind: 'completeWait' } as const];
  return {
    kind: 'guestInvalidateContext',
    range: 'all',
    cleared: [],
    requests,
    hostBusy: false,
    waitDone: false,
    context: { did: state.guest.did, covers: true },
  };
}

/** Phase 1: the descriptors are queued and the tail written; the VMM's hook plans its requests. */
export function startInvalidation(state: ViommuState, config: ViommuConfig, range: InvalidatedRange): InvalidationOp {
  let mapped: ReadonlyMap<number, { gpaPage: number; write: boolean }> | undefined;
  const planned = config.vmm.invalidation({
    state,
    range,
    get mapped() {
      mapped ??= shadowedEntries(state);
      return mapped;
    },
  });
  const requests = planned.some((request) => request.kind === 'completeWait')
    ? planned
    : [...planned, { kind: 'completeWait' } as const];
  return {
    kind: 'guestInvalidate',
    range,
    cleared: clearedPages(state, range),
    requests,
    hostBusy: false,
    waitDone: false,
  };
}

/** The host's MAP_DMA or UNMAP_DMA of the VMM's in flight: its index, or -1. */
function vmmHostOp(host: PassthroughState): number {
  return host.vfio.inflight.findIndex((op) => actorOfOp(op) === 'VMM');
}

/** One host phase: a command started phased, or the next phase of the VMM's operation in flight. */
function hostPhase(
  state: ViommuState,
  config: ViommuConfig,
  command: PassthroughCommand,
): { host: PassthroughState; ok: boolean; accesses: readonly DmaAccess[]; costs: StepCosts } {
  const step = stepPassthrough(state.host, config.host, command);
  const costs = command.kind === 'advance' ? noCosts : costsOf(command, step.result);
  // A refused step hands back its input, unless the kernel's unwind left something changed.
  return { host: step.state, ok: step.result.ok, accesses: step.result.accesses, costs };
}

function phaseDone(
  state: ViommuState,
  op: InvalidationOp | null,
  costs: StepCosts,
  accesses: readonly DmaAccess[],
  detail: Readonly<Record<string, number | string | boolean | null>>,
): PhaseResult {
  const finished = op === null || (op.requests.length === 0 && !op.hostBusy);
  const inflight = finished ? [] : [op];
  const kind = op?.kind ?? state.inflight[0]?.kind ?? 'guestInvalidate';
  return {
    state: { ...state, inflight },
    result: { ok: true, detail: { ...detail, op: kind, done: finished }, accesses, costs },
  };
}

/** The next phase of the invalidation in flight: a host phase, a request, or the wait's completion. */
export function advanceInvalidation(state: ViommuState, config: ViommuConfig, op: InvalidationOp): PhaseResult {
  if (op.hostBusy) {
    const index = vmmHostOp(state.host);
    if (index < 0) return phaseDone(state, { ...op, hostBusy: false }, noCosts, [], { phase: 'host' });
    const run = hostPhase(state, config, { kind: 'advance', op: index });
    const next = { ...state, host: run.host };
    return phaseDone(next, { ...op, hostBusy: vmmHostOp(run.host) >= 0 }, run.costs, run.accesses, {
      phase: 'host',
    });
  }
  const [request, ...rest] = op.requests;
  if (request === undefined) return phaseDone(state, null, noCosts, [], { phase: 'end' });
  const after: InvalidationOp = { ...op, requests: rest };
  return requestPhase(state, config, after, request);
}

function requestPhase(state: ViommuState, config: ViommuConfig, op: InvalidationOp, request: VmmRequest): PhaseResult {
  const detail = { phase: request.kind };
  if (request.kind === 'completeWait') {
    const completed =
      op.context === undefined ? completeWait(state, op.cleared) : completeContextWait(state, op.context.covers);
    // Scalable mode: the IOTLB invalidation the guest owed its RID_PASID writes (`pasid-flush.ts`).
    const waited = op.pasidStep === true ? settleIotlb(completed) : completed;
    return phaseDone(waited, { ...op, waitDone: true }, noCosts, [], detail);
  }
  if (request.kind === 'invalidateNested') {
    const done = invalidateNestedDomain(state, state.host, config, request.range);
    if (done === null) return phaseDone(state, op, noCosts, [], detail);
    const costs = { ...noCosts, invalidateIoctls: 1, hostIotlbInvalidations: done.ok ? 1 : 0 };
    return phaseDone({ ...state, host: done.host }, op, costs, [], detail);
  }
  const command = hostCommand(state, request);
  // A request that cannot be made is skipped, and one the host refuses leaves it as it was (QEMU goes on).
  if (command === null) return phaseDone(state, op, noCosts, [], detail);
  const phased = command.kind === 'mapDma' || command.kind === 'unmapDma' ? { ...command, phased: true } : command;
  const run = hostPhase(state, config, phased as PassthroughCommand);
  const hostBusy = run.ok && vmmHostOp(run.host) >= 0;
  return phaseDone({ ...state, host: run.host }, { ...op, hostBusy }, run.costs, run.accesses, detail);
}

/** The invalidation in flight run to its end (before the VMM takes another trap). */
export function finishInvalidation(state: ViommuState, config: ViommuConfig): PhaseResult {
  let current = state;
  let costs = noCosts;
  const accesses: DmaAccess[] = [];
  for (let guard = 0; guard < 10_000; guard++) {
    const op = current.inflight[0];
    if (op === undefined) break;
    const phase = advanceInvalidation(current, config, op);
    current = phase.state;
    costs = addCosts(costs, phase.result.costs);
    accesses.push(...phase.result.accesses);
  }
  return { state: current, result: { ok: true, detail: {}, accesses, costs } };
}

/** Who runs a command: the guest's vCPUs, the VMM, the device, the other VM. */
export function actorOfViommuCommand(state: ViommuState, command: ViommuCommand): string {
  switch (command.kind) {
    case 'advance':
      return 'VMM';
    case 'guestInvalidate':
    case 'guestInvalidateContext':
    case 'guestInvalidatePasidCache':
    case 'guestInvalidatePiotlb':
    case 'guestSetTranslation':
    case 'guestBalloonOut':
    case 'guestBalloonIn':
      return 'guest vCPU0';
    case 'guestMap':
    case 'guestUnmap':
    case 'guestTouch':
    case 'guestDetach':
    case 'guestAttach':
    case 'guestClearPasid':
    case 'guestSetupPasid':
      // With vCPU0's invalidation in flight, another vCPU writes the table.
      return state.inflight.length > 0 ? 'guest vCPU1' : 'guest vCPU0';
    case 'vmmDiscard':
      return 'VMM (mm)';
    case 'allocateToOther':
    case 'releaseFromOther':
      return 'other VM';
    case 'deviceDma':
      return 'device 0';
  }
}

/** The phase an invalidation in flight runs next, in QEMU's and VFIO's words. */
export function nextInvalidationPhase(state: ViommuState, op: InvalidationOp): string {
  if (op.hostBusy) {
    const hostOp = state.host.vfio.inflight[vmmHostOp(state.host)];
    return hostOp === undefined ? 'host ioctl' : `${hostOp.kind} ${nextPhaseOf(hostOp)}`;
  }
  const next = op.requests[0];
  if (next === undefined) return 'end';
  return next.kind === 'completeWait' ? 'vtd_process_wait_desc' : next.kind;
}
