/** The shape of every XenGT command, for commands read from files (the corpus). */
import type { XenGtCommand, XenGtCommandKind } from '../../models/xengt/commands.js';
import type { CommandProblem } from '../../src/design.js';
import { validateCommand } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { gvtCommandSchema } from '../gvt/commands.js';

type Schema = {
  readonly [K in XenGtCommandKind]: Record<Exclude<keyof Extract<XenGtCommand, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';
const address = 'whole number or null';

const schema: Schema = {
  gttWrite: { entry: nat, gfn: nat, present: bool },
  gpuDma: { entry: nat, write: bool },
  decreaseReservation: { domid: nat, gfn: nat },
  populatePhysmap: { domid: nat, gfn: nat },
  grantAccess: { domid: nat, ref: nat, granteeDomid: nat, gfn: nat, readonly: bool },
  endAccess: { domid: nat, ref: nat },
  mapGrantRef: {
    mapperDomid: nat,
    granterDomid: nat,
    ref: nat,
    host: bool,
    device: bool,
    readonly: bool,
    hostAddr: address,
  },
  unmapGrantRef: { mapperDomid: nat, handle: nat, hostAddr: address, devBusAddr: address },
  mapForeign: { domid: nat, gfn: nat, foreignDomid: nat, foreignGfn: nat },
  unmapForeign: { domid: nat, gfn: nat },
  destroyDomain: { domid: nat },
  vgpuDestroy: {},
  vgpuCreate: {},
  ...gvtCommandSchema,
};

export function validateXenGtCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  return validateCommand(schema, command);
}
