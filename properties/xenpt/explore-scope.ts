/**
 * The small scope of the Xen passthrough stack for `dmaprop explore`.
 *
 * Covered, from every state, in this order: each device's DMA write at every dfn it reaches
 * through a stale IOTLB entry (else at every dfn it reaches), and a DMA started (issued, performed
 * by an advance) at the first of them and at the first dfn the hardware domain's table maps
 * ("first" in the canonical order of `symmetry.ts`); each running HVM guest's XENMEM_add_to_physmap
 * of each RAM gfn to every other gfn, started (its deferred flush left in flight), and whole to an
 * empty gfn; each running guest's balloon-out of each populated gfn and populate of its first empty
 * gfn; each device deassigned from its owner and assigned back to the domain it started with, the
 * hardware domain's made assignable (to dom_io) and dom_io's given back; each
 * running guest destroyed (started, and whole); each guest slot not running created again; an
 * advance of each operation in flight.
 *
 * Left out: grants (the XenGT scope covers the grant table), DMA reads, the hardware domain's
 * ballooning.
 *
 * Symmetry (`symmetry.ts`): the key renames the frames numbered from the world's gfn space up (the
 * ones no gfn can name), consistently in every mfn and dfn position, a PV domain's dfn = mfn
 * included; the frames below keep their numbers. With the `pv-memory` or `grants` part the key is
 * the whole state without renaming (both read frame numbers as positions). Either key leaves out
 * the allocator's counter, which the `lifo` policy never reads. The fingerprint the search uses
 * partitions states as the key does, written as words straight from the state (`state-words.ts`).
 */
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { DOMID_IO } from '../../models/xen/pci.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { grantTemplates } from './explore-grants.js';
import { pvMemoryTemplates } from './explore-pv.js';
import { staleFirst } from './views.js';
import { xenPtStateFingerprint } from './state-words.js';
import { canonicalFirst, canonicalXenPtState, rankFrames } from './symmetry.js';

/** Parts a design's scope adds to the stack's own (devices, memory, lifecycle), where its flaw is. */
export type XenPtScopePart = 'pv-memory' | 'grants';

export const xenPtScopeParts: readonly XenPtScopePart[] = ['pv-memory', 'grants'];

/** How templates take "the first" of some frames: canonically under renaming, else by number. */
interface FrameOrder {
  first(frames: readonly number[]): number[];
}

function dmaTemplates(state: XenPtState, order: FrameOrder): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  for (const device of state.devices) {
    const dfns = staleFirst(state, device.sbdf);
    for (const dfn of dfns) templates.push({ kind: 'dma', device: device.sbdf, dfn, write: true });
    // Started (issued by its owner, performed by an advance): at the first dfn it reaches, and at
    // the first the hardware domain's table maps, where a device deassigned without quarantine goes.
    if (device.owner === DOMID_IO) continue;
    const hardware = Object.keys(state.xen.domains[0]?.iommu?.table ?? {}).map(Number);
    for (const dfn of new Set([...order.first(dfns), ...order.first(hardware)]))
      templates.push({ kind: 'dma', device: device.sbdf, dfn, write: true, phased: true });
  }
  return templates;
}

function memoryTemplates(state: XenPtState, config: XenPtConfig): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  const gfns = Array.from({ length: config.world.gfnSpace }, (_, gfn) => gfn);
  for (const domain of state.xen.domains) {
    if (domain.domid === 0 || domain.life !== 'running') continue;
    const populated = gfns.filter((gfn) => domain.p2m[gfn] !== undefined);
    const empty = gfns.filter((gfn) => domain.p2m[gfn] === undefined);
    if (domain.translated && !state.inflight.some((op) => op.kind === 'moveGfn' && op.domid === domain.domid)) {
      for (const idx of populated) {
        if (domain.p2m[idx]?.type !== 'ram_rw') continue;
        for (const gpfn of gfns) {
          if (gpfn !== idx) templates.push({ kind: 'moveGfn', domid: domain.domid, idx, gpfn, phased: true });
        }
        const free = empty[0];
        if (free !== undefined) templates.push({ kind: 'moveGfn', domid: domain.domid, idx, gpfn: free });
      }
    }
    for (const gfn of populated) templates.push({ kind: 'decreaseReservation', domid: domain.domid, gfn });
    const free = empty[0];
    if (free !== undefined) templates.push({ kind: 'populatePhysmap', domid: domain.domid, gfn: free });
  }
  return templates;
}

