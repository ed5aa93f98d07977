/**
 * Frame accounting of the passthrough stack: each frame's reference count equals its holders —
 * VFIO's (process pages, pins, other owners) and the stack's flush holds.
 */
import { describePassthroughHolder, passthroughFrameHolders } from '../../../models/passthrough/views.js';
import { refcountMismatches } from '../../../models/vfio/views.js';
import type { PassthroughInvariant } from './lift.js';

export const frameRefcountMatchesHolders: PassthroughInvariant = {
  name: 'frame-refcount-matches-holders',
  reads: (state) => [state.vfio, state.held],
  class: 'accounting',
  description:
    "each frame's reference count equals its holders: process pages, IOMMU-path pins, external pins, other owners, flush holds",
  check({ after }) {
    const [mismatch] = refcountMismatches(after.vfio.memory, passthroughFrameHolders(after));
    if (mismatch === undefined) return null;
    const listed =
      mismatch.holders.length === 0 ? 'no holder' : mismatch.holders.map(describePassthroughHolder).join(', ');
    return {
      message: `mfn ${mismatch.mfn}: refcount ${mismatch.refcount}, ${mismatch.holders.length} holders (${listed})`,
      actual: `refcount ${mismatch.refcount}`,
      expected: `refcount ${mismatch.holders.length}`,
    };
  },
};
