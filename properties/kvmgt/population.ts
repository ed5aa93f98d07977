/**
 * What the generators foresee of a PPGTT's population (`models/gvt/ppgtt.ts translateTable`, as
 * `gtt.c ppgtt_populate_spt` walks the guest's tables): the attempts it would make, in order, and
 * which of them come after translated entries — where a failure leaves a population part-way
 * done, the case each unwind of the population must give back (docs/reference/gvt-kvmgt.md §4.11).
 * A guess from the guest's pages and the vGPU's tables and DMA cache, read only by the generators'
 * aiming: it leaves out a 2M map falling back to its split, a 64K table's split and a deferred
 * cache insert, which make more attempts than it counts.
 */
import { isPresentPte } from '../../models/gvt/ppgtt.js';
import type { GuestQword } from '../../models/gvt/types.js';
import type { KvmgtWorld } from '../../models/kvmgt/config.js';
import { readableGuestPage } from '../../models/kvmgt/host.js';
import type { KvmgtFaultPoint, KvmgtState } from '../../models/kvmgt/types.js';

/** One attempt a fault can strike: a page track (`trackAdd`) or a page's map (`pin`, `dmaMap`, `cacheAdd`). */
export interface PopulateAttempt {
  readonly kind: 'track' | 'map';
  /**
   * An entry of a table being populated is translated before it: a DMA reference of a leaf or a
   * 2M entry, a reference on a child table. A failure here is a population failing part-way.
   */
  readonly afterTranslated: boolean;
}

/**
 * The attempts the shadowing of the guest's table at `rootGfn` as a PPGTT root makes after its own
 * page track, in order (`ppgtt_populate_spt`, entry by entry, a table's before its leaves): a page
 * track per table it names, a map per page not cached yet (a 2M entry's whole map, a 4K leaf's),
 * up to a page the VMM does not map, where the population fails anyway (`stopped`). A page cached
 * already, or a table shadowed already, is a reference taken without an attempt.
 */
export function populateAttempts(
  world: KvmgtWorld,
  state: KvmgtState,
  rootGfn: number,
): { readonly attempts: readonly PopulateAttempt[]; readonly stopped: boolean } {
  const present = (gfn: number): Extract<GuestQword, { kind: 'pte' }>[] =>
    (state.guestPages[gfn] ?? []).filter(isPresentPte);
  const reachable = (gfn: number): boolean => readableGuestPage(state, world, gfn);
  const tracked = new Set([rootGfn]);
  const mapped = new Set(Object.keys(state.vgpu?.cache ?? {}).map(Number));
  const attempts: PopulateAttempt[] = [];
  // The root's entries translated so far, and the current child table's.
  let rootDone = 0;
  let leavesDone = 0;
  // False where the population stops; a page cached already is a reference, no attempt.
  const map = (gfn: number): boolean => {
    if (mapped.has(gfn)) return true;
    if (!reachable(gfn)) return false;
    attempts.push({ kind: 'map', afterTranslated: rootDone + leavesDone > 0 });
    mapped.add(gfn);
    return true;
  };
  const spts = state.vgpu?.spts ?? {};
  // A page shadowed already is referenced, not tracked again; one shadowed at the other level
  // is refused (EINVAL).
  if (!reachable(rootGfn) || spts[rootGfn] !== undefined) return { attempts, stopped: true };
  for (const entry of present(rootGfn)) {
    const shadowed = spts[entry.gfn];
    if (entry.pse === true) {
      if (!map(entry.gfn)) return { attempts, stopped: true };
    } else if (shadowed !== undefined) {
      if (shadowed.level !== 'pt') return { attempts, stopped: true };
    } else if (!tracked.has(entry.gfn)) {
      tracked.add(entry.gfn);
      attempts.push({ kind: 'track', afterTranslated: rootDone > 0 });
      if (!reachable(entry.gfn)) return { attempts, stopped: true };
      leavesDone = 0;
      for (const leaf of present(entry.gfn)) {
        if (!map(leaf.gfn)) return { attempts, stopped: true };
        leavesDone += 1;
      }
      leavesDone = 0;
    }
    rootDone += 1;
  }
  return { attempts, stopped: false };
}

/**
 * The fault (`injectFault`'s point and nth) that strikes the last attempt of the shadowing of the
 * guest's table at `rootGfn` that comes after translated entries: the population failing
 * part-way with the most translated before it. Undefined when no attempt does. A page track counts
 * the root's own first; a map fails at `point` unless that names a page track (then its pin).
 */
export function partWayFault(
  world: KvmgtWorld,
  state: KvmgtState,
  rootGfn: number,
  point: KvmgtFaultPoint,
): { readonly point: KvmgtFaultPoint; readonly nth: number } | undefined {
  const { attempts } = populateAttempts(world, state, rootGfn);
  const last = attempts.map((attempt) => attempt.afterTranslated).lastIndexOf(true);
  const struck = attempts[last];
  if (struck === undefined) return undefined;
  const before = attempts.slice(0, last + 1).filter((attempt) => attempt.kind === struck.kind).length;
  return struck.kind === 'track'
    ? { point: 'trackAdd', nth: before + 1 }
    : { point: point === 'trackAdd' ? 'pin' : point, nth: before };
}

/**
 * The armed fault strikes the shadowing of the guest's table at `rootGfn` as a PPGTT root after
 * translated entries: a population failing part-way. (A population the VMM's missing page stops
 * is refused with nothing changed: no fault struck, the state is kept, `models/kvmgt/step.ts`.)
 */
export function strikesPartWay(world: KvmgtWorld, state: KvmgtState, rootGfn: number): boolean {
  const fault = state.fault;
  if (fault === null) return false;
  const { attempts } = populateAttempts(world, state, rootGfn);
  const kind = fault.point === 'trackAdd' ? 'track' : 'map';
  // The root's own page track is the first.
  let count = kind === 'track' ? 1 : 0;
  for (const attempt of attempts) {
    if (attempt.kind === kind) count += 1;
    if (count === fault.nth) return attempt.afterTranslated;
  }
  return false;
}
