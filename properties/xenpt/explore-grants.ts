/**
 * The grant table v2 / GNTTABOP_copy part of the Xen passthrough stack's explore scope, for the
 * designs whose flaw is there (`xenPtDesign`'s `explore: ['grants']`).
 *
 * From every state, for each running HVM guest (the domain that maps its own grant-table frames
 * and copies): set_version to the other version; its status frame 0 mapped
 * (XENMAPSPACE_grant_table | XENMAPIDX_grant_table_status) at each of its two lowest gfns that
 * hold no RAM, up to two above the RAM gfns. For each other running domain (the granter): its
 * lowest RAM gfn granted to the guest at ref 8 (beyond the reserved entries a version switch
 * keeps) writable, and at ref 0 read-only; the guest mapping ref 8 at its first free gfn; the
 * granter's set_version to the other version. The guest as a granter: its lowest RAM gfn granted
 * to dom0 at ref 8, and dom0's host map of it. The guest's copies through a live grant to it: from
 * the grant into its own lowest RAM gfn and from that gfn into the grant, a whole page, whole and
 * started (its memcpy on advance); and copies of its own gfn onto itself: a whole page started,
 * and past the page's end (offset 2048, a page long).
 *
 * Left out: get_status_frames (it changes nothing), end of access, shared frames, other refs and
 * offsets (the stack's generators make them).
 */
import { grantVersionOf } from '../../models/xen/grant-status.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { HARDWARE_DOMID } from '../../models/xenpt/config.js';
import { DOMID_SELF } from '../../models/xenpt/grant-v2.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenDomain } from '../../models/xen/types.js';

const PAGE_BYTES = 4096;

function ramGfns(domain: XenDomain, gfns: readonly number[]): number[] {
  return gfns.filter((gfn) => domain.p2m[gfn]?.type === 'ram_rw');
}

export function grantTemplates(state: XenPtState, config: XenPtConfig): XenPtCommand[] {
  const templates: XenPtCommand[] = [];
  const gfns = Array.from({ length: config.world.gfnSpace }, (_, gfn) => gfn);
  const running = state.xen.domains.filter((domain) => domain.life === 'running');
  for (const guest of running) {
    if (!guest.translated) continue;
    const domid = guest.domid;
    templates.push({ kind: 'setGrantVersion', domid, version: 3 - grantVersionOf(guest) });
    // Grant-table frames go above the RAM gfns as well (gfnSpace and the one after, as the
    // generators put them): a guest's p2m is not bounded by the gfns its RAM uses.
    const frameGfns = [...gfns, gfns.length, gfns.length + 1].filter(
      (gfn) => guest.p2m[gfn] === undefined || guest.p2m[gfn]?.type === 'grant_table',
    );
    for (const gfn of frameGfns.slice(0, 2))
      templates.push({ kind: 'mapGrantFrame', domid, idx: 0, status: true, gfn });
    const own = ramGfns(guest, gfns)[0];
    const free = gfns.find((gfn) => guest.p2m[gfn] === undefined);
    // The guest as the granter: its ref 8 granted to dom0 (a backend), and dom0's map of it.
    const backend = state.xen.domains[HARDWARE_DOMID];
    const ownEntry = guest.grantTable[8];
    if (backend?.life === 'running' && ownEntry !== undefined && own !== undefined) {
      const hostGfn = gfns.find((gfn) => backend.p2m[gfn] === undefined);
      if (!ownEntry.permitAccess) {
        templates.push({ kind: 'grantAccess', domid, ref: 8, granteeDomid: HARDWARE_DOMID, gfn: own, readonly: false });
      } else if (ownEntry.domid === HARDWARE_DOMID && hostGfn !== undefined) {
        const map = { mapperDomid: HARDWARE_DOMID, granterDomid: domid, ref: 8, gfn: hostGfn, readonly: false };
        templates.push({ kind: 'mapGrantRef', ...map });
      }
    }
    for (const granter of running) {
      if (granter.domid === domid) continue;
      const granted = ramGfns(granter, gfns)[0];
      for (const [ref, readonly] of [
        [8, false],
        [0, true],
      ] as const) {
        const entry = granter.grantTable[ref];
        if (entry === undefined) continue;
        if (entry.permitAccess !== true) {
          if (granted !== undefined)
            templates.push({
              kind: 'grantAccess',
              domid: granter.domid,
              ref,
              granteeDomid: domid,
              gfn: granted,
              readonly,
            });
          continue;
        }
        if (entry.domid !== domid) continue;
        if (ref === 8 && free !== undefined)
          templates.push({
            kind: 'mapGrantRef',
            mapperDomid: domid,
            granterDomid: granter.domid,
            ref,
            gfn: free,
            readonly,
          });
        if (own === undefined) continue;
        const grant = { domid: granter.domid, gref: true, frame: ref };
        const self = { domid: DOMID_SELF, gref: false, frame: own };
        for (const [source, dest] of [
          [grant, self],
          [self, grant],
        ] as const) {
          for (const phased of [false, true]) {
            templates.push({
              kind: 'grantCopy',
              callerDomid: domid,
              sourceDomid: source.domid,
              sourceGref: source.gref,
              sourceFrame: source.frame,
              sourceOffset: 0,
              destDomid: dest.domid,
              destGref: dest.gref,
              destFrame: dest.frame,
              destOffset: 0,
              len: PAGE_BYTES,
              ...(phased ? { phased } : {}),
            });
          }
        }
      }
      templates.push({ kind: 'setGrantVersion', domid: granter.domid, version: 3 - grantVersionOf(granter) });
    }
    if (own !== undefined) {
      // Its own gfn onto itself: a whole page, started; and past the page's end.
      const self = { sourceDomid: DOMID_SELF, sourceGref: false, sourceFrame: own, destDomid: DOMID_SELF } as const;
      const copy = { kind: 'grantCopy', callerDomid: domid, ...self, destGref: false, destFrame: own } as const;
      templates.push({ ...copy, sourceOffset: 0, destOffset: 0, len: PAGE_BYTES, phased: true });
      templates.push({ ...copy, sourceOffset: 0, destOffset: PAGE_BYTES / 2, len: PAGE_BYTES });
    }
  }
  return templates;
}
