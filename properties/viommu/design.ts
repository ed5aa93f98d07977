/**
 * How a design of the vIOMMU stack is built: shadow or nested, the world, what the VMM does at its
 * two decision points (a trapped guest invalidation, a balloon request: hooks, the mode's built-in
 * ones by default), the deliberate bugs of the VMM, of VFIO or of the host IOMMU if any, and the
 * expected verdict — the same way a user writes a variant. The built-in designs (`designs.ts`) are
 * built with exactly this.
 */
import type { IommuBug, IommuStackFeature } from '../../models/iommu/config.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import type { VfioBug, VfioWorldFeature } from '../../models/vfio/config.js';
import { actorOfViommuCommand, nextInvalidationPhase } from '../../models/viommu/phased.js';
import { stepViommu } from '../../models/viommu/step.js';
import { noCosts, viommuModes, vmmBugNeeds, vmmBugs, vmmFeatureMissing } from '../../models/viommu/types.js';
import type {
  ViommuCommand,
  ViommuConfig,
  ViommuMode,
  ViommuState,
  VmmBug,
  VmmFeature,
} from '../../models/viommu/types.js';
import {
  completeWaitFirst,
  dropInvalidation,
  ignorePasidCache,
  syncPasidCacheWith,
  nestedVmm,
  replayMissingUnmaps,
  shadowVmm,
  refreshKeepingNoDmar,
  skipSameDid,
  syncAddressSpaceWith,
  refreshAddressSpacesWith,
  syncKeepingShadowOnClear,
} from '../../models/viommu/vmm-hooks.js';
import type {
  BalloonHandler,
  ContextHandler,
  InvalidationHandler,
  PasidCacheHandler,
  TranslationHandler,
  VmmHooks,
} from '../../models/viommu/vmm-hooks.js';
import type { Design, Expectation } from '../../src/design.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import type { BugCatalogue, WorldFeatures } from '../generic/bug-flags.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { iommuBugCatalogue } from '../passthrough/design.js';
import { vfioBugCatalogue } from '../vfio/design.js';
import { explainViommuStep } from './explain.js';
import { viommuExploreScope, viommuPasidExploreScope } from './explore-scope.js';
import { formatViommuCommand, validateViommuCommand, validateViommuTemplate } from './format.js';
import { viommuCommandSpace } from './generators.js';
import { viommuDesignInvariants } from './invariants.js';
import { classifyViommuStep, viommuReach, viommuReachFloors } from './reach.js';
import { resolveViommuTemplate } from './resolve.js';
import type { PickUniverse, ViommuTemplate } from './resolve.js';
import { initViommuWorld, viommuWorldLayout } from './world.js';
import type { ViommuWorldDescription, ViommuWorldLayout } from './world.js';

export const VIOMMU_STACK = 'vIOMMU';

/** A refused command's result: no device access, nothing trapped. */
const nothing = { accesses: [], costs: noCosts };

/** The VMM's bugs and what each needs of a design, for the factories' refusals. */
export const vmmBugCatalogue: BugCatalogue<VmmBug, VmmFeature> = {
  model: 'the vIOMMU VMM',
  bugs: vmmBugs,
  needs: vmmBugNeeds,
  missing: vmmFeatureMissing,
};

/** What the picks of the generators fall back to in `world`. */
export function viommuPickUniverse(world: ViommuWorldLayout): PickUniverse {
  return { giovaPages: world.giovaPages, ramPages: world.ramPages };
}

