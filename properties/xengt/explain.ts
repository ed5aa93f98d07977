/**
 * What `dmaprop replay` shows around each XenGT step: the frames the step touched (owner,
 * reference count, holders), the GTT entry it used (guest view, shadow, where DMA lands), and
 * for the mediator's commands its DMA cache, shadow tables and write-protected pages.
 */
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import { xenGtHost } from '../../models/xengt/host.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { Transition } from '../../src/design.js';
import { describeHolders, holdersByFrame, ownerName } from './views.js';

function describeFrame(state: XenGtState, mfn: number): string {
  const frame = state.xen.memory.frames[mfn];
  if (frame === undefined) return `mfn ${mfn}: no such frame`;
  const holders = holdersByFrame(state.xen)[mfn] ?? [];
  return `mfn ${mfn}: ${frame.owner === null ? 'free' : `owned by ${ownerName(frame.owner)}`}, refcount ${frame.refcount}, held by ${describeHolders(holders)}`;
}

/** Where a GPU access through the vGPU's GTT entry lands now: a frame, `scratch` or `fault`. */
function gttTarget(state: XenGtState, config: XenGtConfig, entry: number): number | 'scratch' | 'fault' | null {
  const shadow = state.vgpu?.ggttHost[entry];
  if (shadow === undefined) return null;
  if (shadow.kind !== 'dma') return 'scratch';
  return xenGtHost(config).translate(state, shadow.dmaAddr) ?? 'fault';
}

function describeGttEntry(state: XenGtState, config: XenGtConfig, entry: number): string | null {
  const vgpu = state.vgpu;
  if (vgpu === null) return 'no vGPU';
  const guest = vgpu.ggttGuest[entry];
  const shadow = vgpu.ggttHost[entry];
  const target = gttTarget(state, config, entry);
  if (guest === undefined || shadow === undefined || target === null) return null;
  const view = guest.present ? `gfn ${guest.gfn}` : 'not present';
  const shadowText = shadow.kind === 'dma' ? `DMA address ${shadow.dmaAddr}` : shadow.kind;
  const lands = typeof target === 'number' ? `mfn ${target}` : target;
  return `GTT entry ${entry}: guest ${view}, shadow ${shadowText}, DMA lands in ${lands}`;
}

/** The mediator's state after a step of its own: DMA cache, shadow tables, write protection. */
function describeMediator(state: XenGtState): string[] {
  const vgpu = state.vgpu;
  if (vgpu === null) return ['no vGPU'];
  const cache = Object.values(vgpu.cache).map((entry) => `gfn ${entry.gfn} → ${entry.dmaAddr} (kref ${entry.kref})`);
  const tables = Object.values(vgpu.spts).map((spt) => `gfn ${spt.gfn} (${spt.level}, refcount ${spt.refcount})`);
  return [
    `DMA cache: ${cache.join(', ') || 'empty'}`,
    `shadow tables: ${tables.join(', ') || 'none'}; write-protected gfns: ${state.writeProtected.join(', ') || 'none'}${vgpu.failsafe ? '; vGPU in failsafe mode' : ''}`,
  ];
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
      const target = state === null ? null : gttTarget(state, config, command.entry);
      if (typeof target === 'number') mfns.add(target);
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
  if (command !== null && !('domid' in command) && !('entry' in command) && !('mapperDomid' in command)) {
    lines.push(...describeMediator(after));
  }
  return lines;
}
