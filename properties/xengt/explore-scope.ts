/**
 * The XenGT stack's small scope for `dmaprop explore` (exhaustive breadth-first search).
 *
 * Covered, from every state, in this order (the search order):
 * - `gttWrite` of GTT entries 0 and 1 with gfn 0 or 1 (raw: a gfn the guest ballooned out is
 *   written too) and, under a backend of machine addressing (lookup), with the guest's first gfn past its initial RAM
 *   (a page populated later: a frame the guest gave back at gfn 0 comes back there while the DMA
 *   cache still holds it for gfn 0), and clearing entries 0 and 1: the mediator's GGTT path, its
 *   DMA cache and the backend's services; and the first 4-byte half (the low dword) of entry 0
 *   naming gfn 0, which waits in the partial-PTE list with the host entry at scratch;
 * - `gpuDma` reads through entries 0 and 1;
 * - for each domain (dom0 backend, dom1 guest, dom2 PV): `decreaseReservation` of its first,
 *   second or third populated gfn (RAM, grant and foreign entries alike), `populatePhysmap` of
 *   its first empty gfn (under lookup the guest's second too: a gfn it never had, once it gave
 *   one back), `grantAccess` of its first free ref on its first RAM gfn to each domain
 *   (writable), `endAccess` of its first granted ref, `unmapGrantRef` of its first live handle
 *   releasing both parts, the host part only or the device part only (each at the address it
 *   was mapped with), and `destroyDomain`; the backend also balloons out the first gfn of its
 *   mapping pool;
 * - `mapGrantRef` of the first granted ref by its grantee, host, device or both parts writable
 *   at the mapper's first empty gfn, and a host map with no host address (refused late, after
 *   the checks that pin: the path the atomicity invariant watches);
 * - `mapForeign` by the backend of dom1's and dom2's first RAM gfn at its first empty gfn, and
 *   `unmapForeign` of its first foreign entry;
 * - `createDomain` of each domain (the toolstack creating it again at its domid: EEXIST while the
 *   old one is running, dying or a zombie), `vgpuDestroy` and `vgpuCreate`;
 * - fault injection: the first `create_grant_host_mapping` of each later command fails
 *   (`map_grant_ref`'s `undo_out`, `models/xen/fault.ts`);
 * - operations that take time (`models/xengt/inflight.ts`): the `gttWrite`s of gfn 0 and each
 *   `gpuDma` started (`phased`), the guest's balloon of its first gfn and unmap of its first
 *   handle (both parts) started, the map of the first granted ref (both parts, and host with no
 *   address) started, each unprivileged domain's `destroyDomain` started, and an `advance` of each operation
 *   in flight. While the guest's
 *   vCPU0 waits on a trapped write, a write resolves to its vCPU1's (`resolve.ts`).
 * Every command that the model accepts is one `check`'s generators can produce too (picks resolve
 * to the same live objects), so both search the same space and must agree on shortest lengths.
 *
 * Left out: the mediator's page tables and command buffers (guest page-table and command stores,
 * PPGTT create and destroy, batch submission, execution and PPGTT accesses: the mediator's own
 * code, exercised by `check` on this stack and on KVMGT, whose mutants are not compared here),
 * GTT entries 2, 3 and the out-of-range one, other gfns written raw, the high dword of a split
 * GGTT write (pairing the halves is the mediator's code, exercised by `check` and the unit
 * tests), read-only grants
 * and maps, GPU DMA writes (the model treats a write like a read: only where it lands matters),
 * second picks of grantee, granter, ref and handle (a second grant or map of the same kind
 * reaches the same shapes), nonexistent domains and out-of-range refs and handles (refused at
 * the first check, with nothing to undo), mapForeign by non-privileged domains (EPERM), the other
 * fault points and counts, and clearing a fault.
 *
 * Symmetry: machine frames are interchangeable identities — the model only compares, stores and
 * frees them, and allocates in free-list order — so the key renames every mfn in order of first
 * appearance over a fixed traversal (each domain's p2m by gfn, maptrack by handle, active entries
 * by ref; under the lookup backend, whose DMA addresses are raw mfns, the vGPU's host GTT entries,
 * shadow page-table entries and DMA cache by gfn; the free list in order, which decides the next
 * allocation under `lifo` and `fifo` and is kept; then any frame not seen yet, by mfn) and lists
 * the frames in the new order. (Under the map backend a DMA address is a backend gfn: kept.) Two
 * states with the same key differ only by a renaming of frames, which changes no step's outcome
 * and no invariant's verdict. The allocation counter is left out except under the `random`
 * policy, the only one that reads it. A backend of a design's own may do arithmetic on frame
 * numbers, which a renaming would change: its states are keyed without renaming.
 *
 * The entries and gfns are the world's: the vGPU's first two GTT entries, the guest's first gfns,
 * every domain of the world.
 */