/** The VMM of a design: its two decision points, as hooks (`models/viommu/vmm-hooks.ts`). */
export interface ViommuVmmOptions {
  /**
   * What the VMM does with a guest invalidation of its domain it trapped: a function of the trap
   * (the state, the invalidated GIOVA range, what the VMM has mapped) returning the requests it
   * makes of the host in order (`VmmRequest`: MAP_DMA, UNMAP_DMA, IOMMU_HWPT_INVALIDATE, …), each
   * carried out on its own. Default: the mode's, `replayGuestTable` (shadow: unmap what changed,
   * map what is new, at IOVA = GIOVA) or `forwardToNestedDomain` (nested). It must not modify
   * what it is given.
   */
  readonly invalidation?: InvalidationHandler;
  /**
   * What the VMM does with a balloon request (a GPA page going out or coming back in): the
   * requests it makes, carried out all or nothing. Default: the mode's, `shadowBalloon` (discard,
   * or fault in) or `nestedBalloon` (also unmap from, or map into, stage 2). It must not modify
   * what it is given.
   */
  readonly balloon?: BalloonHandler;
  /**
   * What the VMM does with a context-cache invalidation (the guest detached the device or attached
   * it to another domain): the requests it makes, each on its own. Default: the mode's,
   * `syncAddressSpace` (shadow: unmap everything when the context entry is cleared, else replay the
   * whole table) or `flushNestedOnRebind` (nested: flush the cached first-level translations). It
   * must not modify what it is given.
   */
  readonly context?: ContextHandler;
  /**
   * What the VMM does when the guest turns DMA remapping off or on (GCMD.TE): the requests it
   * makes, each on its own. Default: the mode's, `refreshAddressSpaces` (shadow: unmap the shadow,
   * then map all RAM at IOVA = GPA, or replay the table) or `flushNestedOnSwitch` (nested). It must
   * not modify what it is given.
   */
  readonly translation?: TranslationHandler;
  /**
   * Scalable mode: what the VMM does with a PASID-cache invalidation (a function of the trap: the
   * descriptor, the VMM's cached RID_PASID entry, what it has mapped) returning its PASID cache
   * afterwards and the requests it makes, each on its own. Default: `syncPasidCache` (QEMU
   * v10.2.0's `vtd_pasid_cache_sync_locked`, unmapping an entry that is no longer valid whether or
   * not it was cached). It must not modify what it is given.
   */
  readonly pasidCache?: PasidCacheHandler;
}

/** The deliberate bugs a vIOMMU design may carry. */
export interface ViommuBugOptions {
  /**
   * Bugs of the VMM (`vmmBugs`), each a flawed twin of the mode's built-in invalidation handler:
   * `shadow-misses-unmap` (shadow only), `nested-drops-invalidation` (nested only). A bug of the
   * other mode, or one on a design that supplies its own `invalidation`, throws.
   */
  readonly vmmBugs?: readonly VmmBug[];
  /** Bugs of the VFIO model (`vfioBugs`); one this world's container never reaches (an mdev's) throws. */
  readonly vfioBugs?: readonly VfioBug[];
  /**
   * Bugs of the VT-d model (`iommuBugs`); one the host IOMMU never reaches here (a flush queue,
   * caching mode, superpages; a nested-domain bug in shadow mode) throws.
   */
  readonly iommuBugs?: readonly IommuBug[];
}

/** What `viommuDesign` takes. */
export interface ViommuDesignOptions extends ViommuVmmOptions, ViommuBugOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /**
   * `shadow`: the vIOMMU reports caching mode, the guest invalidates after every map and unmap,
   * and the VMM maps what the guest's table says through VFIO at IOVA = GIOVA. `nested`: guest RAM
   * is mapped once at IOVA = GPA (stage 2) and the guest's table is the first level of a nested
   * domain the device is attached to. It selects the world's setup, the guest driver's
   * invalidations and the default VMM hooks.
   */
  readonly mode: ViommuMode;
  /**
   * The guest runs its vIOMMU in scalable mode (QEMU `x-scalable-mode=on`; shadow mode only): the
   * device's domain is named by its RID_PASID entry, which the guest clears and sets up
   * (`guestClearPasid`, `guestSetupPasid`) and invalidates with PASID-cache and PASID-based IOTLB
   * invalidations (`models/viommu/pasid.ts`). Default false (legacy mode: context entries).
   */
  readonly scalable?: boolean;
  /** The world: frames, guest RAM, the other VM, RLIMIT_MEMLOCK, dma_entry_limit, GIOVA pages, IOTLB size; today's by default. */
  readonly world?: ViommuWorldDescription;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `viommuDesignInvariants`). */
  readonly breaks?: readonly string[];
  /** How freed frames are handed out again (default `lifo`: the last freed first, so reuse races happen). */
  readonly policy?: AllocPolicy;
}

export type ViommuDesign = Design<ViommuState, ViommuCommand, ViommuTemplate> & {
  readonly config: ViommuConfig;
  readonly world: ViommuWorldLayout;
};

