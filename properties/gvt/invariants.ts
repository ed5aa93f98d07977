/**
 * Invariants of the GVT-g mediator itself (docs/reference/gvt-kvmgt.md §4.9), for any stack that runs it: the DMA
 * cache's references, shadow page-table references and page tracking, and shadow == guest. A
 * stack says where the mediator's part of its state is and which gfns its hypervisor
 * write-protects.
 */
import type { GvtConfig } from '../../models/gvt/config.js';
import { sptReferences, shadowUses, usersByDmaAddr } from '../../models/gvt/views.js';
import { dmaLeaves } from '../../models/gvt/huge2m.js';
import type { GpuAccess, GvtWorld } from '../../models/gvt/types.js';
import { pendingShadows, unsettledEntries } from '../../models/gvt/inflight.js';
import type { GvtOp } from '../../models/gvt/inflight.js';
import type { Invariant } from '../../src/design.js';
import { vgpuTables } from './reads.js';
import { shadowMismatch } from './shadow-check.js';

export interface GvtStackView<S> {
  readonly config: GvtConfig;
  /** The mediator's part of the state (read-only here). */
  world(state: S): GvtWorld;
  /** Gfns the hypervisor write-protects on the vGPU's behalf. */
  writeProtected(state: S): readonly number[];
  /**
   * The mediator's operations in flight (`models/gvt/inflight.ts`), on a stack that runs them in
   * phases: their translations hold references not yet written into a shadow entry, and the
   * guest entries they are settling may differ from their shadows until they finish.
   */
  inflight?(state: S): readonly GvtOp[];
}

/**
 * The view of a stack whose state holds the mediator's part and the write-protected gfns at top
 * level, and, on a stack that runs the mediator's operations in phases, where they are.
 */
export function gvtWorldView<S extends GvtWorld & { readonly writeProtected: readonly number[] }>(
  config: GvtConfig,
  inflight?: (state: S) => readonly GvtOp[],
): GvtStackView<S> {
  return {
    config,
    world: (state) => state,
    writeProtected: (state) => state.writeProtected,
    ...(inflight !== undefined ? { inflight } : {}),
  };
}

const noOps: readonly GvtOp[] = [];

function opsOf<S>(view: GvtStackView<S>, state: S): readonly GvtOp[] {
  return view.inflight?.(state) ?? noOps;
}

/** The GPU accesses a step reports (a stack's step result carries them beside the `OpResult`). */
export function gpuAccessesOf(result: unknown): readonly GpuAccess[] {
  return (result as { readonly accesses?: readonly GpuAccess[] } | null)?.accesses ?? [];
}

const hex = (value: number): string => `0x${value.toString(16)}`;

export function shadowMatchesGuestEntry<S, C>(view: GvtStackView<S>): Invariant<S, C> {
  return {
    name: 'shadow-matches-guest-entry',
    class: 'latent',
    description:
      "every host GGTT entry and every shadow page-table entry of a vGPU not in failsafe is scratch or the translation of the guest's entry",
    reads: (state) => {
      const world = view.world(state);
      return [
        world.guestPages,
        opsOf(view, state),
        ...vgpuTables(world.vgpu, 'ggttGuest', 'ggttHost', 'ggttPartial', 'spts', 'cache', 'failsafe'),
      ];
    },
    check({ after }) {
      const world = view.world(after);
      // An entry a store has reached, or a translation in flight will write, is settling.
      const settling = unsettledEntries(opsOf(view, after));
      const mismatch = world.vgpu === null ? null : shadowMismatch(world.vgpu, view.config, world.guestPages, settling);
      if (mismatch === null) return null;
      return {
        message: `${mismatch.where}: guest entry ${mismatch.guest}, shadow ${mismatch.shadow}`,
        actual: `shadow ${mismatch.shadow}`,
        expected: mismatch.expected,
      };
    },
  };
}

export function cacheKrefMatchesShadowUsers<S, C>(view: GvtStackView<S>): Invariant<S, C> {
  return {
    name: 'cache-kref-matches-shadow-users',
    class: 'accounting',
    description:
      "each DMA cache entry's reference count equals the shadow entries holding its DMA address (and the translations in flight to be written into one)",
    // `shadowUses` also reads the guest's entries, but only the DMA addresses are counted.
    reads: (state) => [opsOf(view, state), ...vgpuTables(view.world(state).vgpu, 'ggttHost', 'spts', 'cache')],
    check({ after }) {
      const world = view.world(after);
      if (world.vgpu === null) return null;
      const users = usersByDmaAddr(shadowUses(world.vgpu, view.config, world.guestPages));
      const pending = new Map<number, number>();
      for (const entry of pendingShadows(opsOf(view, after))) {
        if (!entry.cached) continue;
        for (const leaf of dmaLeaves(entry.pte)) pending.set(leaf.dmaAddr, (pending.get(leaf.dmaAddr) ?? 0) + 1);
      }
      for (const entry of Object.values(world.vgpu.cache)) {
        const written = users.get(entry.dmaAddr) ?? 0;
        const inFlight = pending.get(entry.dmaAddr) ?? 0;
        const count = written + inFlight;
        if (entry.kref === count) continue;
        const held = inFlight > 0 ? ` and ${inFlight} translations in flight` : '';
        return {
          message: `DMA cache entry of gfn ${entry.gfn} (${hex(entry.dmaAddr)}): kref ${entry.kref}, ${written} shadow entries${held} hold it`,
          actual: `kref ${entry.kref}`,
          expected: `kref ${count}`,
        };
      }
      return null;
    },
  };
}

