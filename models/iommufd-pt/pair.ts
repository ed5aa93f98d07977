/**
 * The type1 ↔ iommufd differential pair: one VMM program of VFIO container ioctls (SET_CONTAINER,
 * SET_IOMMU, the device's open, MAP_DMA, UNMAP_DMA with UNMAP_ALL, GET_INFO, CHECK_EXTENSION), the
 * VMM's mmap/munmap and the assigned device's DMA, run on the type1 passthrough stack
 * (models/passthrough: VFIO type1 over VT-d) and on iommufd's VFIO compatibility layer over VT-d
 * (this stack, opened as /dev/vfio/vfio) side by side. Each operation's outcome on each side is
 * reported in words for the differential invariant to compare: `ok`, `refused E`, the bytes an
 * unmap removed, an extension's value, the usable IOVA ranges, and for a DMA the VMM vaddr page
 * whose frame it landed in (frames themselves are not comparable: type1 populates the guest's RAM
 * at start and pins at MAP_DMA, iommufd faults pages in when it pins them), or `fault`.
 *
 * Where the two are documented to differ (docs/reference/iommufd.md §6.2), the design declares the
 * difference (`DeclaredDifference`): an operation whose outcomes differ as declared is accepted;
 * one whose difference leaves the two states apart (the compat layer cut an area type1 kept whole,
 * unmapped what type1 refused to touch) marks the pair `diverged`, and outcomes are no longer
 * compared from there on (the steps are still run, and counted).
 *
 * The VMM program follows the order a VMM uses (`vmmRefusal`): the group joins the container once;
 * the device is opened once, after SET_IOMMU; the device DMAs once it is open; MAP_DMA and
 * UNMAP_DMA are issued before the group joins (both refuse: no backend) or once the device is open.
 * (Between SET_CONTAINER and the device's open iommufd has no domain and pins nothing, type1 has
 * one from SET_IOMMU and pins at MAP_DMA: a VMM does not map in between, and the two would differ in
 * when a bad vaddr is reported, not in isolation.)
 */
import { deepEqual } from '../deep-equal.js';
import type { OpResult } from '../result.js';
import { stepPassthrough } from '../passthrough/step.js';
import type { PassthroughCommand, PassthroughConfig, PassthroughState } from '../passthrough/types.js';
import type { VfioState } from '../vfio/types.js';
import type { IommufdCommand } from '../iommufd/commands.js';
import type { IommufdState } from '../iommufd/types.js';
import { type1Backend } from '../vfio/state.js';
import { stepIommufdPt } from './step.js';
import { type1CheckExtension, type1GetInfo } from './type1-queries.js';
import type { IommufdPtCommand, IommufdPtConfig, IommufdPtState } from './types.js';

/** One operation of the VMM program (JSON-safe; u64 ioctl arguments are decimal strings). */
export type VmmOp =
  /**
   * The VMM's start-up in one: SET_CONTAINER, SET_IOMMU(type), the device's open (QEMU's
   * vfio_connect_container, then the device fd) — its first `steps` of them (1 to 3).
   */
  | { readonly kind: 'startVm'; readonly type: number; readonly steps: number }
  | { readonly kind: 'setContainer' }
  | { readonly kind: 'setIommu'; readonly type: number }
  | { readonly kind: 'openDevice' }
  | {
      readonly kind: 'mapDma';
      readonly argsz: number;
      readonly flags: number;
      readonly vaddr: string;
      readonly iova: string;
      readonly sizeBytes: string;
    }
  | {
      readonly kind: 'unmapDma';
      readonly argsz: number;
      readonly flags: number;
      readonly iova: string;
      readonly sizeBytes: string;
    }
  | { readonly kind: 'getInfo'; readonly argsz: number }
  | { readonly kind: 'checkExtension'; readonly extension: number }
  | { readonly kind: 'mmap'; readonly vaddrPage: number; readonly npages: number; readonly writable: boolean }
  | { readonly kind: 'munmap'; readonly vaddrPage: number; readonly npages: number }
  | { readonly kind: 'dma'; readonly iovaPage: number; readonly write: boolean };

