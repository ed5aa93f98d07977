/**
 * The PV memory part of the Xen passthrough stack's explore scope, for the designs whose flaw is
 * in PV memory (`xenPtDesign`'s `explore: ['pv-memory']`, as the vIOMMU's lifecycle designs get
 * the device's life in theirs): what a PV domain does to its page tables and what dom0's
 * backends do with guests' grants.
 *
 * From every state, for each running PV domain (the PV guest and the hardware domain), with its
 * lowest owned frame as its L1 table: the table pinned (or unpinned once pinned); slot 0 of the
 * table set to map each of its two lowest frames (the table itself included) writable and
 * read-only, and cleared; slot 0's entry made writable and read-only again (mprotect). For each
 * guest: its lowest populated gfn granted to dom0 (writable; the ref is 0); dom0 mapping ref 0
 * of each guest host+device, device only and host only (at its first free gfn); each live handle
 * of dom0 unmapped whole, its host part only and its device part only. A PV guest's granted
 * frame (its lowest populated gfn's, which need not be its lowest owned frame) is also pinned as
 * an L1 (or unpinned once pinned): a frame dom0's device may still reach writable becoming a page
 * table is what the per-mfn grant IOMMU counts guard (`models/xen/grant-iommu.ts`), and the
 * generators pin any frame (`pv-memory.ts`); without it the scope reached that only once the
 * lowest frame was ballooned out.
 *
 * Left out: other slots and frames (slot 0 is written in the lowest frame's table only, not in the
 * granted frame's), read-only grants, PV guests mapping grants, grants between guests (the stack's
 * generators make them).
 */
import { pageTypeOf } from '../../models/xen/page-info.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { HARDWARE_DOMID } from '../../models/xenpt/config.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenDomain } from '../../models/xen/types.js';

function ownFrames(state: XenPtState, domid: number): number[] {
  return state.xen.memory.frames.filter((frame) => frame.owner === domid && frame.refcount > 0).map((f) => f.mfn);
}

/** The gfn a guest grants to dom0 in this scope: its lowest populated RAM gfn. */
function grantedGfn(guest: XenDomain, config: XenPtConfig): number | undefined {
  for (let gfn = 0; gfn < config.world.gfnSpace; gfn += 1) if (guest.p2m[gfn]?.type === 'ram_rw') return gfn;
  return undefined;
}

/** `mfn` pinned as an L1 table by `domid`, or unpinned once pinned. */
function pinOrUnpin(state: XenPtState, domid: number, mfn: number): XenPtCommand {
  return pageTypeOf(state.xen, mfn).pinned
    ? { kind: 'pvUnpinTable', domid, mfn }
    : { kind: 'pvPinL1Table', domid, mfn };
}

function pageTableTemplates(state: XenPtState, config: XenPtConfig, domid: number): XenPtCommand[] {
  const own = ownFrames(state, domid);
  const table = own[0];
  if (table === undefined) return [];
  const templates: XenPtCommand[] = [pinOrUnpin(state, domid, table)];
  // A guest's granted frame as a table too (the hardware domain grants nothing here).
  const domain = state.xen.domains[domid];
  const gfn = domid === HARDWARE_DOMID || domain === undefined ? undefined : grantedGfn(domain, config);
  const granted = gfn === undefined ? undefined : domain?.p2m[gfn]?.mfn;
  if (granted !== undefined && granted !== table) templates.push(pinOrUnpin(state, domid, granted));
  for (const mfn of own.slice(0, 2)) {
    for (const rw of [true, false]) templates.push({ kind: 'pvMmuUpdate', domid, tableMfn: table, slot: 0, mfn, rw });
  }
  templates.push({ kind: 'pvMmuUpdate', domid, tableMfn: table, slot: 0, mfn: null, rw: false });
  for (const rw of [true, false]) templates.push({ kind: 'pvMmuProtect', domid, tableMfn: table, slot: 0, rw });
  return templates;
}

function backendGrantTemplates(state: XenPtState, config: XenPtConfig): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  const dom0 = state.xen.domains[HARDWARE_DOMID];
  if (dom0 === undefined || dom0.life !== 'running') return templates;
  const gfns = Array.from({ length: config.world.gfnSpace }, (_, gfn) => gfn);
  const hostGfn = gfns.find((gfn) => dom0.p2m[gfn] === undefined) ?? 0;
  for (const guest of state.xen.domains) {
    if (guest.domid === HARDWARE_DOMID || guest.life !== 'running') continue;
    const granted = grantedGfn(guest, config);
    if (granted === undefined) continue;
    const grant = guest.grantTable[0];
    if (grant?.permitAccess !== true) {
      templates.push({
        kind: 'grantAccess',
        domid: guest.domid,
        ref: 0,
        granteeDomid: HARDWARE_DOMID,
        gfn: granted,
        readonly: false,
      });
      continue;
    }
    const map = { kind: 'mapGrantRef', mapperDomid: HARDWARE_DOMID, granterDomid: guest.domid, ref: 0 } as const;
    templates.push({ ...map, gfn: hostGfn, readonly: false, device: true });
    templates.push({ ...map, gfn: hostGfn, readonly: false, device: true, host: false });
    templates.push({ ...map, gfn: hostGfn, readonly: false });
  }
  dom0.maptrack.forEach((mapping, handle) => {
    if (mapping === null) return;
    templates.push({ kind: 'unmapGrantRef', mapperDomid: HARDWARE_DOMID, handle });
    if (mapping.host && mapping.device) {
      templates.push({ kind: 'unmapGrantRef', mapperDomid: HARDWARE_DOMID, handle, device: false });
      templates.push({ kind: 'unmapGrantRef', mapperDomid: HARDWARE_DOMID, handle, host: false });
    }
  });
  return templates;
}

/** The PV memory templates of a state. */
export function pvMemoryTemplates(state: XenPtState, config: XenPtConfig): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  for (const domain of state.xen.domains) {
    if (!domain.translated && domain.life === 'running')
      templates.push(...pageTableTemplates(state, config, domain.domid));
  }
  return [...templates, ...backendGrantTemplates(state, config)];
}
