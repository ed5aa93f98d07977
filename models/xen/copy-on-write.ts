/**
 * Copy-on-write for the Xen state. A step starts from `shareXenState(before)`: a new state whose
 * host memory, domain array, domains and their tables are the very objects of `before`. Every
 * change goes through the `writable*` functions, which copy the part the first time this state
 * changes it and hand back that copy from then on. What a step leaves alone stays shared with
 * the state before it, so:
 * - a refused request that changed nothing hands back a state whose every part is `before`'s,
 *   and the atomicity invariant's comparison stops at the first level;
 * - an invariant that reads only unchanged parts is not re-checked (`Invariant.reads`);
 * - a step copies a table or two, not the whole world.
 *
 * A state that `shareXenState` did not make (`createXenState`, the deep `cloneXenState` that
 * tests use) owns all its parts: the same functions change it in place.
 *
 * The rule for callers: read through any reference, but write only through what a `writable*`
 * function returned *in this step* — a domain fetched before may be the shared one. The
 * every-design purity test (`test/engine/purity.test.ts`) catches a write that misses it: the
 * state a step was given must come out unchanged.
 */
import { cloneHostMemory } from '../memory/frames.js';
import type { HostMemory } from '../memory/frames.js';
import type {
  ActiveEntry,
  GrantEntry,
  GrantIommuCount,
  GrantStatus,
  MaptrackEntry,
  P2mEntry,
  PageTypeInfo,
  PvL1e,
  XenDomain,
  XenDomainIommu,
  XenState,
} from './types.js';

/** The parts each shared state has copied so far; a state absent here owns everything. */
const copiedIn = new WeakMap<XenState, WeakSet<object>>();

/** A state that shares every part with `before` until it changes one. */
export function shareXenState(before: XenState): XenState {
  // Assigned one by one (not spread): every step of the Xen stacks starts here.
  const state: XenState = { memory: before.memory, domains: before.domains };
  if (before.pageTypes !== undefined) state.pageTypes = before.pageTypes;
  if (before.lastGrantCopy !== undefined) state.lastGrantCopy = before.lastGrantCopy;
  if (before.frameContents !== undefined) state.frameContents = before.frameContents;
  copiedIn.set(state, new WeakSet());
  return state;
}

/**
 * What a step hands back of Xen: `after` (shared from `before`, directly or through mid-step
 * shares) when it changed a part, else `before` itself, so that a step that left Xen alone leaves
 * it the very same object (an invariant reading `state.xen` is then skipped).
 */
export function settleXenState(before: XenState, after: XenState): XenState {
  const keys = Object.keys(after) as (keyof XenState)[];
  if (keys.length !== Object.keys(before).length) return after;
  return keys.every((key) => Object.hasOwn(before, key) && before[key] === after[key]) ? before : after;
}

function owns(state: XenState, part: object): boolean {
  const copied = copiedIn.get(state);
  return copied === undefined || copied.has(part);
}

function adopt<T extends object>(state: XenState, part: T): T {
  copiedIn.get(state)?.add(part);
  return part;
}

export function writableMemory(state: XenState): HostMemory {
  if (!owns(state, state.memory)) state.memory = adopt(state, cloneHostMemory(state.memory));
  return state.memory;
}

/** The domain's own fields (life, tot_pages) to change; its tables stay shared until written. */
export function writableDomain(state: XenState, domid: number): XenDomain | undefined {
  const domain = state.domains[domid];
  if (domain === undefined || owns(state, domain)) return domain;
  if (!owns(state, state.domains)) state.domains = adopt(state, [...state.domains]);
  const copy = adopt(state, { ...domain });
  state.domains[domid] = copy;
  return copy;
}

export function writableP2m(state: XenState, domid: number): Record<string, P2mEntry> {
  const domain = writableDomain(state, domid);
  if (domain === undefined) throw new Error(`xen: no domain ${domid} to change the p2m of`);
  if (!owns(state, domain.p2m)) domain.p2m = adopt(state, { ...domain.p2m });
  return domain.p2m;
}

export function writableMaptrack(state: XenState, domid: number): (MaptrackEntry | null)[] {
  const domain = writableDomain(state, domid);
  if (domain === undefined) throw new Error(`xen: no domain ${domid} to change the maptrack of`);
  if (!owns(state, domain.maptrack)) domain.maptrack = adopt(state, [...domain.maptrack]);
  return domain.maptrack;
}

