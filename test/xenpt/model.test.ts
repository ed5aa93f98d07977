/**
 * The Xen passthrough model against its reference (docs/reference/xen-passthrough.md): every
 * rejected input with its -errno, in Xen's order of checks, leaving the state unchanged; device
 * assignment, deassignment and quarantine; the IOMMU sync of p2m changes; the deferred flush of
 * XENMEM_add_to_physmap and the reference it holds; destruction with devices.
 *
 * The default world: dom0 (PV, hardware domain) gfns 0–1 at mfns 11, 10; dom1 (HVM) gfns 0–2 at
 * mfns 9, 8, 7 with device 0; dom2 (PV) gfns 0–1 at mfns 6, 5 with device 1; mfns 0–4 free.
 */
import { describe, expect, test } from 'vitest';
import { DOMID_IO } from '../../models/xen/pci.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { stepXenPt } from '../../models/xenpt/step.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import {
  xenPtHvmSharedPt,
  xenPtHvmSyncPt,
  xenPtNoQuarantine,
  xenPtPutBeforeFlush,
  xenPtQuarantineBasic,
  xenPtReleaseDevicesLate,
  xenPtRemoveDefersFlush,
  xenPtSharedScratch,
} from '../../properties/xenpt/designs.js';

function run(
  commands: readonly XenPtCommand[],
  design: XenPtDesign = xenPtHvmSyncPt,
  from: XenPtState = design.init(),
): { state: XenPtState; results: string[]; details: unknown[] } {
  let state = from;
  const results: string[] = [];
  const details: unknown[] = [];
  for (const command of commands) {
    const step = design.step(state, command);
    results.push(step.result.ok ? 'ok' : String(step.result.error));
    details.push(step.result.detail);
    state = step.state;
  }
  return { state, results, details };
}

/** A refused command: its error, and the very state it was given. */
function refused(state: XenPtState, command: XenPtCommand, design: XenPtDesign = xenPtHvmSyncPt): string {
  const step = design.step(state, command);
  expect(step.result.ok).toBe(false);
  expect(step.state).toBe(state);
  return String(step.result.error);
}