/** What the VMM of a design has that a VMM bug needs. */
function vmmFeatures(
  mode: ViommuMode,
  scalable: boolean,
  ownInvalidation: boolean,
  ownContext: boolean,
  ownTranslation: boolean,
  ownPasidCache: boolean,
): WorldFeatures<VmmFeature> {
  const has = new Set<VmmFeature>([mode === 'shadow' ? 'shadow-mode' : 'nested-mode', 'device-lifecycle']);
  if (!ownInvalidation) has.add('builtin-invalidation');
  if (!ownContext) has.add('builtin-context');
  if (!ownTranslation) has.add('builtin-translation');
  if (scalable) has.add('scalable-mode');
  if (!ownPasidCache) has.add('builtin-pasid-cache');
  const own = ownInvalidation || ownContext || ownTranslation || ownPasidCache;
  return { name: own ? `the ${mode} design` : `the ${mode} VMM`, has };
}

/**
 * What the container has that a VFIO bug needs: one IOMMU-backed group with the assigned device,
 * no emulated device. The built-in VMMs map one page per MAP_DMA: shadow at most one mapping per
 * GIOVA page, nested one per RAM page (which its world must allow); a VMM of the design's own may
 * map as many pages as dma_entry_limit allows.
 */
function viommuVfioFeatures(
  mode: ViommuMode,
  world: ViommuWorldLayout,
  ownHooks: boolean,
): WorldFeatures<VfioWorldFeature> {
  const has = new Set<VfioWorldFeature>(['type1-container', 'iommu-group']);
  const builtinMost = mode === 'shadow' ? Math.min(world.giovaPages, world.dmaEntryLimit) : world.ramPages;
  if (world.memlockLimitPages < (ownHooks ? world.dmaEntryLimit : builtinMost)) has.add('memlock-limit-reachable');
  return { name: `the ${mode} vIOMMU's container`, has };
}

/**
 * What the host IOMMU does in a design: strict unmaps flush page ranges; a nested domain in nested
 * mode. No flush queue, no caching mode (the guest's vIOMMU is the emulated one), no superpage
 * (every MAP_DMA is one page). An unmap spans two leaf tables only past GIOVA page 512, or for a
 * VMM of the design's own; a map meets a present leaf only when VFIO skips its overlap search.
 */
function viommuIommuFeatures(
  mode: ViommuMode,
  world: ViommuWorldLayout,
  ownHooks: boolean,
  vfioBugs: readonly VfioBug[],
): WorldFeatures<IommuStackFeature> {
  const has = new Set<IommuStackFeature>(['strict-invalidation', 'page-selective-invalidation']);
  if (mode === 'nested') has.add('nested-domain');
  if (ownHooks || (mode === 'shadow' && world.giovaPages > 512)) has.add('unmap-across-leaf-tables');
  if (vfioBugs.includes('overlap-not-checked')) has.add('map-over-present');
  return { name: `the ${mode} vIOMMU's host`, has };
}

/**
 * A vIOMMU configuration: the mode, its VMM (the design's hooks over the mode's built-in ones, a
 * VMM bug's flawed handler in place of the built-in one) and the host's bugs. Throws an Error
 * saying why when a bug is unknown or cannot take effect in `world`.
 */
