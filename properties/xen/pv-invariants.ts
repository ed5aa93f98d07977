/**
 * Invariants of PV memory over a Xen state (docs/reference/xen-pv.md §"Invariants"), for any stack:
 * each is a factory taking the stack's view of its Xen state (`(state: S) => XenState`).
 *
 * - `noWritablePageTable`: no frame typed as a page table (l1..l4) is writable through anything: an
 *   RW entry of a validated L1 table, a writable grant mapping, an IOMMU entry with write.
 * - `pageTypeCountMatchesReferences`: each frame's type count equals the type references recomputed
 *   from every RW entry of a validated L1 table, every grant mapping's writable type references
 *   (grant_table.c step 11) and every pin.
 * - `grantIommuCountsMatchMappings`: a PV mapper with IOMMU sync counts, per mfn, exactly its live
 *   grant mappings of other domains' frames (read-only, writable).
 * - `pvIommuMatchesTypesAndGrants`: a running PV domain with IOMMU sync maps in its own IOMMU table
 *   exactly its frames typed `writable` (read/write, dfn = mfn; count 0 or more, as
 *   `_get_page_type` / `guest_physmap_add_page` / `cleanup_page_mappings` keep them) and the frames
 *   of its live grant mappings of other domains' pages (read/write with a writable one, else
 *   read-only), nothing else.
 */
import { grantTypeRefs } from '../../models/xen/grant-iommu.js';
import { pvIommuSync } from '../../models/xen/page-cleanup.js';
import { pageTypeOf } from '../../models/xen/page-info.js';
import { isPageTableType } from '../../models/xen/page-type.js';
import type { IommuPte, XenState } from '../../models/xen/types.js';
import type { Invariant } from '../../src/design.js';

import type { XenView } from './grant-v2-invariants.js';
import { domainParts } from '../xengt/reads.js';

/** The validated L1 tables in use, with their owner and entries. */
function liveL1Tables(xen: XenState): {
  readonly tableMfn: number;
  readonly owner: number;
  readonly slots: readonly ({ mfn: number; rw: boolean } | null)[];
}[] {
  const tables = [];
  for (const [key, info] of Object.entries(xen.pageTypes ?? {})) {
    if (info.type !== 'l1' || !info.validated || info.count === 0) continue;
    const owner = xen.memory.frames[Number(key)]?.owner;
    if (owner === null || owner === undefined) continue;
    tables.push({ tableMfn: Number(key), owner, slots: xen.frameContents?.[key] ?? [] });
  }
  return tables;
}

/** Everything through which `mfn` is writable, in words. */
export function writableAccesses(xen: XenState, mfn: number): string[] {
  const found: string[] = [];
  for (const table of liveL1Tables(xen)) {
    table.slots.forEach((entry, slot) => {
      if (entry?.rw === true && entry.mfn === mfn) {
        found.push(`writable-mapped by dom${table.owner} L1 mfn ${table.tableMfn} slot ${slot}`);
      }
    });
  }
  for (const domain of xen.domains) {
    domain.maptrack.forEach((mapping, handle) => {
      if (mapping !== null && !mapping.readonly && mapping.mfn === mfn) {
        found.push(`grant-mapped writable by dom${domain.domid} handle ${handle}`);
      }
    });
    for (const [dfn, pte] of Object.entries(domain.iommu?.table ?? {})) {
      if (pte.write && pte.mfn === mfn) found.push(`DMA-writable through dom${domain.domid}'s IOMMU dfn ${dfn}`);
    }
  }
  return found;
}

export function noWritablePageTable<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'no-writable-page-table',
    class: 'effect',
    description:
      'no frame typed as a page table (l1..l4) is writable through an L1 entry, a grant mapping or an IOMMU entry',
    reads: (state) => {
      const xen = view(state);
      return [xen.pageTypes, xen.frameContents, ...domainParts(xen, 'maptrack', 'iommu')];
    },
    check({ after }) {
      const xen = view(after);
      for (const [key, info] of Object.entries(xen.pageTypes ?? {})) {
        if (!isPageTableType(info.type)) continue;
        const writable = writableAccesses(xen, Number(key));
        if (writable.length === 0) continue;
        return {
          message: `mfn ${key}: type ${info.type} count ${info.count} and ${writable.join(', ')}`,
          actual: writable.join(', '),
          expected: `no writable access to a frame typed ${info.type}`,
        };
      }
      return null;
    },
  };
}

