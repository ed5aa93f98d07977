/**
 * The shape of every Xen passthrough command and the range of each field (commands read from
 * files, commands handed to a design through the library), and one line per command for reports.
 * Domids are `domid_t` (16 bits), grant refs and handles 32 bits; gfns and dfns 64-bit, so any
 * whole number is one; a device is named by its index in the world (its SBDF is 32 bits: `machine_sbdf`).
 */
import type { XenPtCommand, XenPtCommandKind } from '../../models/xenpt/commands.js';
import type { CommandProblem } from '../../src/design.js';
import { commandValidator, domid, templateValidator, u32 } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { advanceSchema, phasedField } from '../generic/interleave.js';
import { pvMmuCommandSchema } from '../xen/pv-schema.js';
import { formatXenPtPvCommand } from './pv-memory.js';
import { formatXenPtGrantV2Command, xenPtGrantV2Schema } from './grant-v2-schema.js';

type Schema = {
  readonly [K in Exclude<XenPtCommandKind, 'advance'>]: Record<
    Exclude<keyof Extract<XenPtCommand, { kind: K }>, 'kind'>,
    FieldType
  >;
};

const nat = 'whole number';
const bool = 'boolean';
const device = u32('machine_sbdf');

export const xenPtCommandSchema: Schema = {
  assignDevice: { domid, device },
  deassignDevice: { domid, device },
  dma: { device, dfn: nat, write: bool, ...phasedField },
  moveGfn: { domid, idx: nat, gpfn: nat, ...phasedField },
  decreaseReservation: { domid, gfn: nat },
  populatePhysmap: { domid, gfn: nat },
  grantAccess: { domid, ref: u32('grant_ref_t'), granteeDomid: domid, gfn: nat, readonly: bool },
  mapGrantRef: {
    mapperDomid: domid,
    granterDomid: domid,
    ref: u32('grant_ref_t'),
    gfn: nat,
    readonly: bool,
    device: 'optional boolean',
    host: 'optional boolean',
  },
  unmapGrantRef: {
    mapperDomid: domid,
    handle: u32('grant_handle_t'),
    host: 'optional boolean',
    device: 'optional boolean',
  },
  destroyDomain: { domid, ...phasedField },
  createDomain: { domid },
  ...pvMmuCommandSchema,
  ...xenPtGrantV2Schema,
};

export const validateXenPtCommand: (command: unknown) => CommandProblem | null = commandValidator({
  ...xenPtCommandSchema,
  ...advanceSchema,
});
export const validateXenPtTemplate: (template: unknown) => CommandProblem | null = templateValidator({
  ...xenPtCommandSchema,
  ...advanceSchema,
});

/** A host mapping at `gfn` (as before device mappings joined), a device mapping, or both. */
function mapParts(command: { gfn: number; host?: boolean; device?: boolean }): string {
  const host = command.host === false ? '' : ` at gfn ${command.gfn}`;
  return command.device === true ? `${host}${host === '' ? '' : ' and'} for device` : host;
}

function unmapParts(command: { host?: boolean; device?: boolean }): string {
  if (command.host === false) return ' (device mapping only)';
  return command.device === false ? ' (host mapping only)' : '';
}

function started(command: { readonly phased?: boolean }): string {
  return command.phased === true ? ' (started)' : '';
}

export function formatXenPtCommand(command: XenPtCommand): string {
  switch (command.kind) {
    case 'assignDevice':
      return `toolstack: XEN_DOMCTL_assign_device device ${command.device} to dom${command.domid}`;
    case 'deassignDevice':
      return `toolstack: XEN_DOMCTL_deassign_device device ${command.device} from dom${command.domid}`;
    case 'dma':
      return `device ${command.device}: DMA ${command.write ? 'write' : 'read'} at dfn ${command.dfn}${started(command)}`;
    case 'moveGfn':
      return `dom${command.domid}: XENMEM_add_to_physmap gmfn_range gfn ${command.idx} → gfn ${command.gpfn}${started(command)}`;
    case 'decreaseReservation':
      return `dom${command.domid}: XENMEM_decrease_reservation gfn ${command.gfn}`;
    case 'populatePhysmap':
      return `dom${command.domid}: XENMEM_populate_physmap gfn ${command.gfn}`;
    case 'grantAccess':
      return `dom${command.domid}: grant ref ${command.ref} of gfn ${command.gfn} to dom${command.granteeDomid}${command.readonly ? ' read-only' : ''}`;
    case 'mapGrantRef':
      return `dom${command.mapperDomid}: GNTTABOP_map_grant_ref dom${command.granterDomid} ref ${command.ref}${mapParts(command)}${command.readonly ? ' read-only' : ''}`;
    case 'unmapGrantRef':
      return `dom${command.mapperDomid}: GNTTABOP_unmap_grant_ref handle ${command.handle}${unmapParts(command)}`;
    case 'destroyDomain':
      return `toolstack: XEN_DOMCTL_destroydomain dom${command.domid}${started(command)}`;
    case 'createDomain':
      return `toolstack: XEN_DOMCTL_createdomain dom${command.domid}`;
    case 'advance':
      return `advance operation ${command.op}`;
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      return formatXenPtPvCommand(command);
    case 'setGrantVersion':
    case 'getStatusFrames':
    case 'mapGrantFrame':
    case 'endAccess':
    case 'grantCopy':
      return formatXenPtGrantV2Command(command);
  }
}
