/** The state around one step of the Xen passthrough stack, for `dmaprop replay`: a few lines in Xen's words. */
import { ownerName } from '../../models/xen/pci.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { nextPhase } from '../../models/xenpt/step.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { Transition } from '../../src/design.js';
import { explainPvMemory } from './pv-memory.js';
import { describeTarget } from './views.js';

export function explainXenPtStep(transition: Transition<XenPtState, XenPtCommand>): string[] {
  const state = transition.after;
  const lines = state.devices.map(
    (device) =>
      `device ${device.sbdf}: ${ownerName(device.owner)}${device.scratch === null ? '' : `, scratch page ${device.scratch}`}`,
  );
  for (const domain of state.xen.domains) {
    const pending = domain.iommu?.flushPending ?? [];
    const note = pending.length === 0 ? '' : `, dfns awaiting a flush: ${pending.join(', ')}`;
    lines.push(`dom${domain.domid} (${domain.life}): tot_pages ${domain.totPages}${note}`);
  }
  const cached = Object.entries(state.iotlb).map(([key, entry]) => `${key} → ${describeTarget(entry.target)}`);
  if (cached.length > 0) lines.push(`IOTLB: ${cached.join('; ')}`);
  lines.push(...explainPvMemory(state.xen));
  state.inflight.forEach((op, index) => lines.push(`in flight ${index}: ${op.kind}, next ${nextPhase(op)}`));
  return lines;
}
