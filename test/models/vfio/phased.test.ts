/**
 * VFIO's operations that take time, phase by phase: a device's DMA in flight over an UNMAP_DMA
 * lands before the sync completes; MAP_DMA pins before it maps; UNMAP_DMA drops iommu->lock for
 * the dma_unmap callbacks, so a driver's pin in that window makes it notify again; what an
 * operation in flight keeps others from doing; and a phased command run back to back is the
 * atomic command.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { stepVfio } from '../../../models/vfio/step.js';
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioConfig } from '../../../models/vfio/config.js';
import type { VfioResult, VfioState } from '../../../models/vfio/types.js';
import { unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import { deviceReach, frameRefcountMismatches } from '../../../models/vfio/views.js';
import { vfioDesign } from '../../../properties/vfio/design.js';
import type { VfioDesign } from '../../../properties/vfio/design.js';
import { RAM_VADDR_PAGE, VM_OWNER } from '../../../properties/vfio/world.js';
import { stableJson } from '../../../src/explore.js';
import { generation } from '../../../src/check.js';
import { traceArbitrary } from '../../../src/generate.js';

const passthrough = vfioDesign({ id: 'test/pt', world: 'passthrough', expected: 'holds', description: 'x' });
const mediated = vfioDesign({ id: 'test/md', world: 'mediated', expected: 'holds', description: 'x' });
const [PCI] = passthrough.world.pciDevices;
const [MDEV] = mediated.world.mdevDevices;

const map = (iovaPage: number, phased = false): VfioCommand => ({
  kind: 'mapDma',
  ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage, npages: 1 }),
  ...(phased ? { phased } : {}),
});
const unmap = (iovaPage: number, phased = false): VfioCommand => ({
  kind: 'unmapDma',
  ...unmapDmaArgs({ iovaPage, npages: 1 }),
  ...(phased ? { phased } : {}),
});
const advance = (op = 0): VfioCommand => ({ kind: 'advance', op });

/** Runs `commands` from the design's initial state; every step's result and the states after each. */
function run(design: VfioDesign, commands: readonly VfioCommand[], config: VfioConfig = design.config) {
  let state = design.init();
  const results: VfioResult[] = [];
  const states: VfioState[] = [];
  for (const command of commands) {
    const step = stepVfio(state, config, command);
    results.push(step.result);
    states.push(step.state);
    state = step.state;
  }
  return { state, results, states };
}

describe('a device DMA in flight', () => {
  test('is reach until it lands; the unmap sync lands it on the still-pinned frame, and only then unpins', () => {
    const dma: VfioCommand = { kind: 'deviceDma', deviceId: PCI!, addressPage: 0, write: true, phased: true };
    const { results, states } = run(passthrough, [map(0), dma, unmap(0, true), advance(1), advance(0)]);
    const mfn = results[1]!.detail?.['mfn'];
    expect(typeof mfn).toBe('number');
    // Translated, not landed: the device reaches the frame through its request too.
    expect(deviceReach(states[1]!).filter((reach) => reach.via === 'in-flight')).toEqual([
      { deviceId: PCI, via: 'in-flight', addressPage: 0, mfn, write: true },
    ]);
    // Cleared: no translation left, the request still in flight and the frame still pinned.
    expect(states[2]!.inflight.map((op) => op.kind)).toEqual(['deviceDma', 'unmapDma']);
    expect(frameRefcountMismatches(states[2]!)).toEqual([]);
    // The sync (advance of op 1) drains the request: it lands in the guest's frame.
    expect(results[3]!.accesses).toEqual([
      { deviceId: PCI, addressPage: 0, write: true, outcome: 'landed', mfn, owner: VM_OWNER },
    ]);
    expect(states[3]!.inflight.map((op) => op.kind)).toEqual(['unmapDma']);
    expect(results[4]!.detail).toMatchObject({ op: 'unmapDma', phase: 'unpin', done: true, removed: 1 });
    expect(states[4]!.inflight).toEqual([]);
  });

  test('a second DMA by the same device waits (EBUSY); closing the device lands the first', () => {
    const dma: VfioCommand = { kind: 'deviceDma', deviceId: PCI!, addressPage: 0, write: false, phased: true };
    const { results, state } = run(passthrough, [
      map(0),
      dma,
      { ...dma, phased: false },
      { kind: 'closeDevice', deviceId: PCI! },
    ]);
    expect(results[2]).toMatchObject({ ok: false, error: 'EBUSY' });
    expect(results[3]!.ok).toBe(true);
    expect(results[3]!.accesses.map((access) => access.outcome)).toEqual(['landed']);
    expect(state.inflight).toEqual([]);
  });
});

