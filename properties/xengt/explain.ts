/**
 * What `dmaprop replay` shows around each XenGT step: the frames the step touched (owner,
 * reference count, holders) and the GTT entry it used (guest view, shadow, where DMA lands).
 */
import { dmaTarget } from '../../models/xengt/backend.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { Transition } from '../../src/design.js';
import { describeHolders, holdersByFrame, ownerName } from './views.js';

function describeFrame(state: XenGtState, mfn: number): string {
  const frame = state.xen.memory.frames[mfn];
  if (frame === undefined) return `mfn ${mfn}: no such frame`;
  const holders = holdersByFrame(state.xen)[mfn] ?? [];
  return `mfn ${mfn}: ${frame.owner === null ? 'free' : `owned by ${ownerName(frame.owner)}`}, refcount ${frame.refcount}, held by ${describeHolders(holders)}`;
}

function describeGttEntry(state: XenGtState, config: XenGtConfig, entry: number): string | null {
  const vgpu = state.vgpu;
  if (vgpu === null) return 'no vGPU';
  const guest = vgpu.gtt[entry];
  const shadow = vgpu.shadow[entry];
  if (guest === undefined || shadow === undefined) return null;
  const target = dmaTarget(state, config, shadow);
  const view = guest.present ? `gfn ${guest.gfn}` : 'not present';
  const shadowText =
    shadow.kind === 'scratch' ? 'scratch' : shadow.kind === 'mfn' ? `mfn ${shadow.mfn}` : `dfn ${shadow.dfn}`;
  const lands = target.kind === 'frame' ? `mfn ${target.mfn}` : target.kind;
  return `GTT entry ${entry}: guest ${view}, shadow ${shadowText}, DMA lands in ${lands}`;
}

/** mfns a step names or reaches: its result's mfn, the gfn's frame before and after, the GTT entry's target. */
function touchedFrames(transition: Transition<XenGtState, XenGtCommand>, config: XenGtConfig): number[] {
  const { before, command, result, after } = transition;
  const mfns = new Set<number>();
  const fromResult = result?.detail?.['mfn'];
  if (typeof fromResult === 'number') mfns.add(fromResult);
  if (command !== null && 'gfn' in command && 'domid' in command) {
    for (const state of [before, after]) {
      const entry = state?.xen.domains[command.domid]?.p2m[command.gfn];
      if (entry !== undefined) mfns.add(entry.mfn);
    }
  }
  if (command !== null && 'entry' in command) {
    for (const state of [before, after]) {
      const shadow = state?.vgpu?.shadow[command.entry];
      if (state === null || shadow === undefined) continue;
      const target = dmaTarget(state, config, shadow);
      if (target.kind === 'frame') mfns.add(target.mfn);
    }
  }
  return [...mfns].sort((left, right) => left - right);
}

export function explainXenGtStep(config: XenGtConfig, transition: Transition<XenGtState, XenGtCommand>): string[] {
  const { command, after } = transition;
  const lines = touchedFrames(transition, config).map((mfn) => describeFrame(after, mfn));
  if (command !== null && 'entry' in command) {
    const gtt = describeGttEntry(after, config, command.entry);
    if (gtt !== null) lines.push(gtt);
  }
  return lines;
}