function lifecycleTemplates(state: XenPtState, config: XenPtConfig): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  for (const device of state.devices) {
    if (device.owner !== DOMID_IO && device.owner !== 0)
      templates.push({ kind: 'deassignDevice', domid: device.owner, device: device.sbdf });
    // xl pci-assignable-add / -remove: the hardware domain's device to dom_io, dom_io's back.
    if (device.owner === 0) templates.push({ kind: 'assignDevice', domid: DOMID_IO, device: device.sbdf });
    if (device.owner === DOMID_IO) templates.push({ kind: 'deassignDevice', domid: DOMID_IO, device: device.sbdf });
    const home = config.world.devices[device.sbdf];
    if (home !== undefined && (device.owner === DOMID_IO || device.owner === 0))
      templates.push({ kind: 'assignDevice', domid: home, device: device.sbdf });
  }
  for (const domain of state.xen.domains) {
    if (domain.domid === 0) continue;
    if (domain.life === 'running') {
      templates.push({ kind: 'destroyDomain', domid: domain.domid, phased: true });
      templates.push({ kind: 'destroyDomain', domid: domain.domid });
    } else templates.push({ kind: 'createDomain', domid: domain.domid });
  }
  return templates;
}

export function xenPtExploreScope(
  config: XenPtConfig,
  parts: readonly XenPtScopePart[] = [],
): ExploreScope<XenPtState, XenPtCommand> {
  const pv = parts.includes('pv-memory');
  const grants = parts.includes('grants');
  // The scope's gfns (and HVM dfns) are below the gfn space: frames numbered below it keep their
  // numbers. The parts read frame numbers as positions (symmetry.ts): no renaming with them.
  const fixedBelow = config.world.gfnSpace;
  const renameFrames = !pv && !grants;
  // What the key and the fingerprint describe: the state with its frames renamed, or without the
  // allocator's cursor.
  const view = (state: XenPtState): unknown =>
    renameFrames
      ? canonicalXenPtState(state, fixedBelow)
      : {
          ...state,
          xen: { ...state.xen, memory: { frames: state.xen.memory.frames, freeList: state.xen.memory.freeList } },
        };
  return {
    description: `each device's DMA writes at what it reaches (stale IOTLB entries first), whole and started; each HVM guest's gfn moves (their deferred flush in flight) and balloon-outs and populates; deassignment, reassignment, dom_io's assignable pool, destruction (whole and started) and creation; advances${pv ? "; each PV domain's L1 table pinned and unpinned (a guest's granted frame too), its slot 0 mapping its two lowest frames writable or read-only, cleared and re-protected; each guest's grant to dom0 and dom0's maps (host+device, device, host) and unmaps (whole, one part)" : ''}${grants ? "; the HVM guest's set_version, its status frame mapped at two gfns, grants to it at ref 8 (writable) and 0 (read-only), its map of ref 8, its copies through them (whole and started) and one past its page, the granter's set_version" : ''}${pv || grants ? '' : '. No grants'}. ${renameFrames ? `Symmetry: frames from mfn ${fixedBelow} up renamed` : 'No renaming symmetry (frame numbers are positions for PV page tables and grant copies)'}`,
    templates: (state) => {
      const rank = renameFrames ? rankFrames(state, fixedBelow) : null;
      const order: FrameOrder = { first: (frames) => canonicalFirst(frames, rank, fixedBelow) };
      return [
        ...dmaTemplates(state, order),
        ...memoryTemplates(state, config),
        ...lifecycleTemplates(state, config),
        ...(pv ? pvMemoryTemplates(state, config) : []),
        ...(grants ? grantTemplates(state, config) : []),
        ...state.inflight.map((_, op): XenPtCommand => ({ kind: 'advance', op })),
      ];
    },
    key: (state) => stableJson(view(state)),
    // The same partition as the key's, written as words without building the view (`state-words.ts`).
    fingerprint: (state) => xenPtStateFingerprint(state, renameFrames ? fixedBelow : null),
  };
}
