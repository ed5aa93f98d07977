/**
 * Frame accounting of the passthrough stack: each frame's reference count equals its holders —
 * VFIO's (process pages, pins, other owners) and the stack's flush holds.
 */
import { describePassthroughHolder, passthroughFrameHolders } from '../../../models/passthrough/views.js';
import { describeHolder } from '../../../models/vfio/views.js';
import type { PassthroughInvariant } from './lift.js';

export const frameRefcountMatchesHolders: PassthroughInvariant = {
  name: 'frame-refcount-matches-holders',
  reads: (state) => [state.vfio, state.held],
  class: 'accounting',
  description:
    "each frame's reference count equals its holders: process pages, IOMMU-path pins, external pins, other owners, flush holds",
  check({ after }) {
    const holders = passthroughFrameHolders(after);
    for (const frame of after.vfio.memory.frames) {
      const frameHolders = holders[frame.mfn] ?? [];
      if (frame.refcount === frameHolders.length) continue;
      const listed =
        frameHolders.length === 0
          ? 'no holder'
          : frameHolders.map((holder) => describePassthroughHolder(holder, describeHolder)).join(', ');
      return {
        message: `mfn ${frame.mfn}: refcount ${frame.refcount}, ${frameHolders.length} holders (${listed})`,
        actual: `refcount ${frame.refcount}`,
        expected: `refcount ${frameHolders.length}`,
      };
    }
    return null;
  },
};
