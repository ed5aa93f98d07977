/**
 * A kdump kernel over VT-d (docs/reference/vtd.md §3.14): context entries copied from the crashed
 * kernel, each teardown step's effect, the refusals (state unchanged), and the window between the
 * teardown's invalidation and the rest of it, in which a DMA decides the pre-fix order's fate.
 */
import { describe, expect, it, test } from 'vitest';
import { createDomain } from '../../models/iommu/domain.js';
import { contextCacheFill, contextCacheLookup } from '../../models/iommu/context-cache.js';
import {
  contextCopied,
  copiedContextTearDown,
  copiedTeardownStep,
  copyContextEntry,
  finishCopiedAttach,
  invalidateBeforeClear,
  splitCopiedTeardown,
} from '../../models/iommu/kdump.js';
import { cloneIommuState, createIommuState } from '../../models/iommu/state.js';
import { requestDomainId } from '../../models/iommu/domain.js';
import type { IommuState } from '../../models/iommu/types.js';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import {
  iommuKdumpCopiedContext,
  iommuKdumpInvalidateBeforeClear,
} from '../../properties/passthrough/kdump-designs.js';
import { runTrace } from '../../src/execute.js';

const SID = 0x100;

/** An IOMMU with a context cache, the crashed kernel's domain (DID 1) and the new one (DID 2). */
function copied(caps: Partial<IommuState['caps']> = {}): IommuState {
  const state = createIommuState({ contextCacheEntries: 4, ...caps });
  createDomain(state, { type: 'unmanaged' });
  createDomain(state, { type: 'dma' });
  expect(copyContextEntry(state, { deviceId: SID, domainId: 1 }).ok).toBe(true);
  return state;
}

describe('copied context entries (models/iommu/kdump.ts)', () => {
  it('copy_context_table keeps the entry present and marks the source-id copied', () => {
    const state = copied();
    expect(state.contexts[SID]?.domainId).toBe(1);
    expect(contextCopied(state, SID)).toBe(true);
    expect(requestDomainId(state, SID, null)).toBe(1);
  });

  test.for([
    [{ deviceId: -1, domainId: 1 }, 'EINVAL'],
    [{ deviceId: SID, domainId: 9 }, 'ENOENT'],
    [{ deviceId: SID, domainId: 2 }, 'EBUSY'],
  ] as const)('copyContextEntry(%o) is refused %s, the state unchanged', ([args, errno]) => {
    const state = copied();
    const before = cloneIommuState(state);
    expect(copyContextEntry(state, args)).toMatchObject({ ok: false, error: errno });
    expect(state).toEqual(before);
  });

  it('each step does what its source line does', () => {
    const state = copied();
    contextCacheFill(state, SID, 1);
    state.iotlb = [
      { kind: 'translation', domainId: 1, pasid: null, iovaPage: 508, frame: 15, pages: 1, read: true, write: true },
    ];
    copiedTeardownStep(state, SID, 1, 'invalidate-iotlb');
    expect(state.iotlb).toEqual([]);
    expect(contextCacheLookup(state, SID)?.domainId).toBe(1);
    copiedTeardownStep(state, SID, 1, 'invalidate-context');
    expect(contextCacheLookup(state, SID)).toBeUndefined();
    expect(state.contexts[SID]?.domainId).toBe(1);
    copiedTeardownStep(state, SID, 1, 'clear-present');
    expect(state.contexts[SID]).toBeUndefined();
    // Zeroing a not-present entry changes nothing; the copied mark stays until the attach returns.
    const cleared = cloneIommuState(state);
    copiedTeardownStep(state, SID, 1, 'zero');
    expect(state).toEqual(cleared);
    expect(contextCopied(state, SID)).toBe(true);
  });

  it('without coherent walks the clear reaches the IOMMU only at the write-back', () => {
    const state = copied({ coherentWalks: false });
    copiedTeardownStep(state, SID, 1, 'clear-present');
    expect(requestDomainId(state, SID, null)).toBe(1);
    copiedTeardownStep(state, SID, 1, 'write-back');
    expect(requestDomainId(state, SID, null)).toBeNull();
  });

  it('the window lies after the last invalidation', () => {
    expect(splitCopiedTeardown(copiedContextTearDown(SID, 1))).toEqual([
      ['clear-present', 'write-back', 'invalidate-context', 'invalidate-iotlb'],
      ['zero', 'write-back'],
    ]);
    expect(splitCopiedTeardown(invalidateBeforeClear(SID, 1))).toEqual([
      ['invalidate-context', 'invalidate-iotlb'],
      [],
    ]);
    expect(splitCopiedTeardown(['clear-present'])).toEqual([['clear-present'], []]);
  });

  it('the attach zeroes the entry, forgets the copy and writes the new entry; ENOENT leaves it all', () => {
    const state = copied();
    const before = cloneIommuState(state);
    expect(finishCopiedAttach(state, { deviceId: SID, domainId: 9 })).toMatchObject({ ok: false, error: 'ENOENT' });
    expect(state).toEqual(before);
    expect(finishCopiedAttach(state, { deviceId: SID, domainId: 2 }).ok).toBe(true);
    expect(state.contexts[SID]?.domainId).toBe(2);
    expect(contextCopied(state, SID)).toBe(false);
    expect(state.copiedContexts).toBeUndefined();
  });
});

