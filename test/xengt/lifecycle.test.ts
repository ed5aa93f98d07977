/**
 * The guest destroyed and created again with its vGPU (docs/reference/xen.md §2.13), and a fault in
 * the grant map unwound (§2.14), through the XenGT step: the sound design and the flawed hooks.
 */
import { describe, expect, it } from 'vitest';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { xenGtNoGgttReset, xenMapUnwindKeepsDeviceRef } from '../../properties/xengt/lifecycle-designs.js';
import { runSteps } from './run-steps.js';

const GUEST = 1;
const lifecycle: readonly XenGtCommand[] = [
  { kind: 'gttWrite', entry: 0, gfn: 0, present: true },
  { kind: 'destroyDomain', domid: GUEST },
  { kind: 'createDomain', domid: GUEST },
  { kind: 'vgpuCreate' },
];

describe('the guest destroyed and created again, with its vGPU', () => {
  it('gets a new incarnation and a vGPU whose GGTT ranges are scratch', () => {
    const { state, results } = runSteps([...lifecycle, { kind: 'createDomain', domid: GUEST }]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'EEXIST']);
    expect(state.xen.domains[GUEST]).toMatchObject({ life: 'running', incarnation: 1, totPages: 4 });
    expect(state.vgpu?.ggttHost[0]).toEqual({ kind: 'scratch' });
    expect(state.releasedGgtt).toBeNull();
  });

  it('without intel_vgpu_reset_ggtt the hardware keeps the entry and the new vGPU inherits it', () => {
    const destroyed = runSteps(lifecycle.slice(0, 2), xenGtNoGgttReset).state;
    expect(destroyed.releasedGgtt?.[0]).toMatchObject({ kind: 'dma' });
    const { state } = runSteps(lifecycle, xenGtNoGgttReset);
    expect(state.vgpu?.ggttHost[0]).toEqual(destroyed.releasedGgtt?.[0]);
  });
});

describe('an injected fault in the grant map', () => {
  const map: readonly XenGtCommand[] = [
    { kind: 'grantAccess', domid: 0, ref: 0, granteeDomid: 2, gfn: 0, readonly: false },
    { kind: 'injectFault', point: 'hostMapping', nth: 1 },
  ];
  const mapBoth: XenGtCommand = {
    kind: 'mapGrantRef',
    mapperDomid: 2,
    granterDomid: 0,
    ref: 0,
    host: true,
    device: true,
    readonly: false,
    hostAddr: 0,
  };

  it("is unwound by undo_out to the state before (Xen's)", () => {
    const before = runSteps(map).state;
    const { state, results } = runSteps([...map, mapBoth]);
    expect(results[2]).toBe('GNTST_general_error');
    expect(state.xen).toEqual(before.xen);
  });

  it('an unwind that forgets the device reference leaves the frame referenced', () => {
    const before = runSteps(map, xenMapUnwindKeepsDeviceRef).state;
    const { state } = runSteps([...map, mapBoth], xenMapUnwindKeepsDeviceRef);
    expect(state.xen.memory).not.toEqual(before.xen.memory);
  });
});
