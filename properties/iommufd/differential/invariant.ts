/**
 * The differential property of type1 and iommufd's VFIO compatibility layer: for the same VMM
 * program, every DMA lands in the same frame (the same VMM vaddr's) or faults in both, every ioctl
 * has the same outcome, and the two keep the same mappings — except where a difference is declared
 * (`differences.ts`). After a declared difference that leaves the mappings apart, the pair is no
 * longer compared (`compared: false`).
 */
import type { Type1IommufdPairState, VmmOp } from '../../../models/iommufd-pt/pair.js';
import type { Invariant } from '../../../src/design.js';
import { formatVmmOp } from './format.js';

export const type1AndIommufdAgree: Invariant<Type1IommufdPairState, VmmOp> = {
  name: 'type1-and-iommufd-agree',
  class: 'differential',
  description:
    'for the same VMM program, every DMA lands in the same vaddr’s frame (or faults) on type1 and on the iommufd compat layer, every ioctl has the same outcome and both keep the same mappings, except the declared differences',
  check({ command, result }) {
    if (command === null || result === null) return null;
    const type1 = String(result.detail?.['type1']);
    const iommufd = String(result.detail?.['iommufd']);
    if (result.detail?.['undeclared'] === true) {
      return {
        message: `${formatVmmOp(command)}: ${type1} on type1, ${iommufd} on iommufd, a difference nobody declared`,
        actual: `type1: ${type1}; iommufd: ${iommufd}`,
        expected: 'the same outcome in both, or a declared difference',
      };
    }
    const apart = result.detail?.['mappingsApart'];
    if (typeof apart === 'string') {
      return {
        message: `${formatVmmOp(command)}: the two containers' mappings are apart (${apart})`,
        actual: apart,
        expected: 'the same mappings on both sides',
      };
    }
    return null;
  },
};
