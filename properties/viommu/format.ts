/** One line per command of the vIOMMU stack, for reports; and the shape of each, for corpus files. */
import type { ViommuCommand, ViommuCommandKind } from '../../models/viommu/types.js';
import type { CommandProblem } from '../../src/design.js';
import { validateCommand } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';

function pages(first: number, count: number): string {
  return count === 1 ? `page ${first}` : `pages ${first}..${first + count - 1}`;
}

export function formatViommuCommand(command: ViommuCommand): string {
  switch (command.kind) {
    case 'guestMap':
      return `guest maps GIOVA page ${command.giovaPage} → GPA page ${command.gpaPage} (${command.write ? 'rw' : 'r-'})`;
    case 'guestUnmap':
      return `guest clears GIOVA page ${command.giovaPage} in its vIOMMU table`;
    case 'guestInvalidate':
      switch (command.granularity) {
        case 'page':
          return `guest invalidates GIOVA ${pages(command.giovaPage, 2 ** command.mask)} of DID ${command.did}`;
        case 'domain':
          return `guest invalidates all of DID ${command.did}`;
        case 'global':
          return 'guest invalidates globally';
      }
      return 'guest invalidates';
    case 'guestBalloonOut':
      return `guest balloons out GPA page ${command.gpaPage}`;
    case 'guestBalloonIn':
      return `guest balloons GPA page ${command.gpaPage} back in`;
    case 'guestTouch':
      return `guest writes GPA page ${command.gpaPage}`;
    case 'vmmDiscard':
      return `VMM discards GPA page ${command.gpaPage} (MADV_DONTNEED)`;
    case 'allocateToOther':
      return `owner ${command.owner} takes a free frame`;
    case 'releaseFromOther':
      return `other owner frees mfn ${command.mfn}`;
    case 'deviceDma':
      return `device DMA ${command.write ? 'write' : 'read'} at GIOVA page ${command.giovaPage}`;
  }
}

type Schema = {
  readonly [K in ViommuCommandKind]: Record<Exclude<keyof Extract<ViommuCommand, { kind: K }>, 'kind'>, FieldType>;
};

const nat = 'whole number';
const bool = 'boolean';

const schema: Schema = {
  guestMap: { giovaPage: nat, gpaPage: nat, write: bool },
  guestUnmap: { giovaPage: nat },
  guestInvalidate: { granularity: '"page", "domain" or "global"', did: nat, giovaPage: nat, mask: nat },
  guestBalloonOut: { gpaPage: nat },
  guestBalloonIn: { gpaPage: nat },
  guestTouch: { gpaPage: nat },
  vmmDiscard: { gpaPage: nat },
  allocateToOther: { owner: nat },
  releaseFromOther: { mfn: nat },
  deviceDma: { giovaPage: nat, write: bool },
};

export function validateViommuCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  return validateCommand(schema, command);
}
