/**
 * PV memory in the Xen passthrough stack (models/xenpt/pv-memory.ts): the PV MMU commands'
 * generators and the picks they hold, resolved against the state (a table frame the PV domain
 * owns, an L1 in use first; an entry's frame among the domain's tables and the frames its device
 * reaches; a slot that holds an entry; a pinned frame to unpin), their lines for reports, and a
 * line of page types and grant IOMMU counts for `dmaprop replay`. The PV domains are the PV guest
 * and the hardware domain (both PV with an IOMMU context of their own).
 */
import fc from 'fast-check';
import { DOMID_IO } from '../../models/xen/pci.js';
import { pageTypeOf } from '../../models/xen/page-info.js';
import { L1_SLOTS } from '../../models/xen/page-type.js';
import type { PvMmuCommand } from '../../models/xen/pv-mmu.js';
import type { XenState } from '../../models/xen/types.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import { isPick } from '../pick.js';
import type { Pick } from '../pick.js';
import { preferOr, resolvePreferring } from '../prefer.js';
import type { XenPtExtraCommands, XenPtTemplate, XenPtUniverse } from './generators.js';
import { deviceReach } from './views.js';

/** The PV domains of the world: PV guests first (three in four), then the hardware domain. */
export function pvDomids(config: XenPtConfig): { readonly guests: number[]; readonly hardware: number[] } {
  const pv = config.world.domains.flatMap((spec, domid) => (spec.translated ? [] : [domid]));
  return { guests: pv.filter((domid) => domid !== 0), hardware: pv.filter((domid) => domid === 0) };
}

/** Relative weights: entries written and protected most, pins half as often, unpins rarer. */
export const xenPtPvWeights: Readonly<Record<PvMmuCommand['kind'], number>> = {
  pvMmuUpdate: 3,
  pvMmuProtect: 2,
  pvPinL1Table: 2,
  pvUnpinTable: 1,
};

/**
 * The PV MMU commands as further commands of the stack (`xenPtCommandSpace`'s `extra`), and the
 * grant maps and unmaps with PV mappers: these replace the stack's own (host-only maps by the HVM
 * guests of PV granters' pages) with ones whose mappers are the HVM guests and the hardware domain
 * (dom0, PV with an IOMMU context: its grant maps are counted per mfn and mapped in its IOMMU,
 * step 12), dom0's maps with a device mapping too (netback / blkback) half the time, unmapped whole
 * or one part at a time. The grants themselves are `extra-commands.ts`'s.
 */
export function xenPtPvCommands(config: XenPtConfig, universe: XenPtUniverse): XenPtExtraCommands {
  const { guests, hardware } = pvDomids(config);
  const one = <V>(values: readonly V[]): fc.Arbitrary<V> => fc.constantFrom(...values);
  const mappers = [...new Set([...universe.hvmGuests, ...hardware])];
  const mapper = one(mappers.length > 0 ? mappers : universe.domids);
  const ref = fc.integer({ min: 0, max: config.world.grantEntries - 1 });
  const gfn = one(universe.gfns);
  // Absent fields keep the stack's first meaning (a host mapping, an unmap of every part).
  const mapParts = fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    { weight: 2, arbitrary: fc.constant({ device: true }) },
    { weight: 1, arbitrary: fc.constant({ device: true, host: false }) },
  );
  const unmapParts = fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.constant({ host: false }) },
    { weight: 1, arbitrary: fc.constant({ device: false }) },
  );
  const grants: Record<string, fc.Arbitrary<XenPtTemplate>> = {
    mapGrantRef: fc
      .record({
        mapperDomid: preferOr(mapper),
        granterDomid: preferOr(one(universe.domids)),
        ref: preferOr(ref),
        gfn: preferOr(gfn),
        readonly: fc.boolean(),
        parts: mapParts,
      })
      .map(({ parts, ...args }): XenPtTemplate => ({ kind: 'mapGrantRef', ...args, ...parts })),
    unmapGrantRef: fc
      .record({
        mapperDomid: preferOr(mapper),
        handle: preferOr(fc.integer({ min: 0, max: config.world.maptrackHandles - 1 })),
        parts: unmapParts,
      })
      .map(({ parts, ...args }): XenPtTemplate => ({ kind: 'unmapGrantRef', ...args, ...parts })),
  };
  const pvDomid = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...(guests.length > 0 ? guests : universe.domids)) },
    { weight: 1, arbitrary: fc.constantFrom(...(hardware.length > 0 ? hardware : universe.domids)) },
    { weight: 1, arbitrary: fc.constantFrom(...universe.domids) },
  );
  const frame = preferOr(fc.nat({ max: config.world.frames }));
  const slot = fc.oneof(
    { weight: 8, arbitrary: fc.nat({ max: L1_SLOTS - 1 }) },
    { weight: 1, arbitrary: fc.constant(L1_SLOTS) },
  );
  const entryMfn = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: frame });
  return {
    arbitraries: {
      ...grants,
      pvMmuUpdate: fc
        .record({ domid: pvDomid, tableMfn: frame, slot, mfn: entryMfn, rw: fc.boolean() })
        .map((args): XenPtTemplate => ({ kind: 'pvMmuUpdate', ...args })),
      pvMmuProtect: fc
        .record({ domid: pvDomid, tableMfn: frame, slot: preferOr(fc.nat({ max: L1_SLOTS - 1 })), rw: fc.boolean() })
        .map((args): XenPtTemplate => ({ kind: 'pvMmuProtect', ...args })),
      pvPinL1Table: fc
        .record({ domid: pvDomid, mfn: frame })
        .map((args): XenPtTemplate => ({ kind: 'pvPinL1Table', ...args })),
      pvUnpinTable: fc
        .record({ domid: pvDomid, mfn: frame })
        .map((args): XenPtTemplate => ({ kind: 'pvUnpinTable', ...args })),
    },
    // The grant kinds a little more often than the stack's own (3): a PV mapper's map needs a grant first.
    weights: { ...xenPtPvWeights, mapGrantRef: 4, unmapGrantRef: 4 },
    // A type change or a grant unmap can take away what a DMA in flight aims at.
    conflicts: { dma: ['pvPinL1Table', 'pvMmuUpdate'] },
  };
}