export function viommuConfig(
  mode: ViommuMode,
  options: ViommuVmmOptions & ViommuBugOptions & { readonly scalable?: boolean } = {},
  world: ViommuWorldLayout = viommuWorldLayout(mode),
): ViommuConfig {
  if (!viommuModes.includes(mode)) {
    throw new Error(`mode: expected one of ${viommuModes.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const scalable = options.scalable ?? false;
  if (typeof scalable !== 'boolean') throw new Error(`scalable: expected a boolean, got ${JSON.stringify(scalable)}`);
  // QEMU refuses a VFIO device under first-stage translation (`vtd_check_hiod`), and the model's
  // nested VMM binds a legacy-mode guest table: scalable mode is the shadow VMM's.
  if (scalable && mode !== 'shadow') {
    throw new Error('scalable: the scalable-mode guest is modelled over the shadow (caching-mode) VMM only');
  }
  for (const [name, hook] of [
    ['invalidation', options.invalidation],
    ['balloon', options.balloon],
    ['context', options.context],
    ['translation', options.translation],
    ['pasidCache', options.pasidCache],
  ] as const) {
    if (hook !== undefined && typeof hook !== 'function') {
      throw new Error(`${name}: expected a function (the VMM's handler), got ${JSON.stringify(hook)}`);
    }
  }
  const ownHooks =
    options.invalidation !== undefined ||
    options.balloon !== undefined ||
    options.context !== undefined ||
    options.translation !== undefined ||
    options.pasidCache !== undefined;
  const bugs = refuseIneffectiveBugs(
    'vmmBugs',
    options.vmmBugs,
    vmmBugCatalogue,
    vmmFeatures(
      mode,
      scalable,
      options.invalidation !== undefined,
      options.context !== undefined,
      options.translation !== undefined,
      options.pasidCache !== undefined,
    ),
  );
  const vfioBugs = refuseIneffectiveBugs(
    'vfioBugs',
    options.vfioBugs,
    vfioBugCatalogue,
    viommuVfioFeatures(mode, world, ownHooks),
  );
  const iommuBugs = refuseIneffectiveBugs(
    'iommuBugs',
    options.iommuBugs,
    iommuBugCatalogue,
    viommuIommuFeatures(mode, world, ownHooks, vfioBugs),
  );
  const builtin = mode === 'shadow' ? shadowVmm : nestedVmm;
  const handler = bugs.includes('shadow-misses-unmap')
    ? replayMissingUnmaps
    : bugs.includes('nested-drops-invalidation')
      ? dropInvalidation
      : builtin.invalidation;
  const flawed = bugs.includes('shadow-completes-wait-before-unmap') ? completeWaitFirst(handler) : handler;
  // A shadow VMM with its own invalidation handler replays with it on a context resync and a TE
  // switch too: QEMU reaches VFIO through the one shadow sync for all three.
  const ownReplay = mode === 'shadow' ? options.invalidation : undefined;
  const builtinContext = ownReplay === undefined ? builtin.context : syncAddressSpaceWith(ownReplay);
  const builtinTranslation = ownReplay === undefined ? builtin.translation : refreshAddressSpacesWith(ownReplay);
  const clearKeeps = bugs.includes('shadow-context-clear-keeps-shadow') ? syncKeepingShadowOnClear : builtinContext;
  const context = bugs.includes('context-sync-skips-same-did') ? skipSameDid(clearKeeps) : clearKeeps;
  // The PASID-cache sync replays through the design's own invalidation handler as well (QEMU's
  // `vtd_address_space_sync`); `pasid-invalid-unmap-needs-cache` keeps QEMU v10.2.0's gate.
  const pasidCache = bugs.includes('pasid-cache-ignored')
    ? ignorePasidCache
    : syncPasidCacheWith(ownReplay ?? builtin.invalidation, !bugs.includes('pasid-invalid-unmap-needs-cache'));
  const vmm: VmmHooks = {
    invalidation: options.invalidation ?? flawed,
    balloon: options.balloon ?? builtin.balloon,
    context: options.context ?? context,
    translation:
      options.translation ?? (bugs.includes('shadow-te-on-keeps-no-dmar') ? refreshKeepingNoDmar : builtinTranslation),
    pasidCache: options.pasidCache ?? (mode === 'shadow' ? pasidCache : builtin.pasidCache),
  };
  return {
    mode,
    scalable,
    vmm,
    vmmBugs: bugs,
    host: { mode: 'strict', vfio: { bugs: vfioBugs }, iommu: { bugs: iommuBugs } },
  };
}

export function viommuDesign(options: ViommuDesignOptions): ViommuDesign {
  const world = viommuWorldLayout(options.mode, options.world);
  const config = viommuConfig(options.mode, options, world);
  const initial = initViommuWorld(config, options.policy, world);
  const universe = viommuPickUniverse(world);
  return {
    id: options.id,
    stack: VIOMMU_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    world,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateViommuCommand, (state, command) => stepViommu(state, config, command), nothing),
    resolve: guardResolve(validateViommuTemplate, (state, template: ViommuTemplate) =>
      resolveViommuTemplate(state, universe, template),
    ),
    commands: viommuCommandSpace(world, config.scalable),
    invariants: viommuDesignInvariants(config),
    // Counterexamples take at most 8 steps: sequences of up to 60 commands find every one within a
    // default run's thousand sequences, at 60% of the cost of the harness's 100.
    generation: { maxCommands: 60 },
    formatCommand: formatViommuCommand,
    validateCommand: validateViommuCommand,
    explainStep: explainViommuStep,
    classify: classifyViommuStep,
    reach: viommuReach(options.mode, config.scalable),
    reachFloors: viommuReachFloors,
    explore: config.scalable ? viommuPasidExploreScope : viommuExploreScope,
    actorOf: actorOfViommuCommand,
    inflight: (state) =>
      state.inflight.map((op) => ({ actor: 'VMM', kind: op.kind, phase: nextInvalidationPhase(state, op) })),
  };
}
