/**
 * Command submission (`cmd_parser.c`, `scheduler.c`, docs/reference/gvt-kvmgt.md §4.8). The guest submits a
 * privileged batch buffer by its graphics address; the scanner audits every command — a GGTT
 * operand must lie in the vGPU's ranges, forbidden or unknown commands are refused — and a
 * malicious buffer puts the vGPU in failsafe mode. With `shadow-copy` the scanner works on a host
 * copy and the GPU executes that copy; with `scan-in-place` both read the guest's buffer, so a
 * guest store between the scan and the execution runs unaudited commands.
 *
 * The submission is the guest's MMIO write to the execlist port, which never fails for the
 * guest: a rejected workload is reported in the result's detail, not as an errno.
 *
 * A zero qword is MI_NOOP. A batch without MI_BATCH_BUFFER_END ends with its page (the parser
 * would read on into the next page).
 *
 * Left out: the ring buffer (the guest submits one batch buffer start), second-level batches,
 * register commands (LRI/LRM/SRM) and their allow-lists, PPGTT batches, multiple engines.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import { hasGvtBug, ownsGgttIndex } from './config.js';
import { accessThrough, ggttEntryForGpu } from './gpu.js';
import type { HostGgtt } from './gpu.js';
import type { GvtHost } from './host.js';
import { flushPostShadow } from './ppgtt.js';
import type { SubmitOp } from './inflight.js';
import type { GpuAccess, GuestQword, GvtVgpu, GvtWorld } from './types.js';

/** MI_NOOP: a zero qword. */
const NOOP: GuestQword = { kind: 'pte', present: false, gfn: 0 };

function isBatchEnd(qword: GuestQword | undefined): boolean {
  return qword?.kind === 'cmd' && qword.op === 'end';
}

/** The commands up to and including the batch end (or the end of the page). */
function batchCommands(page: readonly GuestQword[]): GuestQword[] {
  const commands: GuestQword[] = [];
  for (const qword of page) {
    commands.push(qword);
    if (qword.kind === 'cmd' && qword.op === 'end') break;
  }
  return commands;
}

/** The scanner's verdict on a batch: null when every command is allowed, else the errno. */
function scan(config: GvtConfig, commands: readonly GuestQword[]): string | null {
  for (const [position, qword] of commands.entries()) {
    if (position > 0 && hasGvtBug(config, 'scan-audits-first-only')) return null;
    // A zero qword is MI_NOOP; any other page-table-like value is no command the parser knows.
    if (qword.kind === 'pte') {
      if (qword.present) return 'EBADRQC';
      continue;
    }
    if (qword.op === 'forbidden') return 'EBADRQC';
    if (qword.op === 'end') return null;
    if (!ownsGgttIndex(config.layout, qword.ggttIndex)) return 'EFAULT';
  }
  return null;
}

/**
 * How a batch is shadowed: `copy-then-scan` (cmd_parser.c as shipped: `find_bb_size` walks the
 * guest's buffer, `perform_bb_shadow` copies that many bytes and checks the terminator again in
 * the copy, and the copy is scanned and run) or `scan-then-copy` (a flawed ordering: the guest's
 * buffer is audited in place, then copied for the GPU — read twice, the second time unaudited).
 */
export type ShadowOrder = 'copy-then-scan' | 'scan-then-copy';

/** The first phase of a submission: done (refused, rejected or queued), or the buffer's second read still to come. */
export type SubmitStart =
  { readonly result: OpResult; readonly op: null } | { readonly result: OpResult; readonly op: Omit<SubmitOp, 'vcpu'> };

function reject(vgpu: GvtVgpu, rejected: string): OpResult {
  vgpu.failsafe = true;
  return succeed({ rejected, failsafe: true });
}

function queue(vgpu: GvtVgpu, batchGfn: number, shadowCopy: readonly GuestQword[] | null): OpResult {
  vgpu.workloads.push({ batchGfn, shadowCopy });
  return succeed({ queued: vgpu.workloads.length, batchGfn });
}

/**
 * The guest submits the privileged batch at GGTT index `ggttIndex` (its ELSP write, emulated under
 * the vGPU lock). Post-shadow entries are flushed first; a buffer the guest's GGTT does not map
 * sends the vGPU to failsafe. In place, the buffer is scanned and queued; with a shadow copy, its
 * first read (sizing, or the in-place audit) is done and the second left to `finishSubmit`.
 */
