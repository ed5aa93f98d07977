/**
 * The differential property of the vIOMMU debate (docs/debates.md#viommu-shadow-or-nested): for the
 * same guest program, run by a guest that follows the invalidation rules, shadow and nested give
 * every operation the same outcome — a DMA lands in the same frame or faults in both, and a request
 * is accepted or refused alike.
 */
import type { DriverOp } from '../../../models/viommu/driver.js';
import type { ViommuPairState } from '../../../models/viommu/pair.js';
import type { Invariant } from '../../../src/design.js';
import { formatDriverOp } from './format.js';

export const shadowAndNestedAgree: Invariant<ViommuPairState, DriverOp> = {
  name: 'shadow-and-nested-agree',
  class: 'differential',
  description:
    'for the same well-behaved guest program, every DMA lands in the same frame (or faults) in shadow and nested, and every request is accepted or refused alike',
  check({ command, result }) {
    if (command === null || result === null) return null;
    const shadow = String(result.detail?.['shadow']);
    const nested = String(result.detail?.['nested']);
    if (shadow === nested) return null;
    return {
      message: `${formatDriverOp(command)}: ${shadow} in shadow, ${nested} in nested`,
      actual: `shadow: ${shadow}; nested: ${nested}`,
      expected: 'the same outcome in both',
    };
  },
};
