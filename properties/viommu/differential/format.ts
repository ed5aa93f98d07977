/**
 * One line per operation of the differential pair, for reports; and the shape and range of each,
 * for corpus files and operations handed to the design through the library.
 */
import type { DriverOp, DriverOpKind } from '../../../models/viommu/driver.js';
import type { CommandProblem } from '../../../src/design.js';
import { commandValidator, frameOwner, pageNumber, templateValidator, upTo } from '../../generic/command-schema.js';
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

/** The shape of each operation; a buffer lies in the guest's RAM, so it spans at most its `ramPages`. */
function schemaOf(ramPages: number): Schema {
  const pages = upTo(ramPages, `a buffer is at most the guest's ${ramPages} pages of RAM`);
  return {
    map: { giovaPage: pageNumber, gpaPage: pageNumber, pages, write: 'boolean' },
    unmap: { giovaPage: pageNumber, pages },
    dma: { giovaPage: pageNumber, write: 'boolean' },
    balloonOut: { gpaPage: pageNumber },
    balloonIn: { gpaPage: pageNumber },
    allocateToOther: { owner: frameOwner },
  };
}

export interface DriverOpValidators {
  readonly command: (command: unknown) => CommandProblem | null;
  readonly template: (template: unknown) => CommandProblem | null;
}

/** Validators of operations and templates for a guest with `ramPages` pages of RAM. */
export function driverOpValidators(ramPages: number): DriverOpValidators {
  const schema = schemaOf(ramPages);
  return { command: commandValidator(schema), template: templateValidator(schema) };
}