/** The type references recomputed for every frame: RW L1 entries, grant mappings, pins. */
export function recomputedTypeRefs(xen: XenState): Map<number, { count: number; holders: string[] }> {
  const refs = new Map<number, { count: number; holders: string[] }>();
  const add = (mfn: number, holder: string, count = 1): void => {
    const known = refs.get(mfn) ?? { count: 0, holders: [] };
    known.count += count;
    known.holders.push(holder);
    refs.set(mfn, known);
  };
  for (const table of liveL1Tables(xen)) {
    table.slots.forEach((entry, slot) => {
      if (entry?.rw === true && xen.memory.frames[entry.mfn] !== undefined) {
        add(entry.mfn, `RW entry of dom${table.owner} L1 mfn ${table.tableMfn} slot ${slot}`);
      }
    });
  }
  for (const domain of xen.domains) {
    domain.maptrack.forEach((mapping, handle) => {
      const granter = mapping === null ? undefined : xen.domains[mapping.granterDomid];
      if (mapping === null || granter === undefined) return;
      const count = grantTypeRefs(mapping, domain.domid, granter);
      if (count > 0) add(mapping.mfn, `grant mapping of dom${domain.domid} handle ${handle}`, count);
    });
  }
  for (const [key, info] of Object.entries(xen.pageTypes ?? {})) {
    if (info.pinned) add(Number(key), 'pin');
  }
  return refs;
}

/**
 * `inflight`: type references operations between their phases hold (a grant unmap whose handle is
 * freed and whose completion has not run yet), for stacks that phase them.
 */
export function pageTypeCountMatchesReferences<S, C>(
  view: XenView<S>,
  inflight?: (state: S, mfn: number) => number,
): Invariant<S, C> {
  return {
    name: 'page-type-count-matches-references',
    class: 'accounting',
    description:
      "each frame's type count equals the type references recomputed from every RW L1 entry, grant mapping and pin",
    // With references in flight the verdict depends on more than these parts: checked every step.
    ...(inflight === undefined
      ? {
          reads: (state: S) => {
            const xen = view(state);
            return [xen.pageTypes, xen.frameContents, ...domainParts(xen, 'maptrack')];
          },
        }
      : {}),
    check({ after }) {
      const xen = view(after);
      const refs = recomputedTypeRefs(xen);
      const mfns = new Set<number>([...refs.keys(), ...Object.keys(xen.pageTypes ?? {}).map(Number)]);
      for (const mfn of [...mfns].sort((a, b) => a - b)) {
        const info = pageTypeOf(xen, mfn);
        const held = refs.get(mfn) ?? { count: 0, holders: [] };
        const pending = inflight === undefined ? 0 : inflight(after, mfn);
        if (info.count === held.count + pending) continue;
        const holders = held.holders.length === 0 ? 'no type reference' : held.holders.join(', ');
        return {
          message: `mfn ${mfn}: type ${info.type} count ${info.count}, type references: ${holders}${pending === 0 ? '' : `, ${pending} in flight`}`,
          actual: `type count ${info.count}`,
          expected: `type count ${held.count + pending}`,
        };
      }
      return null;
    },
  };
}

