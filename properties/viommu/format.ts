/**
 * One line per command of the vIOMMU stack, for reports; and the shape and range of each, for
 * corpus files and commands handed to a design through the library.
 */
import type { ViommuCommand, ViommuCommandKind } from '../../models/viommu/types.js';
import type { CommandProblem } from '../../src/design.js';
import { commandValidator, frameOwner, pageNumber, templateValidator, upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';
import { ADVANCE, advanceSchema, phasedField } from '../generic/interleave.js';

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
          return `guest ${command.phased === true ? 'queues an invalidation (and a wait) of' : 'invalidates'} GIOVA ${pages(command.giovaPage, 2 ** command.mask)} of DID ${command.did}`;
        case 'domain':
          return `guest invalidates all of DID ${command.did}`;
        case 'global':
          return 'guest invalidates globally';
      }
      return 'guest invalidates';
    case 'guestDetach':
      return "guest clears the device's context entry (detached, its domain freed)";
    case 'guestAttach':
      return `guest attaches the device to a new domain with DID ${command.did}`;
    case 'guestInvalidateContext':
      return `guest ${command.phased === true ? 'queues a context-cache invalidation (and a wait)' : 'invalidates the context cache'} (${command.granularity === 'device' ? 'device-selective' : 'global'})`;
    case 'guestSetTranslation':
      return `guest ${command.enabled ? 'enables' : 'disables'} DMA remapping (GCMD.TE)`;
    case 'guestClearPasid':
      return "guest clears the device's RID_PASID entry (blocked, its domain freed)";
    case 'guestSetupPasid':
      return `guest sets the device's RID_PASID entry up: a new second-level domain with DID ${command.did}`;
    case 'guestInvalidatePasidCache':
      switch (command.granularity) {
        case 'domain':
          return `guest invalidates the PASID cache of DID ${command.did}`;
        case 'pasid':
          return `guest invalidates the PASID cache of PASID ${command.pasid} in DID ${command.did}`;
        case 'global':
          return 'guest invalidates the PASID cache globally';
      }
      return 'guest invalidates the PASID cache';
    case 'guestInvalidatePiotlb':
      return command.granularity === 'page'
        ? `guest invalidates GIOVA ${pages(command.giovaPage, 2 ** command.mask)} of PASID ${command.pasid} in DID ${command.did} (PASID-based IOTLB)`
        : `guest invalidates all of PASID ${command.pasid} in DID ${command.did} (PASID-based IOTLB)`;
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
    case 'advance':
      return `VMM: next phase of the trapped invalidation ${command.op}`;
  }
}

type Schema = {
  readonly [K in ViommuCommandKind]: Record<Exclude<keyof Extract<ViommuCommand, { kind: K }>, 'kind'>, FieldType>;
};

const bool = 'boolean';

/**
 * GIOVA and GPA pages are pages of 64-bit addresses; a VT-d domain id is 16 bits and a
 * page-selective invalidation's address mask a 6-bit field (the IOTLB invalidate descriptor's DID
 * and AM, [L] drivers/iommu/intel/iommu.h `QI_IOTLB_DID`, `QI_IOTLB_AM`); the model refuses masks
 * above MAMV.
 */
const schema: Schema = {
  guestMap: { giovaPage: pageNumber, gpaPage: pageNumber, write: bool },
  guestUnmap: { giovaPage: pageNumber },
  guestInvalidate: {
    granularity: '"page", "domain" or "global"',
    did: upTo(0xffff, 'a VT-d domain id is 16 bits'),
    giovaPage: pageNumber,
    mask: upTo(63, 'the address mask is 6 bits'),
    ...phasedField,
  },
  guestDetach: {},
  guestAttach: { did: upTo(0xffff, 'a VT-d domain id is 16 bits') },
  guestInvalidateContext: { granularity: '"device" or "global"', ...phasedField },
  guestSetTranslation: { enabled: bool },
  guestClearPasid: {},
  guestSetupPasid: { did: upTo(0xffff, 'a VT-d domain id is 16 bits') },
  guestInvalidatePasidCache: {
    granularity: '"domain", "pasid" or "global"',
    did: upTo(0xffff, 'a VT-d domain id is 16 bits'),
    pasid: upTo(0xfffff, 'a PASID is 20 bits'),
  },
  guestInvalidatePiotlb: {
    granularity: '"pasid" or "page"',
    did: upTo(0xffff, 'a VT-d domain id is 16 bits'),
    pasid: upTo(0xfffff, 'a PASID is 20 bits'),
    giovaPage: pageNumber,
    mask: upTo(63, 'the address mask is 6 bits'),
  },
  guestBalloonOut: { gpaPage: pageNumber },
  guestBalloonIn: { gpaPage: pageNumber },
  guestTouch: { gpaPage: pageNumber },
  vmmDiscard: { gpaPage: pageNumber },
  allocateToOther: { owner: frameOwner },
  releaseFromOther: { mfn: pageNumber },
  deviceDma: { giovaPage: pageNumber, write: bool },
  advance: advanceSchema[ADVANCE] as Schema['advance'],
};

export const validateViommuCommand: (command: unknown) => CommandProblem | null = commandValidator(schema);
export const validateViommuTemplate: (template: unknown) => CommandProblem | null = templateValidator(schema);