const dma: PassthroughCommand = { kind: 'deviceDma', deviceId: 0, addressPage: 508, write: false };
const finish: PassthroughCommand = { kind: 'finishCopiedAttach', deviceId: 0 };

function broken(trace: ReturnType<typeof runTrace>): string[] {
  return [...new Set(trace.violations.map((violation) => violation.invariant))].sort();
}

describe('the kdump kernel over VT-d: the probe at its window', () => {
  it('the world starts at the window, VFIO waiting; the probe ends and the VMM starts', () => {
    const sound = iommuKdumpCopiedContext.init();
    expect(Object.keys(sound.probing ?? {})).toEqual([String(SID)]);
    expect(sound.iommu.contexts[SID]).toBeUndefined();
    const flawed = iommuKdumpInvalidateBeforeClear.init();
    expect(flawed.iommu.contexts[SID]?.domainId).toBe(1);
    const after = iommuKdumpCopiedContext.step(sound, finish).state;
    expect(after.probing).toBeUndefined();
    expect(after.vmmSetup).toBeUndefined();
    expect(after.vfio.devices[0]?.open).toBe(true);
    expect(contextCopied(after.iommu, SID)).toBe(false);
  });

  it('refusals: VFIO_GROUP_SET_CONTAINER waits for the probe (EBUSY), a probe with none in flight EINVAL', () => {
    const state = iommuKdumpCopiedContext.init();
    const claim = iommuKdumpCopiedContext.step(state, { kind: 'groupSetContainer', groupId: 0 });
    expect(claim.result).toMatchObject({ ok: false, error: 'EBUSY' });
    expect(claim.state).toBe(state);
    const done = iommuKdumpCopiedContext.step(state, finish).state;
    const again = iommuKdumpCopiedContext.step(done, finish);
    expect(again.result).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(again.state).toBe(done);
  });

  it("c1e4f1dccbe9d's order: a DMA in the window faults, and nothing outlives the attach", () => {
    const trace = runTrace(iommuKdumpCopiedContext, [dma, finish, dma]);
    expect(trace.violations).toEqual([]);
    expect(trace.steps[0]?.result.detail?.['outcome']).toBe('fault');
  });

  it('the pre-fix order holds without a DMA in the window', () => {
    expect(runTrace(iommuKdumpInvalidateBeforeClear, [finish, dma]).violations).toEqual([]);
  });

  it('the pre-fix order: the DMA in the window lands in the crashed kernel’s domain and its cached entry outlives the attach', () => {
    expect(broken(runTrace(iommuKdumpInvalidateBeforeClear, [dma]))).toEqual(['no-dma-to-foreign-frame']);
    const design = iommuKdumpInvalidateBeforeClear;
    const window = design.step(design.init(), dma).state;
    const attached = design.step(window, finish);
    expect(attached.state.iommu.contexts[SID]?.domainId).toBe(2);
    expect(contextCacheLookup(attached.state.iommu, SID)?.domainId).toBe(1);
    const transition = { before: window, command: finish, result: attached.result, after: attached.state };
    const latent = design.invariants.filter((invariant) => invariant.class === 'latent');
    const names = latent.filter((invariant) => invariant.check(transition) !== null).map((invariant) => invariant.name);
    // The VMM has taken the group meanwhile (its setup follows the probe): the device is VFIO's, and
    // it reaches the other VM's frame through the crashed kernel's DID, which no invalidation names.
    expect(names).toEqual(['reachable-frame-owned-by-guest', 'reachable-frame-pinned']);
  });
});
