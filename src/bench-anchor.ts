/**
 * The anchor universe: a XenGT design on the state graph of the Promela model in
 * `shared/anchors/xengt-dmaprop.pml` (README there), to compare the explorer's speed with Spin's
 * on the same graph. Built from the XenGT model functions, with the model's universe:
 * - NF host frames for the guest and dom2 (plus one RAM page of dom0's, which the commands never
 *   touch: the host's GGTT entries point at it), dom1 (the guest) holding gfns 0..NG-1 at start,
 *   dom2 holding nothing, the lifo allocator, the map backend (or lookup);
 * - the vGPU's first NE GTT entries;
 * - commands, in the model's order: GTT writes of gfns 0..NG-1 to each entry, clears, dom1's
 *   balloon-out of each gfn, with `full` dom1's re-populate of each gfn and dom2's balloon-out of
 *   its first populated gfn, dom2's populate of its first empty gfn, and a DMA read through each
 *   entry. A refused command is a self-loop, as in the model.
 * Keyed without renaming frames (Spin has no symmetry reduction) unless `symmetric`.
 * NF=4, NG=2, NE=2, full, map: 63,576 states and 890,064 transitions in both tools (the README's
 * scaled universe).
 */
import { ownGgttIndices } from '../models/gvt/config.js';
import type { XenGtCommand } from '../models/xengt/commands.js';
import { initXenGt, stepXenGt } from '../models/xengt/step.js';
import type { XenGtState } from '../models/xengt/types.js';
import { xenGtDesign } from '../properties/xengt/design.js';
import { xenGtStateFingerprint, xenGtStateKey } from '../properties/xengt/explore-scope.js';
import { xenGtInvariants } from '../properties/xengt/invariants/index.js';
import { resolveXenGt } from '../properties/xengt/resolve.js';
import type { XenGtTemplate } from '../properties/xengt/resolve.js';
import { xenGtUniverse } from '../properties/xengt/universe.js';
import { xenGtFlatScope } from '../properties/xengt/flat/scope.js';
import type { XenGtFlat } from '../properties/xengt/flat/scope.js';
import type { Design } from './design.js';

export interface AnchorUniverse {
  /** Host frames the guest and dom2 share (the model's NF). */
  readonly frames: number;
  /** The guest's gfns, all populated at start (NG). */
  readonly gfns: number;
  /** GTT entries (NE). */
  readonly entries: number;
  /** Also the guest's re-populate and dom2's balloon-out (FULL). */
  readonly full: boolean;
  readonly backend: 'map' | 'lookup';
  /** Key up to a renaming of frames (the XenGT scope's reduction); false: as Spin sees states. */
  readonly symmetric: boolean;
}

export const SCALED_ANCHOR: AnchorUniverse = {
  frames: 4,
  gfns: 2,
  entries: 2,
  full: true,
  backend: 'map',
  symmetric: false,
};

/**
 * The same model on a bigger universe (five frames): 733,920 states and 10,274,880 transitions,
 * some 5.6 s on one thread flat; for measuring the parallel flat search (issue 23).
 */
export const LARGE_ANCHOR: AnchorUniverse = { ...SCALED_ANCHOR, frames: 5 };

/** The anchor design on `LARGE_ANCHOR`, a function of no arguments (a `DesignSource` export). */
export function largeAnchorDesign(): Design<XenGtState, XenGtCommand, XenGtTemplate> {
  return anchorDesign(LARGE_ANCHOR);
}

export function anchorDesign(
  universe: AnchorUniverse = SCALED_ANCHOR,
): Design<XenGtState, XenGtCommand, XenGtTemplate> {
  return buildAnchor(universe).design;
}

/** The anchor's flat encoding (`properties/xengt/flat`). */
export function anchorFlat(universe: AnchorUniverse = SCALED_ANCHOR): XenGtFlat | undefined {
  return buildAnchor(universe).flat;
}

function buildAnchor(universe: AnchorUniverse): {
  design: Design<XenGtState, XenGtCommand, XenGtTemplate>;
  flat: XenGtFlat | undefined;
} {
  const base = xenGtDesign({
    id: `anchor/xengt-${universe.backend}`,
    expected: 'holds',
    description: 'the Promela anchor universe of XenGT (shared/anchors)',
    backend: universe.backend,
    world: {
      // One more for dom2's page, taken back below.
      frames: universe.frames + 2,
      domains: [
        { translated: true, privileged: true, ramPages: 1 },
        { translated: true, privileged: false, ramPages: universe.gfns },
        { translated: false, privileged: false, ramPages: 1 },
      ],
    },
  });
  // dom2 starts with no page (the world description gives every domain one at least): dom0's one
  // page is allocated first (lifo: the highest frame), then the guest's, from the top down.
  const config = {
    ...base.config,
    world: {
      ...base.config.world,
      memory: { ...base.config.world.memory, frameCount: universe.frames + 1 },
      domains: base.config.world.domains.map((domain, domid) =>
        domid === 2 ? { ...domain, initialGfns: [] } : domain,
      ),
    },
  };
  // dom2's gfns as the model has them (N2 = 6): more than the frames it can ever hold.
  const values = { ...xenGtUniverse(config), gfns: 6 };
  const entries = ownGgttIndices(config.gvt.layout).slice(0, universe.entries);
  const guestGfns = Array.from({ length: universe.gfns }, (_, gfn) => gfn);
  const templates: XenGtTemplate[] = [];
  for (const entry of entries) {
    for (const gfn of guestGfns) templates.push({ kind: 'gttWrite', entry, gfn, present: true });
  }
  for (const entry of entries) templates.push({ kind: 'gttWrite', entry, gfn: 0, present: false });
  for (const gfn of guestGfns) templates.push({ kind: 'decreaseReservation', domid: config.guestDomid, gfn });
  if (universe.full) {
    for (const gfn of guestGfns) templates.push({ kind: 'populatePhysmap', domid: config.guestDomid, gfn });
    templates.push({ kind: 'decreaseReservation', domid: 2, gfn: { pick: 0 } });
  }
  templates.push({ kind: 'populatePhysmap', domid: 2, gfn: { pick: 0 } });
  for (const entry of entries) templates.push({ kind: 'gpuDma', entry, write: false });
  const init = (): XenGtState => initXenGt(config);
  const resolve = (state: XenGtState, template: XenGtTemplate): XenGtCommand =>
    resolveXenGt(state, config, values, template);
  const invariants = xenGtInvariants(config);
  // Spin's graph, on vectors (`properties/xengt/flat`), frames renamed as the key renames them.
  const flat = xenGtFlatScope({
    config,
    values,
    templates,
    invariants,
    init,
    resolve,
    renameFrames: universe.symmetric,
  });
  const design: Design<XenGtState, XenGtCommand, XenGtTemplate> = {
    ...base,
    init,
    step: (state, command) => stepXenGt(state, config, command),
    resolve,
    invariants,
    explore: {
      description: `the anchor universe: ${universe.frames} frames, ${universe.gfns} guest gfns, ${universe.entries} GTT entries`,
      templates: () => templates,
      key: (state) => xenGtStateKey(state, config.backend, { renameFrames: universe.symmetric }),
      fingerprint: (state) => xenGtStateFingerprint(state, config.backend, { renameFrames: universe.symmetric }),
      ...(flat === undefined ? {} : { flat: flat.scope }),
    },
  };
  return { design, flat };
}
