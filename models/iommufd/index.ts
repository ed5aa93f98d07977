/**
 * The iommufd model's public surface: state, world creation, commands, the step, the config and
 * its hooks, and the domain content a stack forwards to an IOMMU model.
 * Reference: docs/reference/iommufd.md.
 */
export type {
  AccessObject,
  AccessPin,
  DeviceObject,
  HwptNestedObject,
  HwptPagingObject,
  IoasObject,
  IommufdGroup,
  IommufdObject,
  IommufdState,
  IommufdStepResult,
  IoptArea,
  IoptPages,
  IovaRange,
  PageInterval,
  Translation,
} from './types.js';
export type { IommufdCommand, IommufdCommandKind } from './commands.js';
export type { IommufdConfig, IommufdDeviceSpec, IommufdHooks } from './config.js';
export {
  defaultIommufdConfig,
  mockDevice,
  soundIommufdHooks,
  vtdDevice,
  MOCK_APERTURE,
  X86_MSI_WINDOW,
} from './config.js';
export type { IommufdWorldSpec } from './process.js';
export { createIommufdState } from './process.js';
export { cloneIommufdState } from './clone.js';
export { iommufdStep } from './step.js';
export type { TranslationEffect } from '../vfio/types.js';
export { deviceTranslation, expectedDomainContent, frameHolders } from './views.js';
