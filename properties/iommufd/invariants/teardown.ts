/**
 * Teardown and atomicity of the passthrough stack over iommufd. With no IOAS left (every one
 * destroyed, which needs every device, hwpt and access off it first) nothing may stay pinned or
 * charged, and no VT-d domain may translate anything. A refused request leaves the state as it
 * was, except the refusals the source keeps partial effects of (`detail.partial`, documented in
 * docs/reference/iommufd.md §3.4 and §4.2): those are the model's answer, not a design's flaw.
 */
import type { IommufdPtCommand, IommufdPtState } from '../../../models/iommufd-pt/types.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import type { IommufdPtInvariant } from './effect.js';

export const noIoasNothingHeld: IommufdPtInvariant = {
  name: 'no-ioas-nothing-held',
  reads: (state) => [state.iommufd, state.iommu.domains, state.iommu.flat],
  class: 'teardown',
  description:
    'once no IOAS exists, no iopt_pages is left, nothing is pinned or charged, and no VT-d domain translates a page',
  check({ after }) {
    const state = after.iommufd;
    if (Object.values(state.objects).some((object) => object.type === 'ioas')) return null;
    const left: string[] = [];
    const pages = Object.keys(state.pages).length;
    if (pages > 0) left.push(`${pages} iopt_pages`);
    if (state.pinnedVmPages > 0) left.push(`pinned_vm ${state.pinnedVmPages}`);
    if (state.userLockedVmPages > 0) left.push(`user->locked_vm ${state.userLockedVmPages}`);
    if (state.process.lockedVmPages > 0) left.push(`mm->locked_vm ${state.process.lockedVmPages}`);
    const mapped = Object.values(after.iommu.flat).reduce((sum, leaves) => sum + leaves.length, 0);
    if (mapped > 0) left.push(`${mapped} IOMMU translations`);
    if (left.length === 0) return null;
    return {
      message: `no IOAS is left, but ${left.join(', ')} remain`,
      actual: left.join(', '),
      expected: 'nothing pinned, charged or translated',
    };
  },
};

const atomicity = failedOperationLeavesStateUnchanged<IommufdPtState, IommufdPtCommand>();

export const failedOpLeavesStateUnchanged: IommufdPtInvariant = {
  ...atomicity,
  description: `${atomicity.description} (except the partial unmaps and replaces the source keeps, detail.partial)`,
  check: (transition) => (transition.result?.detail?.['partial'] === true ? null : atomicity.check(transition)),
};
