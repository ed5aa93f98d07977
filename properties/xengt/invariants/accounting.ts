/**
 * Accounting invariants: the counts the model keeps (frame reference counts, pin counters,
 * status bits, tot_pages, the backend's mappings) agree with what every structure says.
 */
import { grantStatusBits } from '../../../models/xen/grant-status.js';
import { pinTotal } from '../../../models/xen/grant-table.js';
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import { inflightRefs } from '../../../models/xengt/inflight.js';
import type { XenGtOp } from '../../../models/xengt/inflight.js';
import type { ActiveEntry, MaptrackEntry, XenDomain } from '../../../models/xen/types.js';
import type { Invariant, Violation } from '../../../src/design.js';
import { vgpuTables } from '../../gvt/reads.js';
import { backendP2m, domainParts, holderParts } from '../reads.js';
import { backendPoolMappings, describeHolders, holderCensus, holdersByFrame } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

export const frameRefcountMatchesHolders: XenGtInvariant = {
  name: 'frame-refcount-matches-holders',
  class: 'accounting',
  description:
    "each frame's reference count equals the holders recomputed from every p2m and maptrack, and the references Xen operations in flight hold",
  reads: (state) => [state.xen.memory, state.inflight, ...holderParts(state.xen)],
  check({ after }) {
    const counted = holderCensus(after.xen).total;
    for (const frame of after.xen.memory.frames) {
      const inflight = after.inflight.reduce((sum, op) => sum + inflightRefs(op, frame.mfn), 0);
      if (frame.refcount === (counted[frame.mfn] ?? 0) + inflight) continue;
      const frameHolders = holdersByFrame(after.xen)[frame.mfn] ?? [];
      const held = inflight === 0 ? '' : `, ${inflight} references of operations in flight`;
      return {
        message: `mfn ${frame.mfn}: refcount ${frame.refcount}, ${frameHolders.length} holders (${describeHolders(frameHolders)})${held}`,
        actual: `refcount ${frame.refcount}`,
        expected: `refcount ${frameHolders.length + inflight}`,
      };
    }
    return null;
  },
};

export const freeIffUnreferenced: XenGtInvariant = {
  name: 'free-iff-unreferenced',
  class: 'accounting',
  description: 'a frame is free (no owner, on the free list) exactly when its reference count is zero',
  reads: (state) => [state.xen.memory],
  check({ after }) {
    const memory = after.xen.memory;
    const listed = memory.frames.map(() => false);
    for (const mfn of memory.freeList) listed[mfn] = true;
    for (const frame of memory.frames) {
      const free = frame.owner === null;
      const onFreeList = listed[frame.mfn] === true;
      if (free === (frame.refcount === 0) && free === onFreeList) continue;
      return {
        message: `mfn ${frame.mfn}: owner ${frame.owner === null ? 'none' : `dom${frame.owner}`}, refcount ${frame.refcount}, ${onFreeList ? '' : 'not '}on the free list`,
        actual: `refcount ${frame.refcount}, ${free ? 'free' : 'owned'}`,
        expected: free ? 'refcount 0 and on the free list' : 'refcount > 0 and off the free list',
      };
    }
    return null;
  },
};

export const totPagesMatchesOwnedFrames: XenGtInvariant = {
  name: 'tot-pages-matches-owned-frames',
  class: 'accounting',
  description: "a domain's tot_pages (with its Xen-heap pages, d->xenheap_pages) equals the number of frames it owns",
  reads: (state) => [state.xen.memory, ...domainParts(state.xen, 'totPages', 'xenheapPages')],
  check({ after }) {
    const ownedBy = after.xen.domains.map(() => 0);
    for (const frame of after.xen.memory.frames) {
      if (frame.owner !== null) ownedBy[frame.owner] = (ownedBy[frame.owner] ?? 0) + 1;
    }
    for (const domain of after.xen.domains) {
      const owned = (ownedBy[domain.domid] ?? 0) - (domain.xenheapPages ?? 0);
      if (domain.totPages === owned) continue;
      return {
        message: `dom${domain.domid}: tot_pages ${domain.totPages}, owns ${owned} frames`,
        actual: `tot_pages ${domain.totPages}`,
        expected: `tot_pages ${owned}`,
      };
    }
    return null;
  },
};