export function shadowDmaAddrCached<S, C>(view: GvtStackView<S>): Invariant<S, C> {
  return {
    name: 'shadow-dma-addr-cached',
    class: 'accounting',
    description: 'every DMA address a shadow entry holds belongs to a live DMA cache entry (none dangles)',
    reads: (state) => vgpuTables(view.world(state).vgpu, 'ggttHost', 'spts', 'cache'),
    check({ after }) {
      const world = view.world(after);
      if (world.vgpu === null) return null;
      const cached = new Set(Object.values(world.vgpu.cache).map((entry) => entry.dmaAddr));
      const dangling = shadowUses(world.vgpu, view.config, world.guestPages).find((use) => !cached.has(use.dmaAddr));
      if (dangling === undefined) return null;
      return {
        message: `${dangling.where} holds DMA address ${hex(dangling.dmaAddr)}, which no DMA cache entry has`,
        actual: `${hex(dangling.dmaAddr)} dangling`,
        expected: 'a DMA address of a cache entry',
      };
    },
  };
}

export function sptRefcountMatchesReferences<S, C>(view: GvtStackView<S>): Invariant<S, C> {
  return {
    name: 'spt-refcount-matches-references',
    class: 'accounting',
    description:
      "each shadow page table's reference count equals the roots and shadow entries pointing at it (and the translations in flight to be written into one)",
    reads: (state) => [opsOf(view, state), ...vgpuTables(view.world(state).vgpu, 'mms', 'spts')],
    check({ after }) {
      const vgpu = view.world(after).vgpu;
      if (vgpu === null) return null;
      const references = sptReferences(vgpu);
      for (const entry of pendingShadows(opsOf(view, after))) {
        if (entry.pte.kind === 'table') references.set(entry.pte.gfn, (references.get(entry.pte.gfn) ?? 0) + 1);
      }
      for (const spt of Object.values(vgpu.spts)) {
        const count = references.get(spt.gfn) ?? 0;
        if (spt.refcount === count) continue;
        return {
          message: `shadow table of gfn ${spt.gfn}: refcount ${spt.refcount}, ${count} references`,
          actual: `refcount ${spt.refcount}`,
          expected: `refcount ${count}`,
        };
      }
      const missing = [...references.keys()].find((gfn) => vgpu.spts[gfn] === undefined);
      if (missing === undefined) return null;
      return {
        message: `a shadow entry or root points at the shadow table of gfn ${missing}, which does not exist`,
        actual: `no shadow table of gfn ${missing}`,
        expected: 'a live shadow table',
      };
    },
  };
}

/** §4.9 inv. 5: an spt exists ⇔ its gfn is registered ⇔ the hypervisor write-protects it. */
export function shadowedTableWriteProtected<S, C>(view: GvtStackView<S>): Invariant<S, C> {
  return {
    name: 'shadowed-table-write-protected',
    class: 'accounting',
    description:
      'a guest page is write-protected exactly when the mediator tracks it, and tracked exactly when it has a shadow table (failsafe may drop protection)',
    reads: (state) => [
      view.writeProtected(state),
      ...vgpuTables(view.world(state).vgpu, 'tracked', 'spts', 'failsafe'),
    ],
    check({ after }) {
      const vgpu = view.world(after).vgpu;
      const protectedGfns = new Set(view.writeProtected(after));
      const tracked = new Set(vgpu?.tracked ?? []);
      const shadowed = new Set(Object.keys(vgpu?.spts ?? {}).map(Number));
      for (const gfn of shadowed) {
        if (!tracked.has(gfn))
          return {
            message: `gfn ${gfn} has a shadow table but no page track`,
            actual: 'untracked',
            expected: 'tracked',
          };
        if (!protectedGfns.has(gfn) && vgpu?.failsafe !== true) {
          return {
            message: `gfn ${gfn} has a shadow table but the hypervisor does not write-protect it`,
            actual: 'writable',
            expected: 'write-protected',
          };
        }
      }
      for (const gfn of tracked) {
        if (!shadowed.has(gfn))
          return { message: `gfn ${gfn} is tracked with no shadow table`, actual: 'tracked', expected: 'untracked' };
      }
      for (const gfn of protectedGfns) {
        if (!tracked.has(gfn)) {
          return {
            message: `gfn ${gfn} is write-protected for the vGPU but not tracked by it`,
            actual: 'write-protected',
            expected: 'writable',
          };
        }
      }
      return null;
    },
  };
}