export function grantIommuCountsMatchMappings<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'grant-iommu-counts-match-mappings',
    class: 'accounting',
    description:
      "a PV mapper's per-mfn grant IOMMU counts equal its live grant mappings of other domains' frames, read-only and writable",
    reads: (state) => domainParts(view(state), 'maptrack', 'grantIommuCounts', 'iommu'),
    check({ after }) {
      const xen = view(after);
      for (const domain of xen.domains) {
        const expected = new Map<number, { read: number; write: number }>();
        if (pvIommuSync(domain)) {
          for (const mapping of domain.maptrack) {
            if (mapping === null || mapping.granterDomid === domain.domid) continue;
            const node = expected.get(mapping.mfn) ?? { read: 0, write: 0 };
            if (mapping.readonly) node.read += 1;
            else node.write += 1;
            expected.set(mapping.mfn, node);
          }
        }
        const counted = domain.grantIommuCounts ?? {};
        const mfns = new Set<number>([...expected.keys(), ...Object.keys(counted).map(Number)]);
        for (const mfn of [...mfns].sort((a, b) => a - b)) {
          const want = expected.get(mfn) ?? { read: 0, write: 0 };
          const have = counted[mfn] ?? { read: 0, write: 0 };
          if (want.read === have.read && want.write === have.write) continue;
          return {
            message: `dom${domain.domid} mfn ${mfn}: grant IOMMU counts read ${have.read} write ${have.write}, live grant mappings read-only ${want.read} writable ${want.write}`,
            actual: `read ${have.read}, write ${have.write}`,
            expected: `read ${want.read}, write ${want.write}`,
          };
        }
      }
      return null;
    },
  };
}

function describePte(pte: IommuPte | undefined): string {
  if (pte === undefined) return 'not mapped';
  return `mfn ${pte.mfn} ${pte.write ? 'read/write' : pte.read ? 'read-only' : 'no access'}`;
}

/** The IOMMU table Xen keeps for a running PV domain with sync: its writable frames and the frames of its live grant mappings of others. */
export function expectedPvIommuTable(xen: XenState, domid: number): Map<number, IommuPte> {
  const table = new Map<number, IommuPte>();
  for (const frame of xen.memory.frames) {
    if (frame.owner === domid && pageTypeOf(xen, frame.mfn).type === 'writable') {
      table.set(frame.mfn, { mfn: frame.mfn, read: true, write: true });
    }
  }
  for (const mapping of xen.domains[domid]?.maptrack ?? []) {
    if (mapping === null || mapping.granterDomid === domid) continue;
    const mfn = mapping.mfn;
    if (!mapping.readonly) table.set(mfn, { mfn, read: true, write: true });
    else if (!table.has(mfn)) table.set(mfn, { mfn, read: true, write: false });
  }
  return table;
}

export function pvIommuMatchesTypesAndGrants<S, C>(view: XenView<S>): Invariant<S, C> {
  return {
    name: 'pv-iommu-matches-types-and-grants',
    class: 'latent',
    description:
      "a running PV domain with IOMMU sync maps exactly its writable-typed frames and the frames of its live grant mappings of other domains' pages, at dfn = mfn",
    reads: (state) => {
      const xen = view(state);
      return [xen.pageTypes, xen.memory, ...domainParts(xen, 'iommu', 'maptrack', 'life')];
    },
    check({ after }) {
      const xen = view(after);
      for (const domain of xen.domains) {
        if (domain.life !== 'running' || !pvIommuSync(domain)) continue;
        const expected = expectedPvIommuTable(xen, domain.domid);
        const table = domain.iommu?.table ?? {};
        const dfns = new Set<number>([...expected.keys(), ...Object.keys(table).map(Number)]);
        for (const dfn of [...dfns].sort((a, b) => a - b)) {
          const want = expected.get(dfn);
          const have = table[dfn];
          if (want?.mfn === have?.mfn && want?.read === have?.read && want?.write === have?.write) continue;
          const info = pageTypeOf(xen, dfn);
          return {
            message: `dom${domain.domid} IOMMU dfn ${dfn}: ${describePte(have)}, frame type ${info.type} count ${info.count}, grant counts ${JSON.stringify(domain.grantIommuCounts?.[dfn] ?? { read: 0, write: 0 })}`,
            actual: describePte(have),
            expected: describePte(want),
          };
        }
      }
      return null;
    },
  };
}

/** All four, for a stack's invariant list. */
export function pvMemoryInvariants<S, C>(view: XenView<S>): Invariant<S, C>[] {
  return [
    noWritablePageTable(view),
    pageTypeCountMatchesReferences(view),
    grantIommuCountsMatchMappings(view),
    pvIommuMatchesTypesAndGrants(view),
  ];
}
