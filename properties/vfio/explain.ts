/**
 * What `dmaprop replay` shows around each VFIO step: the frames it touched (owner, reference
 * count, every holder), the domain translations it changed, and the device pins it left.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioResult, VfioState } from '../../models/vfio/types.js';
import { describeHolder, frameHolders } from '../../models/vfio/views.js';
import type { Transition } from '../../src/design.js';

/** A frame's owner, reference count and holders, in one line (holders as a stack counts them). */
export function describeFrameHeld<H>(
  state: VfioState,
  mfn: number,
  holders: readonly H[],
  describe: (holder: H) => string,
): string {
  const frame = state.memory.frames[mfn];
  if (frame === undefined) return `mfn ${mfn}: no such frame`;
  const owner =
    frame.owner === null
      ? 'free'
      : frame.owner === state.process.owner
        ? 'owned by the guest'
        : `owned by ${frame.owner}`;
  return `mfn ${mfn}: ${owner}, refcount ${frame.refcount}, held by ${holders.length === 0 ? 'no holder' : holders.map(describe).join(', ')}`;
}

function describeFrame(state: VfioState, mfn: number): string {
  return describeFrameHeld(state, mfn, frameHolders(state)[mfn] ?? [], describeHolder);
}

/** mfns a step names: device accesses, translations it changed, the vaddr pages it touched. */
function touchedFrames(transition: Transition<VfioState, VfioCommand>): number[] {
  const { before, command, after } = transition;
  const result = transition.result as VfioResult | null;
  const mfns = new Set<number>();
  for (const access of result?.accesses ?? []) if (access.mfn !== null) mfns.add(access.mfn);
  for (const effect of result?.effects ?? []) if ('mfn' in effect) mfns.add(effect.mfn);
  const first = result?.detail?.['firstMfn'];
  if (typeof first === 'number') mfns.add(first);
  if (command !== null && 'vaddrPage' in command) {
    const count = 'npages' in command ? command.npages : 1;
    for (const state of [before, after]) {
      for (let page = command.vaddrPage; page < command.vaddrPage + count; page++) {
        const mfn = state?.process.pages[page]?.mfn;
        if (mfn !== undefined && mfn !== null) mfns.add(mfn);
      }
    }
  }
  return [...mfns].sort((left, right) => left - right);
}

export function explainVfioStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const result = transition.result as VfioResult | null;
  const lines = touchedFrames(transition).map((mfn) => describeFrame(transition.after, mfn));
  for (const effect of result?.effects ?? []) {
    if (effect.kind === 'map')
      lines.push(`domain ${effect.domainId}: iova page ${effect.iovaPage} → mfn ${effect.mfn} mapped`);
    if (effect.kind === 'unmap')
      lines.push(`domain ${effect.domainId}: iova page ${effect.iovaPage} (mfn ${effect.mfn}) unmapped`);
  }
  for (const device of transition.after.devices) {
    const pins = Object.entries(device.pins);
    if (pins.length > 0)
      lines.push(
        `device ${device.id} (${device.kind}) pins iova pages ${pins.map(([page, count]) => (count > 1 ? `${page}×${count}` : page)).join(', ')}`,
      );
  }
  return lines;
}
