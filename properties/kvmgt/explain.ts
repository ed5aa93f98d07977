/** What `dmaprop replay` shows around one KVMGT step: the vGPU's shadow, its cache and what it reaches. */
import type { KvmgtConfig } from '../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import type { Transition } from '../../src/design.js';
import { hex, ownerName, reachedFrames } from './views.js';
import { phaseOf } from '../../models/gvt/inflight.js';
import { actorOfOp } from '../../models/kvmgt/schedule.js';

export function explainKvmgtStep(config: KvmgtConfig, { after }: Transition<KvmgtState, KvmgtCommand>): string[] {
  const vgpu = after.vgpu;
  if (vgpu === null) return ['no vGPU'];
  const lines: string[] = [];
  const cache = Object.values(vgpu.cache).map(
    (entry) => `gfn ${entry.gfn} → ${hex(entry.dmaAddr)} (kref ${entry.kref})`,
  );
  lines.push(`DMA cache: ${cache.join(', ') || 'empty'}`);
  const reached = reachedFrames(after, config).map((use) => {
    const owner = use.mfn === null ? null : (after.vfio.memory.frames[use.mfn]?.owner ?? null);
    return `${use.where} → ${hex(use.dmaAddr)} → ${use.mfn === null ? 'fault' : `mfn ${use.mfn} (${ownerName(owner)})`}`;
  });
  lines.push(`shadow leaves: ${reached.join('; ') || 'none'}`);
  const tables = Object.values(vgpu.spts).map((spt) => `gfn ${spt.gfn} (${spt.level}, refcount ${spt.refcount})`);
  lines.push(
    `shadow tables: ${tables.join(', ') || 'none'}; write-protected gfns: ${after.writeProtected.join(', ') || 'none'}`,
  );
  if (vgpu.failsafe) lines.push('vGPU in failsafe mode');
  const inflight = after.inflight.map((op) => `${actorOfOp(op)}: ${op.kind}, next ${phaseOf(op)}`);
  if (inflight.length > 0) lines.push(`in flight: ${inflight.join('; ')}`);
  return lines;
}