import type { GvtVgpu, ShadowPte } from '../../models/gvt/types.js';
import type { XenGtBackend, XenGtBackendName } from '../../models/xengt/backend.js';
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import type { XenGtOp } from '../../models/xengt/inflight.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenDomain } from '../../models/xen/types.js';
import type { ExploreScope } from '../../src/design.js';
import type { Pick } from '../pick.js';
import type { XenGtTemplate } from './resolve.js';
import type { XenGtUniverse } from './universe.js';
import { addressedByMachine, renameCall, xenGtStateFingerprint, xenGtStateKey } from './state-key.js';

export { xenGtStateFingerprint, xenGtStateKey } from './state-key.js';

const pick = (index: number): Pick => ({ pick: index });

/** Raw gfns and live-object picks the scope tries (and the vGPU's first two GTT entries). */
const GFNS = [0, 1] as const;
const PICKS = [0, 1, 2] as const;

/**
 * The scope's command templates from `state`, in search order (see the header for what they
 * cover): the fixed ones, then an advance of each operation in flight. (A write while vCPU0 waits
 * on a trapped one resolves to vCPU1's, as generation's does: `resolve.ts`.)
 */
export function xenGtExploreTemplatesFrom(
  config: XenGtConfig,
  universe: XenGtUniverse,
): (state: XenGtState) => readonly XenGtTemplate[] {
  const base = xenGtExploreTemplates(config, universe);
  return (state) => {
    if (state.inflight.length === 0) return base;
    return [...base, ...state.inflight.map((_, op): XenGtTemplate => ({ kind: 'advance', op }))];
  };
}

