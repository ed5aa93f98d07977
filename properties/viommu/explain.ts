/**
 * What `dmaprop replay` shows around a step of the vIOMMU stack: where a DMA landed and how it was
 * translated, the frames the step touched (owner, reference count, holders), the guest's vIOMMU
 * table and balloon, what the shadow VMM has mapped, and the host IOTLB (stale entries marked).
 */
import { staleIotlbEntries } from '../../models/iommu/views.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { ViommuCommand, ViommuResult, ViommuState } from '../../models/viommu/types.js';
import { shadowedEntries } from '../../models/viommu/vmm.js';
import { describePassthroughHolder, passthroughFrameHolders } from '../../models/passthrough/views.js';
import type { Transition } from '../../src/design.js';
import { describeFrameHeld } from '../vfio/explain.js';

function describeFrame(state: ViommuState, mfn: number): string {
  const holders = passthroughFrameHolders(state.host)[mfn] ?? [];
  return describeFrameHeld(state.host.vfio, mfn, holders, describePassthroughHolder);
}

/** Frames a step names: where a DMA landed, the frame behind the GPA page it worked on (before and after). */
function touchedFrames(transition: Transition<ViommuState, ViommuCommand>): number[] {
  const { before, command, after } = transition;
  const result = transition.result as ViommuResult | null;
  const mfns = new Set<number>();
  for (const access of result?.accesses ?? []) if (access.mfn !== null) mfns.add(access.mfn);
  if (command !== null && 'gpaPage' in command) {
    for (const state of [before, after]) {
      const mfn = state?.host.vfio.process.pages[after.guestRam.vaddrPage + command.gpaPage]?.mfn;
      if (mfn !== undefined && mfn !== null) mfns.add(mfn);
    }
  }
  return [...mfns].sort((left, right) => left - right);
}

export function explainViommuStep(transition: Transition<ViommuState, ViommuCommand>): string[] {
  const { command, after } = transition;
  const result = transition.result as ViommuResult | null;
  const lines: string[] = [];
  if (command?.kind === 'deviceDma' && result?.ok === true) {
    const via = result.detail?.['via'];
    lines.push(`translated via ${typeof via === 'string' ? via : 'none'}`);
  }
  lines.push(...touchedFrames(transition).map((mfn) => describeFrame(after, mfn)));
  const entries = Object.entries(after.guest.table);
  if (entries.length > 0) {
    const listed = entries.map(([page, entry]) => `${page} → GPA ${entry.gpaPage} ${entry.write ? 'rw' : 'r-'}`);
    lines.push(`guest vIOMMU table: ${listed.join(', ')}`);
  }
  if (after.guest.ballooned.length > 0) lines.push(`balloon holds GPA pages ${after.guest.ballooned.join(', ')}`);
  // The device's life (models/viommu/lifecycle.ts): its context (scalable mode: RID_PASID) entry, and what the VMM last synced.
  if (after.scalable) {
    if (after.guest.did !== GUEST_DID || after.guest.retired.length > 0) {
      const entry = after.guest.did === null ? 'cleared' : `DID ${after.guest.did}`;
      const retired =
        after.guest.retired.length > 0 ? `; earlier domains' GIOVA pages ${after.guest.retired.join(', ')}` : '';
      lines.push(`device RID_PASID entry: ${entry}${retired}`);
    }
  } else if (after.guest.did !== after.contextCache || after.guest.contextPending || after.guest.retired.length > 0) {
    const entry = after.guest.did === null ? 'cleared' : `DID ${after.guest.did}`;
    const cached = after.contextCache === null ? 'cleared' : `DID ${after.contextCache}`;
    const pending = after.guest.contextPending ? ', not yet invalidated' : '';
    const retired =
      after.guest.retired.length > 0 ? `; earlier domains' GIOVA pages ${after.guest.retired.join(', ')}` : '';
    lines.push(`device context entry: ${entry}${pending} (VMM cached ${cached})${retired}`);
  }
  // Scalable mode (models/viommu/pasid.ts): the VMM's PASID cache, and what the guest owes its writes.
  if (after.scalable) {
    const cache = after.pasidCache;
    const cached = cache === null ? 'empty' : `DID ${cache.did}${cache.current ? '' : ', older than guest memory'}`;
    const flush = after.guest.pasidFlush;
    const owed =
      flush === null
        ? ''
        : `; the guest owes ${flush.stage === 'pasid-cache' ? 'a PASID-cache and then an IOTLB' : 'an IOTLB'} invalidation (DIDs ${flush.dids.join(', ')})`;
    lines.push(`VMM PASID cache of the RID_PASID entry: ${cached}${owed}`);
  }
  if (after.nestedDid === null) {
    for (const [giovaPage, entry] of shadowedEntries(after)) {
      lines.push(`VMM has mapped GIOVA page ${giovaPage} → GPA ${entry.gpaPage} (VFIO mapping)`);
    }
  }
  const stale = new Set(staleIotlbEntries(after.host.iommu).map((entry) => entry.index));
  after.host.iommu.iotlb.forEach((entry, index) => {
    if (entry.kind === 'not-present') return;
    const through = entry.kind === 'nested' ? ` (combined, through GPA page ${entry.gpaPage})` : '';
    lines.push(
      `host IOTLB (DID ${entry.domainId}): GIOVA page ${entry.iovaPage} → mfn ${entry.frame}${through}${stale.has(index) ? ' (stale)' : ''}`,
    );
  });
  return lines;
}
