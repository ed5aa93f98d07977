/**
 * The passthrough stack over VT-d, step by step: VFIO's changes reach the IOMMU as contiguous
 * runs, device DMA goes through the IOTLB, and the three invalidation modes differ exactly in when
 * an unmapped frame may be freed.
 */
import { describe, expect, it } from 'vitest';
import { domainTranslations, staleIotlbEntries } from '../../../models/iommu/views.js';
import { stepPassthrough } from '../../../models/passthrough/step.js';
import type {
  InvalidationMode,
  PassthroughCommand,
  PassthroughConfig,
  PassthroughState,
} from '../../../models/passthrough/types.js';
import { iommuDisagreements, iommuReach, passthroughFrameHolders } from '../../../models/passthrough/views.js';
import { mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import type { OpResult } from '../../../models/result.js';
import { initPassthroughWorld } from '../../../properties/passthrough/world.js';
import { OTHER_OWNER, RAM_VADDR_PAGE, VM_OWNER } from '../../../properties/vfio/world.js';

function configFor(mode: InvalidationMode): PassthroughConfig {
  return { mode, vfio: { bugs: [] }, iommu: { bugs: [] } };
}

/** Runs commands in order, each expected to be accepted; returns the final state and results. */
function run(mode: InvalidationMode, commands: readonly PassthroughCommand[]) {
  const config = configFor(mode);
  let state: PassthroughState = initPassthroughWorld(config);
  const results: OpResult[] = [];
  for (const command of commands) {
    const step = stepPassthrough(state, config, command);
    expect(step.result.error, `${command.kind} accepted`).toBeUndefined();
    results.push(step.result);
    state = step.state;
  }
  return { state, results, config };
}

const did = (state: PassthroughState): number => state.dids[0]!;
const mapAcross: PassthroughCommand = {
  kind: 'mapDma',
  ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 510, npages: 4 }),
};
const unmapAcross: PassthroughCommand = { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage: 510, npages: 4 }) };
const dmaAt = (addressPage: number): PassthroughCommand => ({
  kind: 'deviceDma',
  deviceId: 0,
  addressPage,
  write: true,
});

/** The frame behind the guest's first RAM page (contiguous RAM: the next pages follow it). */
const ramFrame = (state: PassthroughState): number => state.vfio.process.pages[RAM_VADDR_PAGE]!.mfn!;

describe('forwarding VFIO to the IOMMU', () => {
  it('setup allocates one IOMMU domain and points the device at it', () => {
    const { state } = run('strict', []);
    expect(Object.keys(state.iommu.domains)).toEqual([String(did(state))]);
    expect(state.iommu.domains[did(state)]!.type).toBe('unmanaged');
    expect(Object.values(state.iommu.contexts).map((context) => context.domainId)).toEqual([did(state)]);
  });

  it('a MAP_DMA across a leaf-table boundary fills two last-level tables and agrees with VFIO', () => {
    const { state } = run('strict', [mapAcross]);
    const first = ramFrame(state);
    expect(domainTranslations(state.iommu, did(state)).map((leaf) => [leaf.iovaPage, leaf.frame])).toEqual([
      [510, first],
      [511, first + 1],
      [512, first + 2],
      [513, first + 3],
    ]);
    const leafTables = Object.values(state.iommu.tables).filter((table) => table.level === 1);
    expect(leafTables).toHaveLength(2);
    expect(iommuDisagreements(state)).toEqual([]);
  });

  it('device DMA walks on a miss, then hits the IOTLB', () => {
    const { state, results } = run('strict', [mapAcross, dmaAt(512), dmaAt(512)]);
    expect(results[1]!.detail).toMatchObject({ outcome: 'landed', mfn: ramFrame(state) + 2, via: 'walk' });
    expect(results[2]!.detail).toMatchObject({ outcome: 'landed', mfn: ramFrame(state) + 2, via: 'iotlb' });
  });

  it('a DMA with no translation faults and lands nowhere', () => {
    const { results } = run('strict', [dmaAt(600)]);
    expect(results[0]!.detail).toMatchObject({ outcome: 'fault', mfn: null, via: 'walk' });
  });
});

describe('when an unmapped frame may be freed', () => {
  // The guest gives its page back to the host (MADV_DONTNEED) while it is still mapped for DMA:
  // VFIO's pin is then the only reference, and UNMAP_DMA's unpin frees the frame.
  const discardFirst: PassthroughCommand = { kind: 'discard', vaddrPage: RAM_VADDR_PAGE + 2, npages: 1 };
  const race: PassthroughCommand[] = [mapAcross, dmaAt(512), discardFirst, unmapAcross];

  it('strict: the IOTLB is flushed before the unpin, so the freed frame is unreachable', () => {
    const { state } = run('strict', race);
    expect(staleIotlbEntries(state.iommu)).toEqual([]);
    expect(iommuReach(state)).toEqual([]);
  });

  it('lazy: the frame is freed while a stale IOTLB entry still reaches it; another owner then gets it', () => {
    const { state } = run('lazy', [...race, { kind: 'allocateToOther', owner: OTHER_OWNER }, dmaAt(512)]);
    const frame = ramFrame(initPassthroughWorld(configFor('lazy'))) + 2;
    expect(state.vfio.memory.frames[frame]!.owner).toBe(OTHER_OWNER);
    expect(iommuReach(state)).toEqual([{ deviceId: 0, via: 'iotlb', iovaPage: 512, mfn: frame, write: true }]);
  });

  it('lazy-held: the frame stays held by the flush queue entry until the timer flushes it', () => {
    const held = run('lazy-held', race);
    const frame = ramFrame(initPassthroughWorld(configFor('lazy-held'))) + 2;
    expect(held.state.vfio.memory.frames[frame]).toMatchObject({ owner: VM_OWNER, refcount: 1 });
    expect(passthroughFrameHolders(held.state)[frame]).toEqual([{ kind: 'flush hold', seq: 0 }]);
    const step = stepPassthrough(held.state, held.config, { kind: 'drainFlushQueue' });
    expect(step.result.detail).toMatchObject({ releasedEntries: 1 });
    expect(step.state.vfio.memory.frames[frame]).toMatchObject({ owner: null, refcount: 0 });
    expect(step.state.held).toEqual([]);
    expect(iommuReach(step.state)).toEqual([]);
  });

  it('the flush-queue timer is refused where there is no flush queue, and changes nothing', () => {
    const config = configFor('strict');
    const state = initPassthroughWorld(config);
    const step = stepPassthrough(state, config, { kind: 'drainFlushQueue' });
    expect(step.result.error).toBe('EINVAL');
    expect(step.state).toEqual(state);
  });
});