export type VmmOpKind = VmmOp['kind'];

/** What the VMM has done so far, as the VMM itself keeps track (its program's order). */
export interface VmmProgress {
  readonly groupSet: boolean;
  readonly iommuSet: boolean;
  readonly deviceOpen: boolean;
}

export interface Type1IommufdPairState {
  readonly type1: PassthroughState;
  readonly iommufd: IommufdPtState;
  readonly vmm: VmmProgress;
  /** The declared difference after which the two sides no longer hold the same mappings; null: in step. */
  readonly diverged: string | null;
}

/**
 * A documented difference between type1 and the iommufd compat layer: which request (`kind` and
 * `when`), and what each side answers (`type1`, `iommufd`: outcomes as reported, or prefixes of
 * them ending in `*`). Whether the two states are apart afterwards is not declared but seen: their
 * mappings (`mappingsOf`) differ.
 */
export interface DeclaredDifference {
  readonly id: string;
  /** The request, in words (a row of docs/reference/iommufd.md §6.2). */
  readonly request: string;
  /** Where the difference comes from in the sources. */
  readonly source: string;
  readonly kind: VmmOpKind;
  /** Further conditions on the request and the state before it (true when absent). */
  readonly when?: (op: VmmOp, before: Type1IommufdPairState) => boolean;
  readonly type1: string;
  readonly iommufd: string;
}

export interface Type1IommufdPairConfig {
  readonly type1: PassthroughConfig;
  readonly iommufd: IommufdPtConfig;
  readonly differences: readonly DeclaredDifference[];
}

/** Why the VMM would not issue `op` now (its program's order), or null. */
export function vmmRefusal(vmm: VmmProgress, op: VmmOp): string | null {
  switch (op.kind) {
    case 'startVm':
    case 'setContainer':
      return vmm.groupSet ? 'the group is already in the container' : null;
    case 'openDevice':
      if (vmm.deviceOpen) return 'the device is already open';
      return vmm.iommuSet ? null : 'SET_IOMMU has not succeeded';
    case 'dma':
      return vmm.deviceOpen ? null : 'the device is not open';
    case 'mapDma':
    case 'unmapDma':
      return !vmm.groupSet || vmm.deviceOpen ? null : 'the device is not open yet';
    case 'setIommu':
    case 'getInfo':
    case 'checkExtension':
    case 'mmap':
    case 'munmap':
      return null;
  }
}

function refusedWith(result: OpResult): string {
  return `refused ${String(result.error)}`;
}

/** The vaddr page whose frame `mfn` is, in the process's memory, or how the frame stands. */
function frameName(pages: VfioState['process']['pages'], mfn: number, owner: unknown): string {
  for (const [vaddrPage, page] of Object.entries(pages)) if (page.mfn === mfn) return `vaddr page ${vaddrPage}`;
  return owner === null || owner === undefined ? 'a free frame' : `a frame of owner ${String(owner)} no vaddr maps`;
}

function type1Command(op: VmmOp): PassthroughCommand | null {
  switch (op.kind) {
    case 'startVm':
      return null;
    case 'setContainer':
      return { kind: 'groupSetContainer', groupId: 0 };
    case 'setIommu':
      return { kind: 'setIommu', type: op.type };
    case 'openDevice':
      return { kind: 'openDevice', deviceId: 0 };
    case 'mapDma':
      return {
        kind: 'mapDma',
        argsz: op.argsz,
        flags: op.flags,
        vaddr: op.vaddr,
        iova: op.iova,
        sizeBytes: op.sizeBytes,
      };
    case 'unmapDma':
      return { kind: 'unmapDma', argsz: op.argsz, flags: op.flags, iova: op.iova, sizeBytes: op.sizeBytes };
    case 'mmap':
      return { kind: 'mmap', vaddrPage: op.vaddrPage, npages: op.npages, writable: op.writable };
    case 'munmap':
      return { kind: 'munmap', vaddrPage: op.vaddrPage, npages: op.npages };
    case 'dma':
      return { kind: 'deviceDma', deviceId: 0, addressPage: op.iovaPage, write: op.write };
    case 'getInfo':
    case 'checkExtension':
      return null;
  }
}