describe('XEN_DOMCTL_assign_device (iommu_do_domctl, iommu_do_pci_domctl, device_assigned)', () => {
  const initial = xenPtHvmSyncPt.init();
  test('a domain that does not exist or is dead: ESRCH', () => {
    expect(refused(initial, { kind: 'assignDevice', domid: 7, device: 0 })).toBe('ESRCH');
    const dead = run([
      { kind: 'deassignDevice', domid: 2, device: 1 },
      { kind: 'destroyDomain', domid: 2 },
    ]).state;
    expect(dead.xen.domains[2]?.life).toBe('dead');
    expect(refused(dead, { kind: 'assignDevice', domid: 2, device: 1 })).toBe('ESRCH');
  });
  test('a domain without an IOMMU context: EOPNOTSUPP, before the self-assignment check', () => {
    const domains = initial.xen.domains.map((domain) => {
      if (domain.domid !== 0) return domain;
      const rest = { ...domain };
      delete rest.iommu;
      return rest;
    });
    const noIommu: XenPtState = { ...initial, xen: { ...initial.xen, domains } };
    expect(refused(noIommu, { kind: 'assignDevice', domid: 0, device: 0 })).toBe('EOPNOTSUPP');
  });
  test('self-assignment (the caller, dom0): EINVAL', () => {
    const free = run([{ kind: 'deassignDevice', domid: 1, device: 0 }]).state;
    expect(refused(free, { kind: 'assignDevice', domid: 0, device: 0 })).toBe('EINVAL');
  });
  test('a dying target: EINVAL', () => {
    const dying = run([
      { kind: 'deassignDevice', domid: 1, device: 0 },
      { kind: 'destroyDomain', domid: 1, phased: true },
    ]).state;
    expect(dying.xen.domains[1]?.life).toBe('dying');
    expect(refused(dying, { kind: 'assignDevice', domid: 1, device: 0 })).toBe('EINVAL');
  });
  test('no such device: ENODEV; a device a guest owns: EBUSY', () => {
    expect(refused(initial, { kind: 'assignDevice', domid: 1, device: 5 })).toBe('ENODEV');
    expect(refused(initial, { kind: 'assignDevice', domid: 2, device: 0 })).toBe('EBUSY');
  });
  test('a device in quarantine or the hardware domain is assigned; its outstanding DMA is reset', () => {
    const { state, results } = run([
      { kind: 'deassignDevice', domid: 1, device: 0 },
      { kind: 'dma', device: 0, dfn: 0, write: true, phased: true },
      { kind: 'assignDevice', domid: 2, device: 0 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.devices[0]?.owner).toBe(2);
    expect(state.inflight).toEqual([]);
  });
});

describe('XEN_DOMCTL_deassign_device (deassign_device)', () => {
  const initial = xenPtHvmSyncPt.init();
  test('ESRCH, EINVAL for the caller itself, ENODEV for a device the domain does not own', () => {
    expect(refused(initial, { kind: 'deassignDevice', domid: 9, device: 0 })).toBe('ESRCH');
    expect(refused(initial, { kind: 'deassignDevice', domid: 0, device: 0 })).toBe('EINVAL');
    expect(refused(initial, { kind: 'deassignDevice', domid: 2, device: 0 })).toBe('ENODEV');
    expect(refused(initial, { kind: 'deassignDevice', domid: 1, device: 4 })).toBe('ENODEV');
  });
  test('with quarantine the device goes to dom_io (pdev->quarantine is set only by an assignment to dom_io)', () => {
    const { state } = run([{ kind: 'deassignDevice', domid: 1, device: 0 }]);
    expect(state.devices[0]).toMatchObject({ owner: DOMID_IO, quarantine: false, scratch: 0 });
  });
  test('without quarantine it goes back to the hardware domain, unmarked', () => {
    const { state } = run([{ kind: 'deassignDevice', domid: 1, device: 0 }], xenPtNoQuarantine);
    expect(state.devices[0]).toMatchObject({ owner: 0, quarantine: false, scratch: null });
  });
  test('basic quarantine: no page table, DMA faults; scratch-page: DMA lands in the device’s own scratch page', () => {
    const basic = run(
      [
        { kind: 'deassignDevice', domid: 1, device: 0 },
        { kind: 'dma', device: 0, dfn: 3, write: true },
      ],
      xenPtQuarantineBasic,
    );
    expect(basic.details[1]).toEqual({ fault: 'blocked' });
    const scratch = run([
      { kind: 'deassignDevice', domid: 2, device: 1 },
      { kind: 'dma', device: 1, dfn: 3, write: true },
    ]);
    expect(scratch.details[1]).toEqual({ scratch: 1, via: 'walk' });
  });
  test('a shared scratch page: two quarantined devices reach the same page', () => {
    const { state } = run(
      [
        { kind: 'deassignDevice', domid: 1, device: 0 },
        { kind: 'deassignDevice', domid: 2, device: 1 },
      ],
      xenPtSharedScratch,
    );
    expect(state.devices.map((device) => device.scratch)).toEqual([0, 0]);
  });
});

describe('dom_io as a target: xl pci-assignable-add and -remove', () => {
  test('assignable-add marks the device quarantined; a guest’s device cannot be added (EBUSY)', () => {
    const initial = xenPtHvmSyncPt.init();
    expect(refused(initial, { kind: 'assignDevice', domid: DOMID_IO, device: 0 })).toBe('EBUSY');
    const { state, results } = run(
      [
        { kind: 'deassignDevice', domid: 1, device: 0 },
        { kind: 'assignDevice', domid: DOMID_IO, device: 0 },
        { kind: 'deassignDevice', domid: DOMID_IO, device: 0 },
      ],
      xenPtNoQuarantine,
    );
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.devices[0]).toMatchObject({ owner: 0, quarantine: false });
  });
  test('without quarantine, a device made assignable through dom_io goes back there (pdev->quarantine)', () => {
    const { state } = run(
      [
        { kind: 'deassignDevice', domid: 1, device: 0 },
        { kind: 'assignDevice', domid: DOMID_IO, device: 0 },
        { kind: 'assignDevice', domid: 1, device: 0 },
        { kind: 'deassignDevice', domid: 1, device: 0 },
      ],
      xenPtNoQuarantine,
    );
    expect(state.devices[0]).toMatchObject({ owner: DOMID_IO, quarantine: true });
  });
  test('pci-assignable-remove resets the device: what it had outstanding is aborted', () => {
    const { state } = run([
      { kind: 'deassignDevice', domid: 1, device: 0 },
      { kind: 'dma', device: 0, dfn: 10, write: true, phased: true },
      { kind: 'deassignDevice', domid: DOMID_IO, device: 0 },
    ]);
    expect(state.devices[0]?.owner).toBe(0);
    expect(state.inflight).toEqual([]);
  });
  test('deassigning from dom_io a device it does not have: ENODEV', () => {
    expect(refused(xenPtHvmSyncPt.init(), { kind: 'deassignDevice', domid: DOMID_IO, device: 0 })).toBe('ENODEV');
  });
});

describe('DMA through the IOTLB and the context', () => {
  test('an unknown device: ENODEV; a dfn not mapped faults; a read-only grant refuses a write', () => {
    const initial = xenPtHvmSharedPt.init();
    expect(refused(initial, { kind: 'dma', device: 3, dfn: 0, write: true }, xenPtHvmSharedPt)).toBe('ENODEV');
    const { details } = run(
      [
        { kind: 'dma', device: 0, dfn: 3, write: true },
        { kind: 'grantAccess', domid: 2, ref: 0, granteeDomid: 1, gfn: 0, readonly: true },
        { kind: 'mapGrantRef', mapperDomid: 1, granterDomid: 2, ref: 0, gfn: 3, readonly: true },
        { kind: 'dma', device: 0, dfn: 3, write: true },
        { kind: 'dma', device: 0, dfn: 3, write: false },
      ],
      xenPtHvmSharedPt,
    );
    expect(details[0]).toEqual({ fault: 'not-present' });
    expect(details[3]).toEqual({ fault: 'permission' });
    expect(details[4]).toEqual({ mfn: 6, via: 'walk' });
  });
  test('a PV guest’s device reaches its pages at dfn = mfn', () => {
    const { details } = run([{ kind: 'dma', device: 1, dfn: 6, write: true }]);
    expect(details[0]).toEqual({ mfn: 6, via: 'walk' });
  });
  test('a hit is cached; a balloon-out unmaps and flushes at once (iommu_legacy_unmap)', () => {
    const { state, details } = run([
      { kind: 'dma', device: 0, dfn: 0, write: true },
      { kind: 'dma', device: 0, dfn: 0, write: true },
      { kind: 'decreaseReservation', domid: 1, gfn: 0 },
      { kind: 'dma', device: 0, dfn: 0, write: true },
    ]);
    expect(details.slice(0, 2)).toEqual([
      { mfn: 9, via: 'walk' },
      { mfn: 9, via: 'iotlb' },
    ]);
    expect(details[3]).toEqual({ fault: 'not-present' });
    expect(state.iotlb).toEqual({});
    expect(state.xen.domains[1]?.iommu?.table).not.toHaveProperty('0');
  });
});

describe('XENMEM_add_to_physmap, gmfn_range (xenmem_add_to_physmap_one)', () => {
  const initial = xenPtHvmSyncPt.init();
  test('not running: ESRCH; a PV domain: EACCES; a source that is not p2m_ram_rw: EACCES', () => {
    expect(refused(initial, { kind: 'moveGfn', domid: 7, idx: 0, gpfn: 3 })).toBe('ESRCH');
    expect(refused(initial, { kind: 'moveGfn', domid: 2, idx: 0, gpfn: 3 })).toBe('EACCES');
    expect(refused(initial, { kind: 'moveGfn', domid: 1, idx: 3, gpfn: 0 })).toBe('EACCES');
  });
  test('a grant mapping at the destination cannot be freed (guest_remove_page): ENXIO', () => {
    const mapped = run([
      { kind: 'grantAccess', domid: 2, ref: 0, granteeDomid: 1, gfn: 0, readonly: false },
      { kind: 'mapGrantRef', mapperDomid: 1, granterDomid: 2, ref: 0, gfn: 3, readonly: false },
    ]).state;
    expect(refused(mapped, { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3 })).toBe('ENXIO');
  });
  test('the vCPU in the batch cannot start another: EBUSY; advance with nothing in flight: ENOENT', () => {
    const started = run([{ kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3, phased: true }]).state;
    expect(refused(started, { kind: 'moveGfn', domid: 1, idx: 1, gpfn: 2 })).toBe('EBUSY');
    expect(refused(initial, { kind: 'advance', op: 0 })).toBe('ENOENT');
  });
  test('the page is held until the deferred flush of its old dfn (XSA-346)', () => {
    const window = run([
      { kind: 'dma', device: 0, dfn: 0, write: true },
      { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3, phased: true },
      { kind: 'decreaseReservation', domid: 1, gfn: 3 },
    ]);
    expect(window.results).toEqual(['ok', 'ok', 'ok']);
    expect(window.state.xen.memory.frames[9]).toMatchObject({ owner: 1, refcount: 1 });
    expect(window.state.xen.domains[1]?.iommu?.flushPending).toEqual([0]);
    const after = run([{ kind: 'advance', op: 0 }], xenPtHvmSyncPt, window.state);
    expect(after.state.xen.memory.frames[9]).toMatchObject({ owner: null, refcount: 0 });
    expect(after.state.iotlb).toEqual({});
    expect(after.state.xen.domains[1]?.iommu?.flushPending).toEqual([]);
  });
  test('put before the flush: the stale IOTLB entry reaches a free frame', () => {
    const { details } = run(
      [
        { kind: 'dma', device: 0, dfn: 0, write: true },
        { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3, phased: true },
        { kind: 'decreaseReservation', domid: 1, gfn: 3 },
        { kind: 'dma', device: 0, dfn: 0, write: true },
      ],
      xenPtPutBeforeFlush,
    );
    expect(details[3]).toEqual({ mfn: 9, via: 'iotlb' });
  });
  test('a page freed inside the batch is flushed at once, unless the flush stays deferred', () => {
    const commands: XenPtCommand[] = [
      { kind: 'dma', device: 0, dfn: 1, write: true },
      { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 1, phased: true },
      { kind: 'dma', device: 0, dfn: 1, write: true },
    ];
    expect(run(commands, xenPtHvmSharedPt).details[2]).toEqual({ mfn: 9, via: 'walk' });
    expect(run(commands, xenPtRemoveDefersFlush).details[2]).toEqual({ mfn: 8, via: 'iotlb' });
  });
});

describe('domain destruction with devices (domain_relinquish_resources)', () => {
  test('the hardware domain: EPERM; not running: ESRCH', () => {
    const initial = xenPtHvmSyncPt.init();
    expect(refused(initial, { kind: 'destroyDomain', domid: 0 })).toBe('EPERM');
    expect(refused(initial, { kind: 'destroyDomain', domid: 6 })).toBe('ESRCH');
  });
  test('pci_release_devices before the memory: the device is quarantined, the context emptied', () => {
    const { state } = run([
      { kind: 'dma', device: 0, dfn: 0, write: true },
      { kind: 'destroyDomain', domid: 1, phased: true },
      { kind: 'advance', op: 0 },
    ]);
    expect(state.devices[0]?.owner).toBe(DOMID_IO);
    expect(state.xen.domains[1]?.iommu?.table).toEqual({});
    expect(state.iotlb).toEqual({});
    expect(state.xen.domains[1]?.life).toBe('dying');
    const done = run([{ kind: 'advance', op: 0 }], xenPtHvmSyncPt, state).state;
    expect(done.xen.domains[1]?.life).toBe('dead');
  });
  test('devices released after the memory: between the two, the device reaches freed frames', () => {
    const { details } = run(
      [
        { kind: 'destroyDomain', domid: 1, phased: true },
        { kind: 'advance', op: 0 },
        { kind: 'dma', device: 0, dfn: 0, write: true },
      ],
      xenPtReleaseDevicesLate,
    );
    expect(details[2]).toEqual({ mfn: 9, via: 'walk' });
  });
  test('a running domain cannot be created again: EEXIST; a dead one comes back with a fresh context', () => {
    const initial = xenPtHvmSyncPt.init();
    expect(refused(initial, { kind: 'createDomain', domid: 1 })).toBe('EEXIST');
    const { state, results } = run([
      { kind: 'destroyDomain', domid: 1 },
      { kind: 'createDomain', domid: 1 },
      { kind: 'assignDevice', domid: 1, device: 0 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.xen.domains[1]?.incarnation).toBe(1);
    expect(Object.keys(state.xen.domains[1]?.iommu?.table ?? {})).toEqual(['0', '1', '2']);
  });
});

test('the stack’s step never changes the state it is given', () => {
  const initial = xenPtHvmSyncPt.init();
  const copy = JSON.stringify(initial);
  stepXenPt(initial, xenPtHvmSyncPt.config, { kind: 'moveGfn', domid: 1, idx: 0, gpfn: 3 });
  stepXenPt(initial, xenPtHvmSyncPt.config, { kind: 'destroyDomain', domid: 1 });
  expect(JSON.stringify(initial)).toBe(copy);
});