type PinCounter = 'hstw' | 'hstr' | 'devw' | 'devr';
const pinCounters: readonly PinCounter[] = ['hstw', 'hstr', 'devw', 'devr'];

/**
 * Live handles per (granter, ref) and pin counter, from every maptrack in one pass: the count of
 * `counter` for `ref` of `granterDomid` is at `liveHandleIndex(...)`.
 */
function liveHandleCounts(domains: readonly XenDomain[], refs: number, inflight: readonly XenGtOp[]): number[] {
  const counts = new Array<number>(domains.length * refs * pinCounters.length).fill(0);
  const count = (mapping: Pick<MaptrackEntry, 'granterDomid' | 'ref'>, counter: number): void => {
    const index = liveHandleIndex(refs, mapping.granterDomid, mapping.ref, counter);
    counts[index] = (counts[index] ?? 0) + 1;
  };
  for (const mapper of domains) {
    for (const mapping of mapper.maptrack) {
      if (mapping === null || mapping.ref >= refs || mapping.granterDomid >= domains.length) continue;
      if (mapping.host) count(mapping, mapping.readonly ? 1 : 0);
      if (mapping.device) count(mapping, mapping.readonly ? 3 : 2);
    }
  }
  // An unmap between unmap_common and its completion still holds the pins of what it released; a
  // map between its pin and its maptrack entry holds the pins it took.
  for (const op of inflight) {
    const holding =
      op.kind === 'mapGrantRef' || (op.kind === 'unmapGrantRef' && op.pending.putFirst !== true) ? op.pending : null;
    if (holding === null || holding.ref >= refs || holding.granterDomid >= domains.length) continue;
    if (holding.host) count(holding, holding.readonly ? 1 : 0);
    if (holding.device) count(holding, holding.readonly ? 3 : 2);
  }
  return counts;
}

/** `counter` is an index into `pinCounters`. */
function liveHandleIndex(refs: number, granterDomid: number, ref: number, counter: number): number {
  return (granterDomid * refs + ref) * pinCounters.length + counter;
}

function forEachActive(
  domains: readonly XenDomain[],
  visit: (granter: XenDomain, ref: number, act: ActiveEntry) => Violation | null,
): Violation | null {
  for (const granter of domains) {
    for (let ref = 0; ref < granter.active.length; ref++) {
      const act = granter.active[ref];
      if (act === undefined) continue;
      const violation = visit(granter, ref, act);
      if (violation !== null) return violation;
    }
  }
  return null;
}

export const grantPinsMatchHandles: XenGtInvariant = {
  name: 'grant-pins-match-handles',
  class: 'accounting',
  description:
    'each pin counter of an active grant entry equals the live maptrack handles of that kind, the unmaps in flight that released one and the maps in flight that took one',
  reads: (state) => [state.inflight, ...domainParts(state.xen, 'active', 'maptrack')],
  check({ after }) {
    const domains = after.xen.domains;
    const refs = Math.max(0, ...domains.map((domain) => domain.active.length));
    const counts = liveHandleCounts(domains, refs, after.inflight);
    return forEachActive(domains, (granter, ref, act) => {
      const index = pinCounters.findIndex(
        (name, counter) => act[name] !== counts[liveHandleIndex(refs, granter.domid, ref, counter)],
      );
      const counter = pinCounters[index];
      if (counter === undefined) return null;
      const live = counts[liveHandleIndex(refs, granter.domid, ref, index)] ?? 0;
      return {
        message: `dom${granter.domid} grant ref ${ref}: ${counter} pin ${act[counter]}, ${live} live handles`,
        actual: `${counter} ${act[counter]}`,
        expected: `${counter} ${live}`,
      };
    });
  },
};