/** The domains that map grants: the HVM guests and the hardware domain (PV, with an IOMMU context). */
function grantMappers(xen: XenState): number[] {
  return xen.domains.filter((domain) => domain.translated || domain.domid === 0).map((domain) => domain.domid);
}

/** Live frames `domid` owns, its L1 tables in use first. */
function ownFrames(xen: XenState, domid: number): number[] {
  const owned = xen.memory.frames.filter((frame) => frame.owner === domid && frame.refcount > 0).map((f) => f.mfn);
  const tables = owned.filter((mfn) => pageTypeOf(xen, mfn).type === 'l1' && pageTypeOf(xen, mfn).count > 0);
  return [...tables, ...owned.filter((mfn) => !tables.includes(mfn))];
}

/** Frames of `domid` some device reaches (through its table or the IOTLB). */
function reachedFrames(state: XenPtState, domid: number): number[] {
  const mfns = deviceReach(state).flatMap((found) =>
    found.target.kind === 'frame' && state.xen.memory.frames[found.target.mfn]?.owner === domid
      ? [found.target.mfn]
      : [],
  );
  return [...new Set(mfns)];
}

const PV_KINDS: ReadonlySet<string> = new Set(['pvMmuUpdate', 'pvMmuProtect', 'pvPinL1Table', 'pvUnpinTable']);

/**
 * Resolves a pick of a PV MMU command's field (`resolveXenPt` asks first); `undefined`: not one
 * of these. `resolved`: the fields resolved so far (the domid, the table).
 */