/** The scope's fixed command templates, in search order (see the header for what they cover). */
export function xenGtExploreTemplates(config: XenGtConfig, universe: XenGtUniverse): XenGtTemplate[] {
  const entries = ownGgttIndices(config.gvt.layout).slice(0, 2);
  // Under machine addressing (lookup), the guest's first gfn past its initial RAM (empty until a
  // populatePhysmap fills it) and its second empty gfn: a frame given back at one gfn comes back
  // at another while the DMA cache still names it. Under map a DMA address is the backend's own
  // gfn, which cannot alias.
  const lookup = config.backend.addressing === 'machine';
  const guestRam = config.world.domains[config.guestDomid]?.initialGfns ?? [];
  const laterGfns = lookup ? [Math.max(-1, ...guestRam) + 1] : [];
  const gfns = [...GFNS, ...laterGfns].filter((gfn) => gfn < universe.gfns);
  const domids = config.world.domains.map((_, domid) => domid);
  const others = domids.filter((domid) => domid !== config.backendDomid);
  const templates: XenGtTemplate[] = [];
  for (const entry of entries) {
    for (const gfn of gfns) templates.push({ kind: 'gttWrite', entry, gfn, present: true });
  }
  for (const entry of entries) templates.push({ kind: 'gttWrite', entry, gfn: 0, present: false });
  const [firstEntry] = entries;
  if (firstEntry !== undefined) {
    templates.push({ kind: 'gttWrite', entry: firstEntry, gfn: 0, present: true, sizeBytes: 4, offsetBytes: 0 });
  }
  for (const entry of entries) templates.push({ kind: 'gpuDma', entry, write: false });
  // Writes of gfn 0 and the reads started, left in flight after their first phase (a clear
  // translates nothing, and another gfn's window is the same window).
  const started = templates.flatMap((template): XenGtTemplate[] =>
    (template.kind === 'gttWrite' && template.present && template.gfn === 0 && template.sizeBytes === undefined) ||
    template.kind === 'gpuDma'
      ? [{ ...template, phased: true }]
      : [],
  );
  templates.push(...started);
  for (const domid of domids) {
    for (const index of PICKS) templates.push({ kind: 'decreaseReservation', domid, gfn: pick(index) });
  }
  templates.push({ kind: 'decreaseReservation', domid: config.backendDomid, gfn: config.mappingPoolBaseGfn });
  for (const domid of domids) templates.push({ kind: 'populatePhysmap', domid, gfn: pick(0) });
  if (lookup) templates.push({ kind: 'populatePhysmap', domid: config.guestDomid, gfn: pick(1) });
  for (const domid of domids) {
    for (const granteeDomid of domids) {
      templates.push({ kind: 'grantAccess', domid, ref: pick(0), granteeDomid, gfn: pick(0), readonly: false });
    }
  }
  for (const domid of domids) templates.push({ kind: 'endAccess', domid, ref: pick(0) });
  const map = { mapperDomid: pick(0), granterDomid: pick(0), ref: pick(0), readonly: false } as const;
  templates.push({ kind: 'mapGrantRef', ...map, host: true, device: false, hostAddr: pick(0) });
  templates.push({ kind: 'mapGrantRef', ...map, host: false, device: true, hostAddr: null });
  templates.push({ kind: 'mapGrantRef', ...map, host: true, device: true, hostAddr: pick(0) });
  templates.push({ kind: 'mapGrantRef', ...map, host: true, device: false, hostAddr: null });
  for (const mapperDomid of domids) {
    const unmap = { kind: 'unmapGrantRef', mapperDomid, handle: pick(0) } as const;
    templates.push({ ...unmap, hostAddr: pick(0), devBusAddr: pick(0) });
    templates.push({ ...unmap, hostAddr: pick(0), devBusAddr: null });
    templates.push({ ...unmap, hostAddr: null, devBusAddr: pick(0) });
  }
  for (const foreignDomid of others) {
    templates.push({
      kind: 'mapForeign',
      domid: config.backendDomid,
      gfn: pick(0),
      foreignDomid,
      foreignGfn: pick(0),
    });
  }
  templates.push({ kind: 'unmapForeign', domid: config.backendDomid, gfn: pick(0) });
  for (const domid of domids) templates.push({ kind: 'destroyDomain', domid });
  // Each domain created again at its domid (EEXIST until the old one is gone).
  for (const domid of domids) templates.push({ kind: 'createDomain', domid });
  templates.push({ kind: 'vgpuDestroy' }, { kind: 'vgpuCreate' });
  // Fault injection: the first create_grant_host_mapping of each later command fails (map_grant_ref's undo_out).
  templates.push({ kind: 'injectFault', point: 'hostMapping', nth: 1 });
  // Xen's hypercalls with a window, started: the guest's balloon of its first gfn and its unmap
  // of its first handle (both parts). (Another domain's window is the same window.)
  templates.push({ kind: 'decreaseReservation', domid: config.guestDomid, gfn: pick(0), phased: true });
  templates.push({
    kind: 'unmapGrantRef',
    mapperDomid: config.guestDomid,
    handle: pick(0),
    hostAddr: pick(0),
    devBusAddr: pick(0),
    phased: true,
  });
  // The grant map started: both parts (its window holds a first pin's reference, or none for an
  // entry already pinned), and the host map with no address, whose second phase unwinds.
  templates.push({ kind: 'mapGrantRef', ...map, host: true, device: true, hostAddr: pick(0), phased: true });
  templates.push({ kind: 'mapGrantRef', ...map, host: true, device: false, hostAddr: null, phased: true });
  // Each domain's teardown started: dying, its mappings released, its memory relinquished later
  // (the hardware domain's is refused at once, EPERM: nothing to start).
  for (const domid of domids) {
    if (config.world.domains[domid]?.privileged !== true)
      templates.push({ kind: 'destroyDomain', domid, phased: true });
  }
  return templates;
}

/** The vGPU with its DMA addresses renamed (they are mfns under the lookup backend), in key order. */
function canonicalVgpu(vgpu: GvtVgpu, renameAddr: (dmaAddr: number) => number): unknown {
  const renamePte = (pte: ShadowPte): ShadowPte =>
    pte.kind === 'dma' ? { ...pte, dmaAddr: renameAddr(pte.dmaAddr) } : pte;
  const ggttHost = vgpu.ggttHost.map(renamePte);
  const spts: Record<string, unknown> = {};
  for (const [gfn, spt] of Object.entries(vgpu.spts)) spts[gfn] = { ...spt, entries: spt.entries.map(renamePte) };
  const cache: Record<string, unknown> = {};
  for (const [gfn, entry] of Object.entries(vgpu.cache)) cache[gfn] = { ...entry, dmaAddr: renameAddr(entry.dmaAddr) };
  return { ...vgpu, ggttHost, spts, cache };
}

/**
 * The state with every mfn renamed in order of first appearance, frames listed in the new order.
 * Under the lookup backend the mediator's DMA addresses are mfns too, and renamed with them.
 */