export const grantReadingMatchesPins: XenGtInvariant = {
  name: 'grant-reading-matches-pins',
  class: 'accounting',
  description: 'GTF_reading is set exactly while the grant entry is pinned',
  reads: (state) => domainParts(state.xen, 'grantTable', 'active', 'grantStatus'),
  check({ after }) {
    return forEachActive(after.xen.domains, (granter, ref, act) => {
      const reading = grantStatusBits(granter, ref).reading;
      const pinned = pinTotal(act) > 0;
      if (reading === pinned) return null;
      return {
        message: `dom${granter.domid} grant ref ${ref}: GTF_reading ${reading ? 'set' : 'clear'} with pin total ${pinTotal(act)}`,
        actual: `GTF_reading ${reading ? 'set' : 'clear'}`,
        expected: `GTF_reading ${pinned ? 'set' : 'clear'}`,
      };
    });
  },
};

export const grantWritingMatchesPins: XenGtInvariant = {
  name: 'grant-writing-matches-pins',
  class: 'accounting',
  description: 'GTF_writing is set exactly while the grant entry has a writable pin',
  reads: (state) => domainParts(state.xen, 'grantTable', 'active', 'grantStatus'),
  check({ after }) {
    return forEachActive(after.xen.domains, (granter, ref, act) => {
      const writing = grantStatusBits(granter, ref).writing;
      const writable = act.hstw + act.devw > 0;
      if (writing === writable) return null;
      return {
        message: `dom${granter.domid} grant ref ${ref}: GTF_writing ${writing ? 'set' : 'clear'} with ${act.hstw + act.devw} writable pins`,
        actual: `GTF_writing ${writing ? 'set' : 'clear'}`,
        expected: `GTF_writing ${writable ? 'set' : 'clear'}`,
      };
    });
  },
};

/**
 * A backend whose DMA addresses are its own gfns (the map backend): the backend's pool holds
 * exactly one mapping per DMA cache entry, at the entry's DMA address, of the entry's guest page —
 * or per GGTT write in flight whose translation mapped a page and whose cache entry the shadow
 * write will make (`models/gvt/ggtt.ts`). (A backend of machine addressing, such as lookup, maps
 * nothing.)
 */
export function backendMappingsMatchShadow(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'backend-mappings-match-shadow',
    class: 'accounting',
    description:
      "the map backend's pool mappings are exactly the DMA cache's addresses and those of the GGTT writes in flight, each mapping its entry's guest page",
    reads: (state) => [backendP2m(state.xen, config.backendDomid), state.inflight, ...vgpuTables(state.vgpu, 'cache')],
    check({ after }) {
      if (config.backend.addressing !== 'backend-iommu') return null;
      const cache = Object.values(after.vgpu?.cache ?? {});
      const pool = after.xen.domains[config.backendDomid]?.p2m ?? {};
      const usersByAddr = new Map<number, number>();
      const use = (dmaAddr: number): void => {
        usersByAddr.set(dmaAddr, (usersByAddr.get(dmaAddr) ?? 0) + 1);
      };
      for (const entry of cache) use(entry.dmaAddr);
      for (const op of after.inflight)
        if (op.kind === 'gttWrite' && op.pending.mapped?.ok === true) use(op.pending.mapped.dmaAddr);
      for (const dfn of backendPoolMappings(after, config)) {
        const users = usersByAddr.get(dfn) ?? 0;
        if (users === 1) continue;
        return {
          message: `backend mapping at dom${config.backendDomid} gfn ${dfn} is the DMA address of ${users} DMA cache entries or GGTT writes in flight`,
          actual: `${users} cache entries`,
          expected: '1 cache entry',
        };
      }
      for (const entry of cache) {
        const mapping = pool[entry.dmaAddr];
        const mapped = mapping?.type === 'map_foreign' && mapping.foreignGfn === entry.gfn;
        if (mapped && mapping.foreignDomid === config.guestDomid) continue;
        return {
          message: `DMA cache entry of gfn ${entry.gfn} holds dom${config.backendDomid} gfn ${entry.dmaAddr}, which ${mapping === undefined ? 'maps nothing' : 'maps another page'}`,
          actual: mapping === undefined ? 'no backend mapping' : 'a mapping of another page',
          expected: `a backend mapping of dom${config.guestDomid} gfn ${entry.gfn}`,
        };
      }
      return null;
    },
  };
}
