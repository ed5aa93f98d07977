/**
 * Resolution of XenGT command templates against the live state: which gfns are populated,
 * which refs are granted, which handles are live, which pages the mediator shadows as page
 * tables, which PPGTT roots exist, where batch buffers are. A concrete command resolves to itself.
 */
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenDomain } from '../../models/xen/types.js';
import { resolvePick } from '../pick.js';
import type { Pickable, Templated } from '../pick.js';
import type { XenGtUniverse } from './universe.js';

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
  const roots = (): number[] => state.vgpu?.mms.map((mm) => mm.rootGfn) ?? [];

  switch (template.kind) {
    case 'gttWrite':
      return {
        kind: 'gttWrite',
        entry: plain(template.entry, universe.gttEntries),
        gfn: num(template.gfn, guestRam(), universe.gfns),
        present: template.present,
      };
    case 'gpuDma':
      // The guest drives the GPU through the entries it has written.
      return {
        kind: 'gpuDma',
        entry: num(template.entry, presentEntries(state, config), universe.gttEntries),
        write: template.write,
      };
    case 'guestWritePte': {
      // A pick of the page means "a page the mediator shadows as a page table" (before there is
      // one, "a RAM page", where the guest prepares its tables); of the target, "a RAM page".
      const shadowed = Object.keys(state.vgpu?.spts ?? {}).map(Number);
      return {
        kind: 'guestWritePte',
        gfn: num(template.gfn, shadowed.length > 0 ? shadowed : guestRam(), universe.gfns),
        index: plain(template.index, universe.tableEntries),
        present: template.present,
        targetGfn: num(template.targetGfn, guestRam(), universe.gfns),
        sizeBytes: plain(template.sizeBytes, 9),
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
      const domid = plain(template.domid, universe.domids);
      return {
        kind: 'decreaseReservation',
        domid,
        gfn: num(
          template.gfn,
          gfnsWhere(domain(domid), () => true),
          universe.gfns,
        ),
      };
    }
    case 'populatePhysmap': {
      const domid = plain(template.domid, universe.domids);
      return {
        kind: 'populatePhysmap',
        domid,
        gfn: num(template.gfn, emptyGfns(domain(domid), universe), universe.gfns),
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
      };
    }
    case 'unmapGrantRef': {
      const mapperDomid = plain(template.mapperDomid, universe.domids);
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
      };
    }
    case 'mapForeign': {
      const domid = plain(template.domid, universe.domids);
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
      const domid = plain(template.domid, universe.domids);
      const foreign = gfnsWhere(domain(domid), (type) => type === 'map_foreign').filter((gfn) => gfn < universe.gfns);
      return { kind: 'unmapForeign', domid, gfn: num(template.gfn, foreign, universe.gfns) };
    }
    case 'destroyDomain':
      return { kind: 'destroyDomain', domid: plain(template.domid, universe.domids) };
    case 'vgpuDestroy':
      return { kind: 'vgpuDestroy' };
    case 'vgpuCreate':
      return { kind: 'vgpuCreate' };
  }
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