export function resolveXenPtPvField(
  state: XenPtState,
  kind: string,
  field: string,
  value: Pick,
  resolved: Readonly<Record<string, unknown>>,
): number | undefined {
  const xen = state.xen;
  if ((kind === 'mapGrantRef' || kind === 'unmapGrantRef') && field === 'mapperDomid') {
    // A mapper another domain grants to (a map), one with a live handle (an unmap).
    const mappers = grantMappers(xen);
    const aimed = mappers.filter((domid) =>
      kind === 'unmapGrantRef'
        ? (xen.domains[domid]?.maptrack ?? []).some((mapping) => mapping !== null)
        : xen.domains.some(
            (granter) =>
              granter.domid !== domid &&
              granter.grantTable.some((entry) => entry.permitAccess && entry.domid === domid),
          ),
    );
    return resolvePreferring(
      value,
      () => aimed,
      mappers,
      (pick) => mappers[pick % mappers.length] ?? 0,
    );
  }
  if (kind === 'mapGrantRef' && field === 'granterDomid') {
    // A domain that grants the mapper something (not the mapper itself), else any.
    const mapper = typeof resolved['mapperDomid'] === 'number' ? resolved['mapperDomid'] : DOMID_IO;
    const all = xen.domains.map((domain) => domain.domid);
    const granting = xen.domains
      .filter((domain) => domain.domid !== mapper)
      .filter((domain) => domain.grantTable.some((entry) => entry.permitAccess && entry.domid === mapper))
      .map((domain) => domain.domid);
    return resolvePreferring(
      value,
      () => granting,
      all,
      (pick) => all[pick % all.length] ?? 0,
    );
  }
  if (!PV_KINDS.has(kind)) return undefined;
  const domid = typeof resolved['domid'] === 'number' ? resolved['domid'] : DOMID_IO;
  const frames = xen.memory.frames.map((frame) => frame.mfn);
  const fallback = (pick: number): number => frames[pick % Math.max(frames.length, 1)] ?? 0;
  const resolve = (preferred: () => readonly number[]): number =>
    resolvePreferring(value, preferred, ownFrames(xen, domid), fallback);
  if (field === 'tableMfn') return resolve(() => ownFrames(xen, domid));
  if (kind === 'pvMmuUpdate' && field === 'mfn') {
    // What an entry aims at: the domain's tables (a writable mapping of a page table), then the
    // frames its device reaches (a type change under DMA), then the rest of its own.
    return resolve(() => {
      const own = ownFrames(xen, domid);
      const tables = own.filter((mfn) => pageTypeOf(xen, mfn).type === 'l1');
      return [...new Set([...tables, ...reachedFrames(state, domid), ...own])];
    });
  }
  if (kind === 'pvMmuProtect' && field === 'slot') {
    const table = typeof resolved['tableMfn'] === 'number' ? resolved['tableMfn'] : -1;
    const slots = Array.from({ length: L1_SLOTS }, (_, index) => index);
    const filled = slots.filter(
      (index) => xen.frameContents?.[table]?.[index] !== null && xen.frameContents?.[table]?.[index] !== undefined,
    );
    return resolvePreferring(
      value,
      () => filled,
      slots,
      (pick) => pick % L1_SLOTS,
    );
  }
  if (kind === 'pvPinL1Table' && field === 'mfn') {
    // A frame not pinned yet, those with entries first (their validation takes references).
    return resolve(() => {
      const free = ownFrames(xen, domid).filter((mfn) => !pageTypeOf(xen, mfn).pinned);
      const filled = free.filter((mfn) =>
        (xen.frameContents?.[mfn] ?? []).some((entry) => entry !== null && entry !== undefined),
      );
      return [...new Set([...filled, ...free])];
    });
  }
  if (kind === 'pvUnpinTable' && field === 'mfn') {
    return resolve(() => ownFrames(xen, domid).filter((mfn) => pageTypeOf(xen, mfn).pinned));
  }
  return isPick(value) ? fallback(value.pick) : undefined;
}

/** One line per PV MMU command, in Xen's words. */
export function formatXenPtPvCommand(command: PvMmuCommand): string {
  switch (command.kind) {
    case 'pvMmuUpdate': {
      const entry = command.mfn === null ? 'not present' : `mfn ${command.mfn}${command.rw ? ' RW' : ' read-only'}`;
      return `dom${command.domid}: MMU_NORMAL_PT_UPDATE mfn ${command.tableMfn} slot ${command.slot} ← ${entry}`;
    }
    case 'pvMmuProtect':
      return `dom${command.domid}: MMU_NORMAL_PT_UPDATE mfn ${command.tableMfn} slot ${command.slot} _PAGE_RW ${command.rw ? 'set' : 'cleared'}`;
    case 'pvPinL1Table':
      return `dom${command.domid}: MMUEXT_PIN_L1_TABLE mfn ${command.mfn}`;
    case 'pvUnpinTable':
      return `dom${command.domid}: MMUEXT_UNPIN_TABLE mfn ${command.mfn}`;
  }
}

/** For `dmaprop replay`: the frames typed other than untyped-writable, and each PV mapper's grant IOMMU counts. */
export function explainPvMemory(xen: XenState): string[] {
  const lines: string[] = [];
  const typed = Object.entries(xen.pageTypes ?? {})
    .filter(([, info]) => info.type !== 'writable' || info.count > 0 || info.pinned)
    .map(([mfn, info]) => {
      const slots = (xen.frameContents?.[mfn] ?? [])
        .map((entry, slot) =>
          entry === null || entry === undefined ? null : `${slot}→${entry.mfn}${entry.rw ? ' RW' : ''}`,
        )
        .filter((words) => words !== null);
      const contents = info.type === 'l1' && slots.length > 0 ? ` [${slots.join(', ')}]` : '';
      return `mfn ${mfn} ${info.type} count ${info.count}${info.pinned ? ' pinned' : ''}${contents}`;
    });
  if (typed.length > 0) lines.push(`page types: ${typed.join('; ')}`);
  for (const domain of xen.domains) {
    const counts = Object.entries(domain.grantIommuCounts ?? {}).map(
      ([mfn, node]) => `mfn ${mfn} read ${node.read} write ${node.write}`,
    );
    if (counts.length > 0) lines.push(`dom${domain.domid} grant IOMMU counts: ${counts.join('; ')}`);
  }
  return lines;
}