describe('MAP_DMA and iommu->lock', () => {
  test('pins in its first phase and maps in its second; the VMM and vfio_pin_pages wait, memory changes do not', () => {
    const { results, states } = run(passthrough, [
      map(0, true),
      unmap(0),
      { kind: 'discard', vaddrPage: RAM_VADDR_PAGE, npages: 1 },
      advance(),
    ]);
    expect(results[0]!.detail).toMatchObject({ pinnedPages: 1, mapped: false });
    expect(deviceReach(states[0]!)).toEqual([]);
    expect(results[1]).toMatchObject({ ok: false, error: 'EBUSY' });
    expect(results[2]!.ok).toBe(true);
    // The discarded page stays pinned: the map that follows translates to it.
    expect(frameRefcountMismatches(states[2]!)).toEqual([]);
    expect(results[3]!.detail).toMatchObject({ op: 'mapDma', done: true, pinnedPages: 1 });
    expect(deviceReach(states[3]!).map((reach) => reach.addressPage)).toEqual([0]);
  });

  test('map-before-pin publishes an unpinned frame: the device reaches what nothing pins', () => {
    const flawed = { bugs: ['map-before-pin' as const] };
    const { states } = run(passthrough, [map(0, true)], flawed);
    const reach = deviceReach(states[0]!);
    expect(reach.map((found) => found.via)).toEqual(['iommu']);
    expect(states[0]!.memory.frames[reach[0]!.mfn]!.refcount).toBe(1);
  });
});

describe('UNMAP_DMA and the dma_unmap callbacks', () => {
  const pin: VfioCommand = { kind: 'mdevPinPages', deviceId: MDEV!, iovaPage: 0, npage: 1, read: true, write: true };

  test('a pin taken while the lock is dropped makes the walk notify again; then the mapping goes', () => {
    const { results, state } = run(mediated, [map(0), pin, unmap(0, true), pin, advance(), advance()]);
    expect(results[2]!.detail).toEqual({ notified: 0 });
    expect(results[3]!.ok).toBe(true);
    expect(results[4]!.detail).toMatchObject({ notified: 0, done: false });
    expect(results[5]!.detail).toMatchObject({ removed: 1, callbacks: 2, done: true });
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  test('unmap-skips-recheck removes the mapping with that pin: its vfio_pfn and page pin leak', () => {
    const { state } = run(mediated, [map(0), pin, unmap(0, true), pin, advance()], {
      bugs: ['unmap-skips-recheck'],
    });
    expect(frameRefcountMismatches(state)).not.toEqual([]);
  });

  test('a callback waits for a pin its driver has not recorded yet; recorded outside the lock, it retries until BUG_ON', () => {
    const phasedPin = { ...pin, phased: true };
    const sound = run(mediated, [map(0), phasedPin, unmap(0)]);
    expect(sound.results[2]).toMatchObject({ ok: true, detail: { removed: 1 } });
    expect(frameRefcountMismatches(sound.state)).toEqual([]);
    const flawed = run(mediated, [map(0), phasedPin, unmap(0)], { bugs: ['mdev-records-pin-unlocked'] });
    expect(flawed.results[2]).toMatchObject({ ok: false, error: 'BUG_ON' });
    expect(flawed.state.crash?.reason).toContain('BUG_ON(++retries > 10)');
  });

  test('an advance with nothing in flight is refused ENOENT and changes nothing', () => {
    const initial = mediated.init();
    const step = stepVfio(initial, mediated.config, advance(3));
    expect(step.result).toMatchObject({ ok: false, error: 'ENOENT' });
    expect(step.state).toBe(initial);
  });
});

describe('a phased command run back to back is the atomic command', () => {
  /** Every generated command, atomic, vs. started and advanced to its end while a DMA is in flight elsewhere. */
  test.for([passthrough, mediated])('$world.name', (design) => {
    const sequences = fc.sample(traceArbitrary(design.commands, { ...generation(design), preemptions: 0 }), {
      seed: 3,
      numRuns: 40,
    });
    for (const templates of sequences) {
      let atomic = design.init();
      let phased = design.init();
      for (const template of templates) {
        const command = design.resolve(atomic, template);
        const one = stepVfio(atomic, design.config, command);
        let step = stepVfio(
          phased,
          design.config,
          'kind' in command && command.kind !== 'advance' ? ({ ...command, phased: true } as VfioCommand) : command,
        );
        let result = step.result;
        while (step.result.ok && step.state.inflight.length > 0) {
          step = stepVfio(step.state, design.config, advance(step.state.inflight.length - 1));
          result = step.result;
        }
        expect(stableJson(step.state), `${command.kind} leaves the same state`).toBe(stableJson(one.state));
        // A phase that ends its operation with an unwound error succeeds as a step and reports the
        // ioctl's errno (`error`): the answer the atomic command gives.
        const answered = result.ok && result.detail?.['error'] === undefined;
        expect(answered).toBe(one.result.ok);
        atomic = one.state;
        phased = step.state;
      }
    }
  });
});
