/**
 * Domain teardown in two phases (models/xen/destroy.ts; xen/common/domain.c `domain_kill`):
 * the first call marks the domain dying and releases its grant mappings (`domain_teardown` →
 * `gnttab_release_mappings`), the continuation relinquishes its p2m and memory
 * (`domain_relinquish_resources`). What holds between them, what runs, that the two end where the
 * atomic teardown does, and the flawed order: harmless whole, caught in between.
 */
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { GRANT_TO_DOM2, MAP_HOST_AND_DEVICE, runSteps } from './run-steps.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';

/** dom1 (HVM guest) grants its gfn 0 to dom2 (PV), which maps it host and device. */
const granted: XenGtCommand[] = [GRANT_TO_DOM2, MAP_HOST_AND_DEVICE];
const advance: XenGtCommand = { kind: 'advance', op: 0 };

const violations = (design: XenGtDesign, commands: readonly XenGtCommand[]): [string, number][] =>
  runTrace(design, commands, { stopAtFirst: false }).violations.map((found) => [found.invariant, found.afterStep]);

describe('a mapper torn down in two calls', () => {
  const destroy: XenGtCommand = { kind: 'destroyDomain', domid: 2, phased: true };

  test('first call: dying, its mappings released (pins and references back), its p2m and memory still there', () => {
    const before = runSteps(granted).state;
    const { state, results } = runSteps([...granted, destroy]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    const dom2 = state.xen.domains[2]!;
    expect(dom2).toMatchObject({ life: 'dying', teardownNext: 'relinquish-memory' });
    expect(dom2.maptrack.every((mapping) => mapping === null)).toBe(true);
    expect(Object.keys(dom2.p2m)).toEqual(Object.keys(before.xen.domains[2]!.p2m));
    expect(state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 0, devw: 0 });
    expect(state.xen.domains[1]!.grantTable[0]).toMatchObject({ reading: false, writing: false });
    expect(xenMap.inflight?.(state)).toEqual([{ actor: 'toolstack', kind: 'destroyDomain', phase: 'relinquish' }]);
    expect(violations(xenMap, [...granted, destroy])).toEqual([]);
  });

  test('in between: maps of its grants are refused, its own requests too, other domains run; a second destroy is ESRCH', () => {
    const { results } = runSteps([
      ...granted,
      destroy,
      { kind: 'grantAccess', domid: 2, ref: 0, granteeDomid: 1, gfn: 0, readonly: false },
      { kind: 'endAccess', domid: 1, ref: 0 },
      { kind: 'decreaseReservation', domid: 1, gfn: 1 },
      { kind: 'destroyDomain', domid: 2 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ESRCH', 'ok', 'ok', 'ESRCH']);
  });

  test('the continuation relinquishes the p2m and memory: dead, where the atomic teardown ends', () => {
    const atomic = runSteps([...granted, { kind: 'destroyDomain', domid: 2 }]).state;
    const phased = runSteps([...granted, destroy, advance]);
    expect(phased.results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(phased.state).toEqual(atomic);
    expect(phased.state.xen.domains[2]).toMatchObject({ life: 'dead', p2m: {} });
    expect(phased.state.xen.domains[2]!.teardownNext).toBeUndefined();
  });
});

describe('a granter torn down in two calls', () => {
  const destroy: XenGtCommand = { kind: 'destroyDomain', domid: 1, phased: true };
  const unmap: XenGtCommand = { kind: 'unmapGrantRef', mapperDomid: 2, handle: 0, hostAddr: 0, devBusAddr: null };

  test('its frames freed by others in between do not make it dead before the continuation; then a zombie, then dead', () => {
    const commands: XenGtCommand[] = [...granted, destroy, advance];
    const { state } = runSteps(commands);
    // dom2 still maps dom1's page: a zombie.
    expect(state.xen.domains[1]!.life).toBe('dying');
    expect(violations(xenMap, [...commands, unmap, { ...unmap, hostAddr: null, devBusAddr: 0 }])).toEqual([]);
    // Ballooned to nothing but the granted page, unmapped while the continuation is pending: still dying.
    const early = runSteps([
      ...granted,
      { kind: 'decreaseReservation', domid: 1, gfn: 1 },
      { kind: 'decreaseReservation', domid: 1, gfn: 2 },
      { kind: 'decreaseReservation', domid: 1, gfn: 3 },
      destroy,
    ]);
    expect(early.state.xen.domains[1]).toMatchObject({ life: 'dying', teardownNext: 'relinquish-memory' });
  });
});

describe('teardown-relinquishes-before-release: harmless whole, caught in between', () => {
  const design = xenGtMutants.find((mutant) => mutant.id === 'mutant/xen-map/teardown-relinquishes-before-release')!;
  const destroy: XenGtCommand = { kind: 'destroyDomain', domid: 2 };

  test('whole: the same end state as Xen’s order, nothing broken', () => {
    expect(runSteps([...granted, destroy], design).state).toEqual(runSteps([...granted, destroy]).state);
    expect(violations(design, [...granted, destroy])).toEqual([]);
  });

  test('in between: the dying domain, its memory gone, still holds its handles', () => {
    expect(violations(design, [...granted, { ...destroy, phased: true }])).toEqual([
      ['dying-domain-holds-no-handles', 3],
    ]);
  });
});
