/**
 * The shape of every XenGT command, for commands read from files (the corpus): which fields a
 * kind has and what each holds. Values may be out of range — invalid requests are legitimate
 * commands — but never of the wrong type.
 */
import type { XenGtCommand, XenGtCommandKind } from '../../models/xengt/commands.js';
import type { CommandProblem } from '../../src/design.js';

type FieldType = 'whole number' | 'boolean' | 'whole number or null';

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
};

function fits(value: unknown, type: FieldType): boolean {
  const whole = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  switch (type) {
    case 'whole number':
      return whole;
    case 'boolean':
      return typeof value === 'boolean';
    case 'whole number or null':
      return whole || value === null;
  }
}

export function validateXenGtCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  const fields = schema[command['kind'] as XenGtCommandKind] as Record<string, FieldType> | undefined;
  if (fields === undefined) return { field: 'kind', problem: `unknown command kind '${String(command['kind'])}'` };
  for (const [field, type] of Object.entries(fields)) {
    if (!(field in command)) return { field, problem: 'missing' };
    if (!fits(command[field], type))
      return { field, problem: `expected a ${type}, got ${JSON.stringify(command[field])}` };
  }
  for (const field of Object.keys(command)) {
    if (field !== 'kind' && !(field in fields)) return { field, problem: `not a field of ${String(command['kind'])}` };
  }
  return null;
}