export function xenGtCanonicalState(state: XenGtState, backend: XenGtBackendName | XenGtBackend): unknown {
  const machine = addressedByMachine(backend);
  const names = new Map<number, number>();
  const rename = (mfn: number): number => {
    let name = names.get(mfn);
    if (name === undefined) {
      name = names.size;
      names.set(mfn, name);
    }
    return name;
  };
  const renameDomain = (domain: XenDomain): unknown => {
    // Integer-like keys enumerate in ascending order: the p2m is visited by gfn.
    const p2m: Record<string, unknown> = {};
    for (const [gfn, entry] of Object.entries(domain.p2m)) p2m[gfn] = { ...entry, mfn: rename(entry.mfn) };
    const maptrack = domain.maptrack.map((mapping) =>
      mapping === null ? null : { ...mapping, mfn: rename(mapping.mfn) },
    );
    const active = domain.active.map((act) => ({ ...act, mfn: act.mfn === null ? null : rename(act.mfn) }));
    return { ...domain, p2m, maptrack, active };
  };
  const domains = state.xen.domains.map(renameDomain);
  const renameAddr = machine ? rename : (dmaAddr: number): number => dmaAddr;
  const vgpu = state.vgpu === null ? null : canonicalVgpu(state.vgpu, renameAddr);
  const renamePte = (pte: ShadowPte): ShadowPte =>
    pte.kind === 'dma' ? { ...pte, dmaAddr: renameAddr(pte.dmaAddr) } : pte;
  const releasedGgtt = state.releasedGgtt === null ? null : state.releasedGgtt.map(renamePte);
  const inflight = state.inflight.map((op) => canonicalOp(op, rename, renameAddr));
  const memory = state.xen.memory;
  const freeList = memory.freeList.map(rename);
  for (const frame of memory.frames) rename(frame.mfn);
  const frames: unknown[] = [];
  for (const [mfn, name] of names) {
    const frame = memory.frames[mfn];
    if (frame !== undefined) frames[name] = { ...frame, mfn: name };
  }
  const { allocCount, ...rest } = memory;
  return {
    xen: {
      memory: { ...rest, frames, freeList, ...(memory.policy === 'random' ? { allocCount } : {}) },
      domains,
    },
    vgpu,
    inflight,
    guestPages: state.guestPages,
    writeProtected: state.writeProtected,
    fault: state.fault,
    releasedGgtt,
  };
}

/** An operation in flight with its frames and (machine) DMA addresses renamed. */
function canonicalOp(op: XenGtOp, rename: (mfn: number) => number, renameAddr: (dmaAddr: number) => number): unknown {
  if (op.kind === 'gpuDma') {
    const { dma } = op;
    return {
      ...op,
      dma: {
        ...dma,
        dmaAddr: dma.dmaAddr === null ? null : renameAddr(dma.dmaAddr),
        mfn: dma.mfn === null ? null : rename(dma.mfn),
      },
    };
  }
  if (op.kind === 'unmapGrantRef' || op.kind === 'decreaseReservation' || op.kind === 'mapGrantRef') {
    return { ...op, pending: { ...op.pending, mfn: rename(op.pending.mfn) } };
  }
  if (op.kind === 'destroyDomain') return op;
  const mapped = op.pending.mapped;
  return {
    ...op,
    pending: {
      ...op.pending,
      mapped: mapped?.ok === true ? { ...mapped, dmaAddr: renameAddr(mapped.dmaAddr) } : mapped,
    },
    ...(op.handOver === undefined ? {} : { handOver: op.handOver.map((call) => renameCall(call, rename)) }),
  };
}

/** `renameFrames`: the backend treats frames as identities (the built-in ones do), so states are keyed up to a renaming. */
export function xenGtExploreScope(
  config: XenGtConfig,
  universe: XenGtUniverse,
  renameFrames = true,
): ExploreScope<XenGtState, XenGtTemplate> {
  const templates = xenGtExploreTemplatesFrom(config, universe);
  return {
    description: `GTT entries ${ownGgttIndices(config.gvt.layout).slice(0, 2).join('–')} written with gfns 0–1 (lookup: also the first gfn past the guest RAM) or cleared, DMA reads through them; for every domain: balloon out its 1st–3rd gfn, populate its first empty gfn (lookup: the guest also its second), grant its first free ref to each domain, end access, unmap its first handle (host, device or both), destroy it; map the first granted ref (host, device, both, or host with no address); backend foreign map of another domain's RAM and unmap; vGPU destroy/create; each write of gfn 0 and each DMA also started, and the guest's first balloon and unmap, the grant map (both parts, host with no address), each destroy, and an advance of each operation in flight`,
    templates,
    key: (state) => xenGtStateKey(state, config.backend, { renameFrames }),
    fingerprint: (state) => xenGtStateFingerprint(state, config.backend, { renameFrames }),
  };
}