interface SideRun<S> {
  readonly state: S;
  readonly outcome: string;
  readonly ok: boolean;
}

function runType1(state: PassthroughState, config: PassthroughConfig, op: VmmOp): SideRun<PassthroughState> {
  if (op.kind === 'checkExtension') {
    const result = type1CheckExtension(state.vfio, op.extension);
    return { state, outcome: `value ${String(result.detail?.['value'])}`, ok: true };
  }
  if (op.kind === 'getInfo') {
    const result = type1GetInfo(state.vfio, op.argsz);
    if (!result.ok) return { state, outcome: refusedWith(result), ok: false };
    return { state, outcome: infoOutcome(op.argsz, String(result.detail?.['iovaRanges'])), ok: true };
  }
  const command = type1Command(op);
  if (command === null) return { state, outcome: 'refused EINVAL', ok: false };
  const step = stepPassthrough(state, config, command);
  if (!step.result.ok) return { state, outcome: refusedWith(step.result), ok: false };
  if (op.kind === 'unmapDma')
    return { state: step.state, outcome: `ok size ${String(step.result.detail?.['sizeBytes'])}`, ok: true };
  if (op.kind === 'dma') {
    const access = step.result.accesses[0];
    const outcome =
      access?.outcome === 'landed' && access.mfn !== null
        ? frameName(step.state.vfio.process.pages, access.mfn, access.owner)
        : 'fault';
    return { state: step.state, outcome, ok: true };
  }
  return { state: step.state, outcome: 'ok', ok: true };
}

/** GET_INFO's outcome: the ranges when the caller's buffer holds the IOVA_RANGE cap (argsz ≥ 256). */
function infoOutcome(argsz: number, ranges: string): string {
  return argsz >= 256 ? `ok ranges ${ranges}` : 'ok';
}

function iommufdCommand(op: Exclude<VmmOp, { kind: 'startVm' }>): IommufdPtCommand {
  switch (op.kind) {
    case 'setContainer':
      return { kind: 'vfioGroupSetContainer' };
    case 'setIommu':
      return { kind: 'vfioSetIommu', type: op.type };
    case 'openDevice':
      return { kind: 'vfioGroupOpenDevice', deviceIndex: 0 };
    case 'mapDma':
      return {
        kind: 'vfioMapDma',
        argsz: op.argsz,
        flags: op.flags,
        vaddr: op.vaddr,
        iova: op.iova,
        sizeBytes: op.sizeBytes,
      };
    case 'unmapDma':
      return { kind: 'vfioUnmapDma', argsz: op.argsz, flags: op.flags, iova: op.iova, sizeBytes: op.sizeBytes };
    case 'getInfo':
      return { kind: 'vfioGetInfo', argsz: op.argsz };
    case 'checkExtension':
      return { kind: 'vfioCheckExtension', extension: op.extension };
    case 'mmap':
      return {
        kind: 'mmap',
        vaddrPage: op.vaddrPage,
        npages: op.npages,
        writable: op.writable,
      } satisfies IommufdCommand;
    case 'munmap':
      return { kind: 'munmap', vaddrPage: op.vaddrPage, npages: op.npages };
    case 'dma':
      return { kind: 'deviceDma', deviceIndex: 0, iovaPage: op.iovaPage, write: op.write };
  }
}

