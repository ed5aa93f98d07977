/**
 * How a design of the VFIO model alone is built: a world (a preset or a described container: its
 * IOMMU-backed, emulated or noiommu groups and their devices, the sizes of memory and limits), the
 * model's deliberate bugs if any, and the expected verdict — the same way a user writes a variant.
 * The built-in designs (`designs.ts`) are built with exactly this.
 */
import type { AllocPolicy } from '../../models/memory/frames.js';
import type { VfioCommand, VfioCommandKind } from '../../models/vfio/commands.js';
import { vfioBugNeeds, vfioBugs, vfioFeatureMissing } from '../../models/vfio/config.js';
import type { VfioBug, VfioConfig, VfioHooks, VfioWorldFeature } from '../../models/vfio/config.js';
import { actorOfOp, actorOfVfioCommand, nextPhaseOf, vfioHoldings } from '../../models/vfio/inflight.js';
import { stepVfio } from '../../models/vfio/step.js';
import type { VfioState } from '../../models/vfio/types.js';
import type { Design, Expectation, InFlight } from '../../src/design.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import type { BugCatalogue } from '../generic/bug-flags.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { explainVfioStep } from './explain.js';
import { vfioExploreScope } from './explore-scope.js';
import { formatVfioCommand } from './format.js';
import { vfioCommandSpace } from './generators.js';
import { vfioDesignInvariants } from './invariants/index.js';
import {
  classifyLifecycleStep,
  classifyLiveUpdateStep,
  classifyMediatedStep,
  classifyPfnmapStep,
  classifyQueryStep,
  lifecycleReach,
  liveUpdateReach,
  mediatedReach,
  pfnmapReach,
  queryReach,
  classifyZeroPageStep,
  vfioReachFloors,
} from './reach.js';
import { resolveVfio } from './resolve.js';
import type { VfioTemplate } from './resolve.js';
import { validateVfioCommand, validateVfioTemplate } from './schema.js';
import { initVfioWorld, vfioWorldFeatures, vfioWorldLayout } from './world.js';
import type { VfioWorld, VfioWorldLayout } from './world.js';

/** A refused command's result: nothing translated, no device access. */
const noEffects = { effects: [], accesses: [] };

/** The VFIO model's bugs and what each needs of a world, for the factories' refusals. */
export const vfioBugCatalogue: BugCatalogue<VfioBug, VfioWorldFeature> = {
  model: 'the VFIO model',
  bugs: vfioBugs,
  needs: vfioBugNeeds,
  missing: vfioFeatureMissing,
};

/** What `vfioDesign` takes. */
export interface VfioDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /**
   * The container and the guest's memory: a preset (`passthrough`, `noiommu`, `mediated`, `mixed`)
   * or a described world (`VfioWorldDescription`: groups with their devices, frames, RAM pages,
   * RLIMIT_MEMLOCK, dma_entry_limit, the other VM's frames). A world that cannot be built throws.
   */
  readonly world: VfioWorld;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `vfioDesignInvariants`). */
  readonly breaks?: readonly string[];
  /**
   * Deliberate bugs of the VFIO model (`vfioBugs`). A name the model does not know, or a bug whose
   * code path this world never takes (`vfioBugNeeds`), throws an Error saying why.
   */
  readonly vfioBugs?: readonly VfioBug[];
  /**
   * Hooks of the VFIO model over the v6.12 defaults (`soundVfioHooks`): a variant's decision at the
   * real code's decision points (the query ioctls' answers, …), as functions.
   */
  readonly hooks?: Partial<VfioHooks>;
  /** How freed frames are handed out again (default `lifo`: the last freed first, so reuse races happen). */
  readonly policy?: AllocPolicy;
  /**
   * The phased kinds generation preempts (default: every one the world has, `worldPhases`); the
   * others run whole. A design whose flaw is in one operation's window names that operation, so
   * that a sequence's few preemptions are not shared with windows it does not change.
   */
  readonly preempt?: readonly VfioCommandKind[];
}

/** A design of the VFIO model alone, with its configuration and its world's layout (device and group ids). */
export type VfioDesign = Design<VfioState, VfioCommand, VfioTemplate> & {
  readonly config: VfioConfig;
  readonly world: VfioWorldLayout;
};

/** The VFIO operations in flight, oldest first, as reports show them. */
export function vfioInflight(state: VfioState): InFlight[] {
  return state.inflight.map((op) => ({ actor: actorOfOp(op), kind: op.kind, phase: nextPhaseOf(op) }));
}

/** The stack a world makes: devices behind an IOMMU (or none), emulated devices, or both in one container. */
export function vfioStackOf(layout: VfioWorldLayout): 'passthrough' | 'mediated' | 'mixed' {
  const emulated = layout.mdevDevices.length + layout.ccwDevices.length > 0;
  if (!emulated) return 'passthrough';
  return layout.pciDevices.length > 0 ? 'mixed' : 'mediated';
}

/**
 * Reach labels: the lifecycle and query ones in every type1 world, the dma_unmap contract's with
 * emulated devices, the live update's without them.
 */
function vfioReach(world: VfioWorldLayout): Pick<VfioDesign, 'classify' | 'reach' | 'reachFloors'> {
  if (world.noiommu) return {};
  const withDomain = world.groups.some((group) => group.kind === 'iommu');
  const emulated = world.mdevDevices.length + world.ccwDevices.length > 0;
  const pfnmap = pfnmapReach(world.barPages > 0, world.driverBufferPages > 0);
  const reach = [
    ...(emulated ? mediatedReach(withDomain) : []),
    ...lifecycleReach,
    ...queryReach(emulated),
    ...pfnmap,
    // With an emulated group attached UNMAP_DMA VADDR is EBUSY: no live update to reach.
    ...(emulated ? [] : liveUpdateReach),
  ];
  return {
    reach,
    reachFloors: vfioReachFloors,
    classify: (transition) => [
      ...(emulated ? classifyMediatedStep(transition) : []),
      ...classifyLifecycleStep(transition),
      ...classifyQueryStep(transition),
      ...classifyLiveUpdateStep(transition),
      ...(pfnmap.length > 0 ? classifyPfnmapStep(transition) : []),
      ...(world.zeroPage ? classifyZeroPageStep(transition) : []),
    ],
  };
}

export function vfioDesign(options: VfioDesignOptions): VfioDesign {
  const world = vfioWorldLayout(options.world);
  const bugs = refuseIneffectiveBugs('vfioBugs', options.vfioBugs, vfioBugCatalogue, vfioWorldFeatures(world));
  const config: VfioConfig = options.hooks === undefined ? { bugs } : { bugs, hooks: options.hooks };
  const initial = initVfioWorld(world, config, options.policy);
  return {
    id: options.id,
    stack: vfioStackOf(world),
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    world,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateVfioCommand, (state, command) => stepVfio(state, config, command), noEffects),
    resolve: guardResolve(validateVfioTemplate, (state, template: VfioTemplate) => resolveVfio(state, world, template)),
    commands: vfioCommandSpace(world, options.preempt),
    invariants: vfioDesignInvariants(config),
    formatCommand: formatVfioCommand,
    validateCommand: validateVfioCommand,
    explainStep: explainVfioStep,
    explore: vfioExploreScope(world),
    actorOf: (state, command) => actorOfVfioCommand(state, command) ?? 'VMM',
    inflight: vfioInflight,
    holdings: vfioHoldings,
    ...vfioReach(world),
  };
}