export function writableGrantEntry(state: XenState, domid: number, ref: number): GrantEntry | undefined {
  const domain = writableDomain(state, domid);
  if (domain?.grantTable[ref] === undefined) return undefined;
  if (!owns(state, domain.grantTable)) domain.grantTable = adopt(state, [...domain.grantTable]);
  return writableElement(state, domain.grantTable, ref);
}

export function writableActiveEntry(state: XenState, domid: number, ref: number): ActiveEntry | undefined {
  const domain = writableDomain(state, domid);
  if (domain?.active[ref] === undefined) return undefined;
  if (!owns(state, domain.active)) domain.active = adopt(state, [...domain.active]);
  return writableElement(state, domain.active, ref);
}

/** The v2 status word of `ref` to change (`grant-status.ts`), or undefined when the domain keeps none for it. */
export function writableGrantStatus(state: XenState, domid: number, ref: number): GrantStatus | undefined {
  const domain = writableDomain(state, domid);
  if (domain?.grantStatus?.[ref] === undefined) return undefined;
  if (!owns(state, domain.grantStatus)) domain.grantStatus = adopt(state, [...domain.grantStatus]);
  return writableElement(state, domain.grantStatus, ref);
}

/** The domain's IOMMU context to change (table and pending flushes copied once), or undefined without one. */
export function writableIommu(state: XenState, domid: number): XenDomainIommu | undefined {
  const domain = writableDomain(state, domid);
  if (domain?.iommu === undefined) return undefined;
  if (!owns(state, domain.iommu)) {
    domain.iommu = adopt(state, {
      sharePt: domain.iommu.sharePt,
      table: { ...domain.iommu.table },
      flushPending: [...domain.iommu.flushPending],
    });
  }
  return domain.iommu;
}

/**
 * The domain's IOMMU context replaced by an empty one (`sharePt` as given): a context built as the
 * domain is (`iommu_domain_init`), or one whose tables `iommu_free_pgtables` freed. Its table and
 * pending flushes are this state's to change from then on.
 */
export function resetIommu(state: XenState, domid: number, sharePt: boolean): XenDomainIommu {
  const domain = writableDomain(state, domid);
  if (domain === undefined) throw new Error(`xen: no domain ${domid} to give an IOMMU context`);
  domain.iommu = adopt(state, { sharePt, table: {}, flushPending: [] });
  return domain.iommu;
}

/** The page-type map to change (created empty the first time). */
export function writablePageTypes(state: XenState): Record<string, PageTypeInfo> {
  if (state.pageTypes === undefined) state.pageTypes = adopt(state, {});
  else if (!owns(state, state.pageTypes)) state.pageTypes = adopt(state, { ...state.pageTypes });
  return state.pageTypes;
}

/** The frame-contents map to change (created empty the first time); its slot arrays are replaced whole. */
export function writableFrameContents(state: XenState): Record<string, readonly (PvL1e | null)[]> {
  if (state.frameContents === undefined) state.frameContents = adopt(state, {});
  else if (!owns(state, state.frameContents)) state.frameContents = adopt(state, { ...state.frameContents });
  return state.frameContents;
}

/** A PV mapper's per-mfn grant IOMMU counts to change (created empty the first time); entries are replaced whole. */
export function writableGrantIommuCounts(state: XenState, domid: number): Record<string, GrantIommuCount> {
  const domain = writableDomain(state, domid);
  if (domain === undefined) throw new Error(`xen: no domain ${domid} to change the grant IOMMU counts of`);
  if (domain.grantIommuCounts === undefined) domain.grantIommuCounts = adopt(state, {});
  else if (!owns(state, domain.grantIommuCounts))
    domain.grantIommuCounts = adopt(state, { ...domain.grantIommuCounts });
  return domain.grantIommuCounts;
}

/** The element at `index` of an array this state owns, copied if it is still shared. */
function writableElement<T extends object>(state: XenState, array: T[], index: number): T | undefined {
  const element = array[index];
  if (element === undefined || owns(state, element)) return element;
  const copy = adopt(state, { ...element });
  array[index] = copy;
  return copy;
}
