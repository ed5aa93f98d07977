/**
 * Resolution of XenGT command templates against the live state: which gfns are populated,
 * which refs are granted, which handles are live, which pages the mediator shadows as page
 * tables, which PPGTT roots exist, where batch buffers are. A concrete command resolves to itself.
 */
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import { XENGT_FAULT_NTH_MAX } from '../../models/xengt/fault.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenDomain } from '../../models/xen/types.js';
import { MAX_IN_FLIGHT, resolveAdvance } from '../generic/interleave.js';
import { setBits } from '../gvt/entry-bits.js';
import { resolvePick } from '../pick.js';
import type { Pickable, Templated } from '../pick.js';
import { resolvePreferring } from '../prefer.js';
import type { XenGtUniverse } from './universe.js';
import { reachedFrames } from './views.js';

export type XenGtTemplate = Templated<XenGtCommand>;

function gfnsWhere(domain: XenDomain | undefined, test: (type: string) => boolean): number[] {
  if (domain === undefined) return [];
  return Object.entries(domain.p2m)
    .filter(([, entry]) => test(entry.type))
    .map(([gfn]) => Number(gfn));
}

function emptyGfns(domain: XenDomain | undefined, universe: XenGtUniverse): number[] {
  const empty: number[] = [];
  for (let gfn = 0; gfn < universe.gfns; gfn++) if (domain?.p2m[gfn] === undefined) empty.push(gfn);
  return empty;
}

function refsWhere(domain: XenDomain | undefined, test: (permitAccess: boolean, domid: number) => boolean): number[] {
  if (domain === undefined) return [];
  return domain.grantTable.flatMap((entry, ref) => (test(entry.permitAccess, entry.domid) ? [ref] : []));
}

