/** One line per operation of the differential pair, for reports; and the shape of each, for corpus files. */
import type { DriverOp, DriverOpKind } from '../../../models/viommu/driver.js';
import type { CommandProblem } from '../../../src/design.js';
import { validateCommand } from '../../generic/command-schema.js';
import type { FieldType } from '../../generic/command-schema.js';

function span(first: number, pages: number): string {
  return pages === 1 ? `${first}` : `${first}..${first + pages - 1}`;
}

export function formatDriverOp(op: DriverOp): string {
  switch (op.kind) {
    case 'map':
      return `guest maps GIOVA ${span(op.giovaPage, op.pages)} → GPA ${span(op.gpaPage, op.pages)} (${op.write ? 'rw' : 'r-'})`;
    case 'unmap':
      return `guest unmaps GIOVA ${span(op.giovaPage, op.pages)}`;
    case 'dma':
      return `device DMA ${op.write ? 'write' : 'read'} at GIOVA page ${op.giovaPage}`;
    case 'balloonOut':
      return `guest balloons out GPA page ${op.gpaPage}`;
    case 'balloonIn':
      return `guest balloons GPA page ${op.gpaPage} back in`;
    case 'allocateToOther':
      return `owner ${op.owner} takes a free frame`;
  }
}

type Schema = {
  readonly [K in DriverOpKind]: Record<Exclude<keyof Extract<DriverOp, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';

const schema: Schema = {
  map: { giovaPage: nat, gpaPage: nat, pages: nat, write: 'boolean' },
  unmap: { giovaPage: nat, pages: nat },
  dma: { giovaPage: nat, write: 'boolean' },
  balloonOut: { gpaPage: nat },
  balloonIn: { gpaPage: nat },
  allocateToOther: { owner: nat },
};

export function validateDriverOp(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  return validateCommand(schema, command);
}
