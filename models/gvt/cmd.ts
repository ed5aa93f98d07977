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
import type { GpuAccess, GuestQword, GvtWorld } from './types.js';

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

export function submitBatch<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly ggttIndex: number },
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  if (vgpu.failsafe) return succeed({ rejected: 'failsafe' });
  // Before dispatch: partially written page-table entries are shadowed in full.
  flushPostShadow(world, host, config);
  const entry = vgpu.ggttGuest[args.ggttIndex];
  const page =
    ownsGgttIndex(config.layout, args.ggttIndex) && entry?.present === true ? host.readGuest(world, entry.gfn) : null;
  if (entry === undefined || page === null) {
    vgpu.failsafe = true;
    return succeed({ rejected: 'EFAULT', failsafe: true });
  }
  const commands = batchCommands(page);
  const verdict = scan(config, commands);
  if (verdict !== null) {
    vgpu.failsafe = true;
    return succeed({ rejected: verdict, failsafe: true });
  }
  vgpu.workloads.push({ batchGfn: entry.gfn, shadowCopy: config.cmdbuf === 'shadow-copy' ? commands : null });
  return succeed({ queued: vgpu.workloads.length, batchGfn: entry.gfn });
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