export function startSubmit<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly ggttIndex: number },
  order: ShadowOrder,
): SubmitStart {
  const vgpu = world.vgpu;
  if (vgpu === null) return { result: fail('ENODEV'), op: null };
  if (vgpu.failsafe) return { result: succeed({ rejected: 'failsafe' }), op: null };
  // Before dispatch: partially written page-table entries are shadowed in full.
  flushPostShadow(world, host, config);
  const entry = vgpu.ggttGuest[args.ggttIndex];
  const page =
    ownsGgttIndex(config.layout, args.ggttIndex) && entry?.present === true ? host.readGuest(world, entry.gfn) : null;
  if (entry === undefined || page === null) return { result: reject(vgpu, 'EFAULT'), op: null };
  const commands = batchCommands(page);
  const sized = { lengthQwords: commands.length, ended: isBatchEnd(commands.at(-1)) };
  if (config.cmdbuf === 'shadow-copy' && order === 'copy-then-scan') {
    const op = {
      kind: 'submitBatch',
      ggttIndex: args.ggttIndex,
      batchGfn: entry.gfn,
      phase: 'copy',
      ...sized,
    } as const;
    return { result: succeed({ sized: sized.lengthQwords, batchGfn: entry.gfn }), op: { ...op, scanned: false } };
  }
  const verdict = scan(config, commands);
  if (verdict !== null) return { result: reject(vgpu, verdict), op: null };
  if (config.cmdbuf === 'scan-in-place') return { result: queue(vgpu, entry.gfn, null), op: null };
  const op = { kind: 'submitBatch', ggttIndex: args.ggttIndex, batchGfn: entry.gfn, phase: 'copy', ...sized } as const;
  return { result: succeed({ scanned: sized.lengthQwords, batchGfn: entry.gfn }), op: { ...op, scanned: true } };
}

/**
 * The second read of a shadowed batch: the guest's buffer copied (as many qwords as the first read
 * found), its terminator checked again in the copy (EBADRQC when the guest moved it), the copy
 * scanned unless the buffer was audited in place, and queued.
 */
export function finishSubmit<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  op: SubmitOp,
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const page = host.readGuest(world, op.batchGfn);
  if (page === null) return reject(vgpu, 'EFAULT');
  const copy = Array.from({ length: op.lengthQwords }, (_, index): GuestQword => page[index] ?? NOOP);
  if (op.scanned) return queue(vgpu, op.batchGfn, copy);
  if (op.ended && !isBatchEnd(copy.at(-1))) return reject(vgpu, 'EBADRQC');
  const verdict = scan(config, copy);
  if (verdict !== null) return reject(vgpu, verdict);
  return queue(vgpu, op.batchGfn, batchCommands(copy));
}

/** The guest submits a batch, scanned and queued at once. */
export function submitBatch<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly ggttIndex: number },
): OpResult {
  const started = startSubmit(world, host, config, args, 'copy-then-scan');
  return started.op === null ? started.result : finishSubmit(world, host, config, { ...started.op, vcpu: 0 });
}

/** The GPU runs the oldest queued workload: each store writes the page its GGTT operand maps. */
export function executeWorkload<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  hostGgtt: HostGgtt<W>,
): { readonly result: OpResult; readonly accesses: GpuAccess[] } {
  const vgpu = world.vgpu;
  if (vgpu === null) return { result: fail('ENODEV'), accesses: [] };
  const workload = vgpu.workloads[0];
  if (workload === undefined) return { result: fail('ENOENT'), accesses: [] };
  vgpu.workloads = vgpu.workloads.slice(1);
  // In place, the GPU reads the guest's buffer as it is now.
  const commands = workload.shadowCopy ?? batchCommands(host.readGuest(world, workload.batchGfn) ?? []);
  const accesses: GpuAccess[] = [];
  for (const qword of commands) {
    if (qword.kind !== 'cmd' || qword.op !== 'store') continue;
    const pte = ggttEntryForGpu(world, config, hostGgtt, qword.ggttIndex);
    accesses.push(accessThrough(world, host, pte, `ggtt ${qword.ggttIndex}`, true));
  }
  return { result: succeed({ executed: commands.length, batchGfn: workload.batchGfn }), accesses };
}
