/**
 * The shape and one-line wording of the Xen passthrough stack's grant v2 and copy commands
 * (`models/xenpt/grant-v2.ts`), which `schema.ts` joins to the stack's own.
 */
import { DOMID_SELF } from '../../models/xenpt/grant-v2.js';
import type { XenPtGrantV2Command, XenPtGrantV2Kind } from '../../models/xenpt/grant-v2.js';
import { domid, u32, upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { phasedField } from '../generic/interleave.js';

type Schema = {
  readonly [K in XenPtGrantV2Kind]: Record<Exclude<keyof Extract<XenPtGrantV2Command, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';
const ref = u32('grant_ref_t');
/** `gnttab_copy.source.offset` / `.dest.offset` and `len` are uint16_t. */
const u16 = (what: string): FieldType => upTo(0xffff, `${what} is 16 bits`);

export const xenPtGrantV2Schema: Schema = {
  setGrantVersion: { domid, version: u32('gnttab_set_version.version') },
  getStatusFrames: { callerDomid: domid, domid, nrFrames: u32('nr_frames') },
  mapGrantFrame: { domid, idx: nat, status: bool, gfn: nat },
  endAccess: { domid, ref },
  grantCopy: {
    callerDomid: domid,
    sourceDomid: domid,
    sourceGref: bool,
    sourceFrame: nat,
    sourceOffset: u16('the offset'),
    destDomid: domid,
    destGref: bool,
    destFrame: nat,
    destOffset: u16('the offset'),
    len: u16('len'),
    ...phasedField,
  },
};

function side(domain: number, gref: boolean, frame: number, offset: number): string {
  const who = domain === DOMID_SELF ? 'DOMID_SELF' : `dom${domain}`;
  return `${who} ${gref ? 'ref' : 'gmfn'} ${frame}+${offset}`;
}

export function formatXenPtGrantV2Command(command: XenPtGrantV2Command): string {
  switch (command.kind) {
    case 'setGrantVersion':
      return `dom${command.domid}: GNTTABOP_set_version ${command.version}`;
    case 'getStatusFrames':
      return `dom${command.callerDomid}: GNTTABOP_get_status_frames of dom${command.domid}, ${command.nrFrames} frames`;
    case 'mapGrantFrame':
      return `dom${command.domid}: XENMEM_add_to_physmap grant_table ${command.status ? 'status' : 'shared'} frame ${command.idx} at gfn ${command.gfn}`;
    case 'endAccess':
      return `dom${command.domid}: end foreign access to grant ref ${command.ref}`;
    case 'grantCopy':
      return `dom${command.callerDomid}: GNTTABOP_copy ${command.len} bytes ${side(command.sourceDomid, command.sourceGref, command.sourceFrame, command.sourceOffset)} → ${side(command.destDomid, command.destGref, command.destFrame, command.destOffset)}${command.phased === true ? ' (started)' : ''}`;
  }
}