export function resolveXenGt(
  state: XenGtState,
  config: XenGtConfig,
  universe: XenGtUniverse,
  template: XenGtTemplate,
): XenGtCommand {
  const domain = (domid: number): XenDomain | undefined => state.xen.domains[domid];
  const raw =
    (size: number) =>
    (pick: number): number =>
      pick % size;
  const num = (value: Pickable<number>, live: readonly number[], size: number): number =>
    resolvePick(value, live, raw(size));
  // Domids, GTT entries and booleans are generated raw; a pick there means "raw value mod universe".
  const plain = (value: Pickable<number>, size: number): number => resolvePick(value, [], raw(size));
  const guestRam = (): number[] => gfnsWhere(domain(config.guestDomid), (type) => type === 'ram_rw');
  // A pick of a guest page the GPU should reach prefers one whose frame it reaches already
  // through another page's DMA address: the aliasing a stable DMA address must rule out.
  const ramTarget = (value: Pickable<number>): number =>
    resolvePreferring(value, () => aliases(state, config).aliasedRam, guestRam(), raw(universe.gfns));
  const roots = (): number[] => state.vgpu?.mms.map((mm) => mm.rootGfn) ?? [];

  switch (template.kind) {
    case 'advance':
      return resolveAdvance({ kind: 'advance', op: plain(template.op, MAX_IN_FLIGHT) }, state.inflight.length);
    case 'gttWrite': {
      // A pick of the entry prefers one whose frame another shadow entry reaches too (rewriting
      // it releases one of two users of a frame), else one not in use, so that the entries in
      // use keep their frames while the guest gives pages back and takes others.
      const own = ownGgttIndices(config.gvt.layout);
      const aimed = (): readonly number[] => {
        const shared = aliases(state, config).sharingEntries;
        return shared.length > 0 ? shared : own.filter((index) => state.vgpu?.ggttHost[index]?.kind !== 'dma');
      };
      return {
        kind: 'gttWrite',
        entry: resolvePreferring(template.entry, aimed, own, raw(universe.gttEntries)),
        gfn: ramTarget(template.gfn),
        present: template.present,
        ...(template.sizeBytes === undefined ? {} : { sizeBytes: plain(template.sizeBytes, 9) }),
        ...(template.offsetBytes === undefined ? {} : { offsetBytes: plain(template.offsetBytes, 8) }),
        ...writingVcpu(state, template.vcpu === undefined ? undefined : plain(template.vcpu, universe.vcpus), universe),
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'gpuDma': {
      // The guest drives the GPU through the entries it has written, preferably those naming a
      // page it has given back since.
      const present = presentEntries(state, config);
      const givenBack = (): number[] => {
        const ram = guestRam();
        return present.filter((index) => !ram.includes(state.vgpu?.ggttGuest[index]?.gfn ?? -1));
      };
      return {
        kind: 'gpuDma',
        entry: resolvePreferring(template.entry, givenBack, present, raw(universe.gttEntries)),
        write: template.write,
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'guestWritePte': {
      // A pick of the page means "a page the mediator shadows as a page table" (before there is
      // one, "a RAM page", where the guest prepares its tables); of the target, "a RAM page".
      const shadowed = Object.keys(state.vgpu?.spts ?? {}).map(Number);
      const targetGfn = ramTarget(template.targetGfn);
      // A table the mediator shadows keeps the IPS bit the guest gave it, as the KVMGT stack
      // resolves it: the guest does not reuse a 4K table as a 64K one (`translateTable`).
      const named = state.vgpu?.spts[targetGfn];
      const ips = named?.level === 'pt' ? named.ips === true : template.ips === true;
      return {
        kind: 'guestWritePte',
        gfn: num(template.gfn, shadowed.length > 0 ? shadowed : guestRam(), universe.gfns),
        index: plain(template.index, universe.tableEntries),
        present: template.present,
        targetGfn,
        sizeBytes: plain(template.sizeBytes, 9),
        ...setBits({ ips, pse: template.pse === true }),
      };
    }
    case 'guestWriteCmd':
      return {
        kind: 'guestWriteCmd',
        gfn: num(template.gfn, batchPages(state, config), universe.gfns),
        index: plain(template.index, universe.tableEntries),
        op: template.op,
        ggttIndex: plain(template.ggttIndex, universe.ggttIndices),
      };
    case 'ppgttCreate':
      // A pick of the root means "a page the guest has written page-table entries into", else "a RAM page".
      return { kind: 'ppgttCreate', rootGfn: num(template.rootGfn, preparedTables(state, guestRam()), universe.gfns) };
    case 'ppgttDestroy':
      return { kind: 'ppgttDestroy', rootGfn: num(template.rootGfn, roots(), universe.gfns) };
    case 'gpuDmaPpgtt':
      return {
        kind: 'gpuDmaPpgtt',
        rootGfn: num(template.rootGfn, roots(), universe.gfns),
        pdIndex: plain(template.pdIndex, universe.tableEntries),
        ptIndex: plain(template.ptIndex, universe.tableEntries),
        write: template.write,
      };
    case 'submitBatch':
      return {
        kind: 'submitBatch',
        ggttIndex: num(template.ggttIndex, presentEntries(state, config), universe.gttEntries),
      };
    case 'gpuExecute':
      return { kind: 'gpuExecute' };
    case 'decreaseReservation': {
      // The guest gives back, preferably, a page the GPU uses or is about to: one a GGTT write in
      // flight is translating, else one the DMA cache holds.
      const domid = plain(template.domid, universe.domids);
      const populated = gfnsWhere(domain(domid), () => true);
      const used = (): number[] => {
        if (domid !== config.guestDomid) return [];
        const translating = translatingGfns(state).filter((gfn) => populated.includes(gfn));
        return translating.length > 0 ? translating : cachedGfns(state).filter((gfn) => populated.includes(gfn));
      };
      return {
        kind: 'decreaseReservation',
        domid,
        gfn: resolvePreferring(template.gfn, used, populated, raw(universe.gfns)),
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'populatePhysmap': {
      // The guest takes back, preferably, a page other than one the DMA cache still names: the
      // frame it gave back last comes to it under another gfn.
      const domid = plain(template.domid, universe.domids);
      const empty = emptyGfns(domain(domid), universe);
      const cached = domid === config.guestDomid ? cachedGfns(state) : [];
      return {
        kind: 'populatePhysmap',
        domid,
        gfn: resolvePreferring(
          template.gfn,
          () => empty.filter((gfn) => !cached.includes(gfn)),
          empty,
          raw(universe.gfns),
        ),
      };
    }
    case 'grantAccess': {
      const domid = plain(template.domid, universe.domids);
      const ram = gfnsWhere(domain(domid), (type) => type === 'ram_rw');
      return {
        kind: 'grantAccess',
        domid,
        ref: num(
          template.ref,
          refsWhere(domain(domid), (permit) => !permit),
          universe.refs,
        ),
        granteeDomid: plain(template.granteeDomid, universe.domids),
        gfn: num(template.gfn, ram, universe.gfns),
        readonly: template.readonly,
      };
    }
    case 'endAccess': {
      const domid = plain(template.domid, universe.domids);
      return {
        kind: 'endAccess',
        domid,
        ref: num(
          template.ref,
          refsWhere(domain(domid), (permit) => permit),
          universe.refs,
        ),
      };
    }
    case 'mapGrantRef': {
      // A pick of the mapper means "a domain something is granted to"; of the granter, "a domain
      // that has granted something to this mapper".
      const grantees = [
        ...new Set(
          state.xen.domains.flatMap((granter) => granter.grantTable.filter((e) => e.permitAccess).map((e) => e.domid)),
        ),
      ].sort((left, right) => left - right);
      const mapperDomid = num(template.mapperDomid, grantees, universe.domids);
      const granters = state.xen.domains
        .filter((granter) => refsWhere(granter, (permit, grantee) => permit && grantee === mapperDomid).length > 0)
        .map((granter) => granter.domid);
      const granterDomid = num(template.granterDomid, granters, universe.domids);
      const granted = refsWhere(domain(granterDomid), (permit, grantee) => permit && grantee === mapperDomid);
      const mapper = domain(mapperDomid);
      const hostAddrs = mapper?.translated === false ? [] : emptyGfns(mapper, universe);
      const hostAddr =
        template.hostAddr === null
          ? null
          : resolvePick(
              template.hostAddr,
              hostAddrs,
              raw(mapper?.translated === false ? universe.virtualPages : universe.gfns),
            );
      return {
        kind: 'mapGrantRef',
        mapperDomid,
        granterDomid,
        ref: num(template.ref, granted, universe.refs),
        host: template.host,
        device: template.device,
        readonly: template.readonly,
        hostAddr,
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'unmapGrantRef': {
      // A pick of the mapper means "a domain with a live grant mapping".
      const mappers = state.xen.domains.filter((mapper) => mapper.maptrack.some((mapping) => mapping !== null));
      const mapperDomid = num(
        template.mapperDomid,
        mappers.map((mapper) => mapper.domid),
        universe.domids,
      );
      const maptrack = domain(mapperDomid)?.maptrack ?? [];
      const liveHandles = maptrack.flatMap((mapping, handle) => (mapping === null ? [] : [handle]));
      const handle = num(template.handle, liveHandles, universe.handles);
      const mapping = maptrack[handle] ?? null;
      // A pick of an address means "the address this handle was mapped with".
      const own = (value: Pickable<number> | null, mine: number | null, size: number): number | null =>
        value === null ? null : resolvePick(value, mine === null ? [] : [mine], raw(size));
      return {
        kind: 'unmapGrantRef',
        mapperDomid,
        handle,
        hostAddr: own(template.hostAddr, mapping?.hostAddr ?? null, universe.gfns),
        devBusAddr: own(
          template.devBusAddr,
          mapping?.device === true ? mapping.mfn : null,
          config.world.memory.frameCount,
        ),
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'mapForeign': {
      // A pick of the mapping domain means "a privileged domain" (the backend, the toolstack).
      const privileged = state.xen.domains.filter((mapper) => mapper.privileged).map((mapper) => mapper.domid);
      const domid = num(template.domid, privileged, universe.domids);
      const foreignDomid = plain(template.foreignDomid, universe.domids);
      const ram = gfnsWhere(domain(foreignDomid), (type) => type === 'ram_rw');
      return {
        kind: 'mapForeign',
        domid,
        gfn: num(template.gfn, emptyGfns(domain(domid), universe), universe.gfns),
        foreignDomid,
        foreignGfn: num(template.foreignGfn, ram, universe.gfns),
      };
    }
    case 'unmapForeign': {
      // A pick of the domain means "a domain with a foreign mapping".
      const mappers = state.xen.domains.filter((mapper) =>
        Object.values(mapper.p2m).some((entry) => entry.type === 'map_foreign'),
      );
      const domid = num(
        template.domid,
        mappers.map((mapper) => mapper.domid),
        universe.domids,
      );
      const foreign = gfnsWhere(domain(domid), (type) => type === 'map_foreign').filter((gfn) => gfn < universe.gfns);
      return { kind: 'unmapForeign', domid, gfn: num(template.gfn, foreign, universe.gfns) };
    }
    case 'destroyDomain': {
      // A pick prefers a domain that maps another's page or whose page another maps: its
      // teardown has references to give back or to wait for. Not a privileged one: Xen refuses to
      // destroy it (EPERM), so aiming there wastes the pick (half of them when dom0 grants).
      const domids = state.xen.domains.map((candidate) => candidate.domid);
      const destroyable = (): number[] =>
        sharingDomains(state).filter((domid) => !state.xen.domains.some((d) => d.domid === domid && d.privileged));
      return {
        kind: 'destroyDomain',
        domid: resolvePreferring(template.domid, destroyable, domids, raw(universe.domids)),
        ...(template.phased === undefined ? {} : { phased: template.phased }),
      };
    }
    case 'createDomain': {
      // A pick names a domid that is not running: a dead one (created again) or a zombie (EEXIST).
      const gone = state.xen.domains.flatMap((candidate) => (candidate.life === 'running' ? [] : [candidate.domid]));
      return { kind: 'createDomain', domid: num(template.domid, gone, universe.domids) };
    }
    case 'injectFault':
      return { kind: 'injectFault', point: template.point, nth: plain(template.nth, XENGT_FAULT_NTH_MAX + 1) };
    case 'clearFault':
      return { kind: 'clearFault' };
    case 'vgpuDestroy':
      return { kind: 'vgpuDestroy' };
    case 'vgpuCreate':
      return { kind: 'vgpuCreate' };
  }
}

/** Domains on either side of a grant or foreign mapping (its own page included), in domid order. */
function sharingDomains(state: XenGtState): number[] {
  const owner = (mfn: number): number | null => state.xen.memory.frames[mfn]?.owner ?? null;
  const sharing = new Set<number>();
  for (const domain of state.xen.domains) {
    const mapped = [
      ...domain.maptrack.flatMap((mapping) => (mapping === null ? [] : [mapping.mfn])),
      ...Object.values(domain.p2m).flatMap((entry) => (entry.type === 'map_foreign' ? [entry.mfn] : [])),
    ];
    for (const mfn of mapped) {
      sharing.add(domain.domid);
      const granter = owner(mfn);
      if (granter !== null) sharing.add(granter);
    }
  }
  return [...sharing].sort((left, right) => left - right);
}

/**
 * The vCPU of a GGTT write: the template's, else vCPU0 (written without the field, as an atomic
 * write always was) unless it waits on a trapped write of its own — then the lowest vCPU that does
 * not (the guest's other vCPUs keep running while one is blocked on its ioreq), or vCPU1 when all
 * wait (and the write is refused as busy).
 */
function writingVcpu(state: XenGtState, given: number | undefined, universe: XenGtUniverse): { vcpu?: number } {
  // vCPU0 is written without the field whoever chose it, so one write has one form (and one corpus entry).
  if (given !== undefined) return given === 0 ? {} : { vcpu: given };
  const waiting = new Set(state.inflight.flatMap((op) => (op.kind === 'gttWrite' ? [op.vcpu] : [])));
  if (!waiting.has(0)) return {};
  for (let vcpu = 1; vcpu < universe.vcpus; vcpu++) if (!waiting.has(vcpu)) return { vcpu };
  return { vcpu: Math.min(1, universe.vcpus - 1) };
}

/** Guest pages that GGTT writes in flight are translating, oldest first. */
function translatingGfns(state: XenGtState): number[] {
  return state.inflight.flatMap((op) =>
    op.kind === 'gttWrite' && op.pending.translate ? [op.pending.written.gfn] : [],
  );
}

/** Guest pages the vGPU's DMA cache holds (mapped for the GPU), in gfn order. */
function cachedGfns(state: XenGtState): number[] {
  return Object.keys(state.vgpu?.cache ?? {}).map(Number);
}

/**
 * Frames the GPU reaches by more than one route, as an attacker aims at them: the guest's RAM
 * pages outside the DMA cache whose frame a shadow entry reaches (a GTT entry written with one
 * aliases a frame the GPU already uses under another page), and the vGPU's GGTT entries whose
 * frame another shadow entry reaches too (rewriting one releases one of two users of a frame).
 */
interface Aliases {
  readonly aliasedRam: readonly number[];
  readonly sharingEntries: readonly number[];
}

const noAliases: Aliases = { aliasedRam: [], sharingEntries: [] };
// Resolution runs on finished states, which are never modified: memoized by state.
const aliasesMemo = new WeakMap<XenGtState, Aliases>();

function aliases(state: XenGtState, config: XenGtConfig): Aliases {
  const vgpu = state.vgpu;
  if (vgpu === null) return noAliases;
  const known = aliasesMemo.get(state);
  if (known !== undefined) return known;
  const reached = reachedFrames(state, config);
  const users = new Map<number, number>();
  for (const use of reached) if (use.mfn !== null) users.set(use.mfn, (users.get(use.mfn) ?? 0) + 1);
  const guest = state.xen.domains[config.guestDomid];
  const aliasedRam = gfnsWhere(guest, (type) => type === 'ram_rw').filter(
    (gfn) => vgpu.cache[gfn] === undefined && users.has(guest?.p2m[gfn]?.mfn ?? -1),
  );
  const sharingEntries = reached.flatMap((use) => {
    const ggtt = /^ggtt (\d+)$/.exec(use.where);
    if (ggtt === null || use.mfn === null) return [];
    return (users.get(use.mfn) ?? 0) > 1 ? [Number(ggtt[1])] : [];
  });
  const found = { aliasedRam, sharingEntries };
  aliasesMemo.set(state, found);
  return found;
}

/** GTT entries of the vGPU whose guest entry is present. */
function presentEntries(state: XenGtState, config: XenGtConfig): number[] {
  return ownGgttIndices(config.gvt.layout).filter((index) => state.vgpu?.ggttGuest[index]?.present === true);
}

/**
 * Where batch buffers live: the pages of queued workloads (an adversarial guest rewrites a buffer
 * in flight), else the pages the vGPU's present GTT entries name.
 */
function batchPages(state: XenGtState, config: XenGtConfig): number[] {
  const queued = state.vgpu?.workloads.map((workload) => workload.batchGfn) ?? [];
  if (queued.length > 0) return queued;
  return presentEntries(state, config).map((index) => state.vgpu?.ggttGuest[index]?.gfn ?? 0);
}

/** The guest's RAM pages holding a present page-table entry (tables it prepared), else all its RAM pages. */
function preparedTables(state: XenGtState, ram: readonly number[]): readonly number[] {
  const prepared = ram.filter((gfn) =>
    (state.guestPages[gfn] ?? []).some((qword) => qword.kind === 'pte' && qword.present),
  );
  return prepared.length > 0 ? prepared : ram;
}