function runIommufd(
  state: IommufdPtState,
  config: IommufdPtConfig,
  op: Exclude<VmmOp, { kind: 'startVm' }>,
): SideRun<IommufdPtState> {
  const step = stepIommufdPt(state, config, iommufdCommand(op));
  const kept = step.result.ok ? step.state : step.result.detail?.['partial'] === true ? step.state : state;
  if (!step.result.ok) return { state: kept, outcome: refusedWith(step.result), ok: false };
  const detail = step.result.detail ?? {};
  switch (op.kind) {
    case 'unmapDma':
      return { state: kept, outcome: `ok size ${String(detail['sizeBytes'])}`, ok: true };
    case 'checkExtension':
      return { state: kept, outcome: `value ${String(detail['value'])}`, ok: true };
    case 'getInfo': {
      // The ranges as iommufd copied them when the buffer held them all.
      return { state: kept, outcome: infoOutcome(op.argsz, String(detail['iovaRanges'])), ok: true };
    }
    case 'dma': {
      const mfn = detail['mfn'];
      const outcome =
        detail['outcome'] === 'landed' && typeof mfn === 'number'
          ? frameName(kept.iommufd.process.pages, mfn, detail['owner'])
          : 'fault';
      return { state: kept, outcome, ok: true };
    }
    case 'setContainer':
    case 'setIommu':
    case 'openDevice':
    case 'mapDma':
    case 'mmap':
    case 'munmap':
      return { state: kept, outcome: 'ok', ok: true };
  }
}

/**
 * The VMM's start-up as one operation: its three steps in order, each compared as it would be on
 * its own; the outcomes joined. It stops at the first step either side refuses.
 */
function startVm(state: Type1IommufdPairState, config: Type1IommufdPairConfig, type: number, count: number): PairStep {
  const all: VmmOp[] = [{ kind: 'setContainer' }, { kind: 'setIommu', type }, { kind: 'openDevice' }];
  const steps = all.slice(0, Math.max(1, Math.min(3, count)));
  let current = state;
  const details: Record<string, string | boolean>[] = [];
  for (const op of steps) {
    const step = stepType1IommufdPair(current, config, op);
    details.push(
      Object.fromEntries(
        Object.entries(step.result.detail ?? {}).map(([key, value]) => [
          key,
          typeof value === 'boolean' ? value : String(value),
        ]),
      ),
    );
    current = step.state;
    const sides = step.result.detail ?? {};
    if (!step.result.ok || sides['type1'] !== 'ok' || sides['iommufd'] !== 'ok') break;
  }
  const joined = (side: string): string => details.map((detail) => String(detail[side] ?? '')).join('; ');
  const detail: Record<string, string | boolean> = {
    type1: joined('type1'),
    iommufd: joined('iommufd'),
    compared: state.diverged === null,
  };
  for (const key of ['undeclared', 'declared', 'mappingsApart']) {
    const found = details.find((one) => one[key] !== undefined)?.[key];
    if (found !== undefined) detail[key] = found;
  }
  if (current === state) return { state, result: { ok: false, error: 'EINVAL', detail } };
  return { state: current, result: { ok: true, detail } };
}

/** The container's mappings, page by page: `iova→vaddr prot`, in IOVA order. */
export function mappingsOf(vfio: VfioState): string {
  const pages: string[] = [];
  for (const dma of type1Backend(vfio)?.dmas ?? []) {
    const prot = `${dma.read ? 'r' : '-'}${dma.write ? 'w' : '-'}`;
    for (let i = 0; i < dma.npages; i++) pages.push(`${dma.iovaPage + i}→${dma.vaddrPage + i} ${prot}`);
  }
  return pages.join(', ');
}

/** The compat IOAS's areas, page by page, in the same words. */
export function compatMappingsOf(state: IommufdState): string {
  const ioas = state.vfioIoasId === null ? undefined : state.objects[state.vfioIoasId];
  if (ioas?.type !== 'ioas') return '';
  const pages: string[] = [];
  for (const area of ioas.areas) {
    const vaddrPage = (state.pages[area.pagesId]?.vaddrPage ?? 0) + area.pageIndex;
    const prot = `${area.read ? 'r' : '-'}${area.write ? 'w' : '-'}`;
    for (let i = 0; i < area.npages; i++) pages.push(`${area.iovaPage + i}→${vaddrPage + i} ${prot}`);
  }
  return pages.join(', ');
}

