/**
 * The passthrough stack's written-out commands that its PASID tests share (device 0's PASID 1
 * over a one-page mapping at IOVA page 508), and running a sequence that must be accepted whole.
 */
import { expect } from 'vitest';
import { sourceIdOf } from '../../models/passthrough/forward.js';
import { stepPassthrough } from '../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import type { PassthroughDesign } from '../../properties/passthrough/design.js';
import { RAM_VADDR_PAGE } from '../../properties/vfio/world.js';

export const DEVICE = 0;
export const SOURCE = sourceIdOf(DEVICE);
export const IOVA_PAGE = 508;
/** A command of one kind (typed so, so that a test may spread it with that kind's fields). */
type Of<K extends PassthroughCommand['kind']> = Extract<PassthroughCommand, { readonly kind: K }>;

export const map: Of<'mapDma'> = {
  kind: 'mapDma',
  ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: IOVA_PAGE, npages: 1 }),
};
export const attach: Of<'attachPasid'> = { kind: 'attachPasid', deviceId: DEVICE, pasid: 1 };
export const detach: Of<'detachPasid'> = { kind: 'detachPasid', deviceId: DEVICE, pasid: 1 };
export const pasidRead: Of<'pasidDma'> = {
  kind: 'pasidDma',
  deviceId: DEVICE,
  pasid: 1,
  addressPage: IOVA_PAGE,
  write: false,
};

/** Runs `commands` from the design's initial state; each must be accepted. */
export function run(design: PassthroughDesign, commands: readonly PassthroughCommand[]): PassthroughState {
  let state = design.init();
  for (const command of commands) {
    const step = stepPassthrough(state, design.config, command);
    expect(step.result.error, `${command.kind} accepted`).toBeUndefined();
    state = step.state;
  }
  return state;
}
