/**
 * The shape of every XenGT command and the range of each field, for commands read from files (the
 * corpus) and commands handed to a design through the library. Domids are `domid_t` (16 bits,
 * [X] xen/include/public/xen.h), grant refs `grant_ref_t` and handles `grant_handle_t` (32 bits,
 * [X] xen/include/public/grant_table.h); gfns and addresses are 64-bit (`xen_pfn_t`, `uint64_t`),
 * so any whole number is one; a GTT entry is a GGTT index. `phased` (a GGTT write, a GPU access,
 * a grant map or unmap, a balloon-out, a domain's destruction)
 * starts an operation left in flight, and `advance` names one by its index among those in flight.
 */
import type { XenGtCommand, XenGtCommandKind } from '../../models/xengt/commands.js';
import type { CommandProblem } from '../../src/design.js';
import { XENGT_FAULT_NTH_MAX } from '../../models/xengt/fault.js';
import { commandValidator, domid, optionalUpTo, templateValidator, u32, upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { advanceSchema, phasedField } from '../generic/interleave.js';
import { ggttIndex, gvtCommandSchema } from '../gvt/commands.js';

type Schema = {
  readonly [K in Exclude<XenGtCommandKind, 'advance'>]: Record<
    Exclude<keyof Extract<XenGtCommand, { kind: K }>, 'kind'>,
    FieldType
  >;
};

const nat = 'whole number';
const bool = 'boolean';
const address = 'whole number or null';
const ref = u32('grant_ref_t');
const handle = u32('grant_handle_t');
/** An HVM guest has at most HVM_MAX_VCPUS (128) vCPUs, [X] xen/include/public/hvm/hvm_info_table.h. */
const vcpu = optionalUpTo(127, 'an HVM guest has at most 128 vCPUs');

const schema: Schema = {
  gttWrite: {
    entry: ggttIndex,
    gfn: nat,
    present: bool,
    // Any MMIO access size the guest may issue; the mediator refuses all but 4 and 8 (EINVAL).
    sizeBytes: optionalUpTo(8, 'an MMIO write is at most 8 bytes'),
    offsetBytes: optionalUpTo(7, 'an offset inside an 8-byte entry'),
    vcpu,
    ...phasedField,
  },
  gpuDma: { entry: ggttIndex, write: bool, ...phasedField },
  decreaseReservation: { domid, gfn: nat, ...phasedField },
  populatePhysmap: { domid, gfn: nat },
  grantAccess: { domid, ref, granteeDomid: domid, gfn: nat, readonly: bool },
  endAccess: { domid, ref },
  mapGrantRef: {
    mapperDomid: domid,
    granterDomid: domid,
    ref,
    host: bool,
    device: bool,
    readonly: bool,
    hostAddr: address,
    ...phasedField,
  },
  unmapGrantRef: { mapperDomid: domid, handle, hostAddr: address, devBusAddr: address, ...phasedField },
  mapForeign: { domid, gfn: nat, foreignDomid: domid, foreignGfn: nat },
  unmapForeign: { domid, gfn: nat },
  destroyDomain: { domid, ...phasedField },
  createDomain: { domid },
  injectFault: {
    point: '"maptrack", "pageRef", "hostMapping", "iommuMap", "alloc", "p2mRemove", "foreignMap" or "domainCreate"',
    nth: upTo(XENGT_FAULT_NTH_MAX, 'far beyond the attempts one command makes'),
  },
  clearFault: {},
  vgpuDestroy: {},
  vgpuCreate: {},
  ...gvtCommandSchema,
};

export const validateXenGtCommand: (command: unknown) => CommandProblem | null = commandValidator({
  ...schema,
  ...advanceSchema,
});
export const validateXenGtTemplate: (template: unknown) => CommandProblem | null = templateValidator({
  ...schema,
  ...advanceSchema,
});