/**
 * One side accepted a request that changed its state (a driver set, a mapping made or removed)
 * while the other refused it: the two are apart even with equal mappings (type1 has a nesting
 * driver iommufd refused; iommufd's compat IOAS went v1 on a second SET_IOMMU type1 refused).
 */
function oneSideChanged(
  before: Type1IommufdPairState,
  type1: SideRun<PassthroughState>,
  iommufd: SideRun<IommufdPtState>,
): boolean {
  if (type1.ok === iommufd.ok) return false;
  return type1.ok
    ? !deepEqual(type1.state.vfio, before.type1.vfio)
    : !deepEqual(iommufd.state.iommufd, before.iommufd.iommufd);
}

function matches(pattern: string, outcome: string): boolean {
  return pattern.endsWith('*') ? outcome.startsWith(pattern.slice(0, -1)) : outcome === pattern;
}

/** The declared difference the two outcomes of `op` are, if any. */
export function declaredDifference(
  differences: readonly DeclaredDifference[],
  op: VmmOp,
  before: Type1IommufdPairState,
  outcome: { readonly type1: string; readonly iommufd: string },
): DeclaredDifference | undefined {
  return differences.find(
    (difference) =>
      difference.kind === op.kind &&
      (difference.when?.(op, before) ?? true) &&
      matches(difference.type1, outcome.type1) &&
      matches(difference.iommufd, outcome.iommufd),
  );
}

export interface PairStep {
  readonly state: Type1IommufdPairState;
  readonly result: OpResult;
}

/**
 * Both sides run the operation. The result's detail: each side's outcome, and when they differ the
 * declared difference (`declared`) or none (`undeclared: true`, unless the pair has diverged:
 * `compared: false`). Refused as a whole when the VMM would not issue it, or both refuse alike.
 */
export function stepType1IommufdPair(
  state: Type1IommufdPairState,
  config: Type1IommufdPairConfig,
  op: VmmOp,
): PairStep {
  const vmmReason = vmmRefusal(state.vmm, op);
  if (vmmReason !== null) return { state, result: { ok: false, error: 'EPERM', detail: { vmm: vmmReason } } };
  if (op.kind === 'startVm') return startVm(state, config, op.type, op.steps);
  const type1 = runType1(state.type1, config.type1, op);
  const iommufd = runIommufd(state.iommufd, config.iommufd, op);
  const outcome = { type1: type1.outcome, iommufd: iommufd.outcome };
  const detail: Record<string, string | boolean> = { ...outcome, compared: state.diverged === null };
  let diverged = state.diverged;
  if (state.diverged === null) {
    const declared =
      type1.outcome === iommufd.outcome ? undefined : declaredDifference(config.differences, op, state, outcome);
    if (type1.outcome !== iommufd.outcome && declared === undefined) detail['undeclared'] = true;
    if (declared !== undefined) detail['declared'] = declared.id;
    const apart = mappingsOf(type1.state.vfio) !== compatMappingsOf(iommufd.state.iommufd);
    if ((apart || oneSideChanged(state, type1, iommufd)) && declared !== undefined) diverged = declared.id;
    else if (apart)
      detail['mappingsApart'] =
        `type1 ${mappingsOf(type1.state.vfio)}; iommufd ${compatMappingsOf(iommufd.state.iommufd)}`;
  }
  const vmm: VmmProgress = {
    groupSet: state.vmm.groupSet || (op.kind === 'setContainer' && type1.ok && iommufd.ok),
    iommuSet: state.vmm.iommuSet || (op.kind === 'setIommu' && type1.ok && iommufd.ok),
    deviceOpen: state.vmm.deviceOpen || (op.kind === 'openDevice' && type1.ok && iommufd.ok),
  };
  if (
    !type1.ok &&
    !iommufd.ok &&
    type1.outcome === iommufd.outcome &&
    type1.state === state.type1 &&
    iommufd.state === state.iommufd
  )
    return { state, result: { ok: false, error: type1.outcome.replace('refused ', ''), detail } };
  return { state: { type1: type1.state, iommufd: iommufd.state, vmm, diverged }, result: { ok: true, detail } };
}
