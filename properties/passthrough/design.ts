/**
 * How a design of the passthrough stack over VT-d is built: the world (a VFIO world with at least
 * one IOMMU-backed group), the IOMMU's invalidation mode, the deliberate bugs of either model if
 * any, and the expected verdict — the same way a user writes a variant. The built-in designs
 * (`designs.ts`) are built with exactly this.
 */
import { iommuBugNeeds, iommuBugs, iommuFeatureMissing } from '../../models/iommu/config.js';
import type { IommuBug, IommuStackFeature } from '../../models/iommu/config.js';
import type { WriteBackHook } from '../../models/iommu/coherency.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { stepPassthrough } from '../../models/passthrough/step.js';
import { soundLifecycle } from '../../models/passthrough/lifecycle.js';
import { soundPasid } from '../../models/passthrough/pasid.js';
import type {
  InvalidationMode,
  PassthroughCommand,
  PassthroughKdump,
  PassthroughLifecycle,
  PassthroughPasid,
  PassthroughConfig,
  PassthroughState,
} from '../../models/passthrough/types.js';
import { invalidationModes } from '../../models/passthrough/types.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import type { BugCatalogue, WorldFeatures } from '../generic/bug-flags.js';
import type { Design, Expectation } from '../../src/design.js';
import { vfioHoldings } from '../../models/vfio/inflight.js';
import { passthroughActorOf } from '../../models/passthrough/step.js';
import { vfioBugCatalogue, vfioInflight } from '../vfio/design.js';
import { vfioWorldFeatures } from '../vfio/world.js';
import type { VfioWorld, VfioWorldLayout } from '../vfio/world.js';
import { explainPassthroughStep } from './explain.js';
import { passthroughExploreScope } from './explore-scope.js';
import { formatPassthroughCommand, validatePassthroughCommand, validatePassthroughTemplate } from './format.js';
import { passthroughCommandSpace, passthroughPickUniverse } from './generators.js';
import { passthroughDesignInvariants } from './invariants/index.js';
import {
  classifyPassthroughStep,
  classifyPassthroughWithDrivers,
  passthroughReach,
  passthroughKdumpReachFloors,
  passthroughReachFloors,
} from './reach.js';
import { resolvePassthrough } from './resolve.js';
import type { PassthroughTemplate } from './resolve.js';
import { initPassthroughWorld, passthroughWorldLayout } from './world.js';

/** A refused command's result: nothing translated, no device access. */
const noEffects = { effects: [], accesses: [] };

/** The VT-d model's bugs and what each needs of the stack above it, for the factories' refusals. */
export const iommuBugCatalogue: BugCatalogue<IommuBug, IommuStackFeature> = {
  model: 'the VT-d model',
  bugs: iommuBugs,
  needs: iommuBugNeeds,
  missing: iommuFeatureMissing,
};

/** What `passthroughDesign` takes. */
export interface PassthroughDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /**
   * How the IOMMU domains VFIO allocates invalidate on unmap: `strict` (the IOTLB is flushed before
   * the unmap returns, then VFIO unpins), `lazy` (a flush queue, VFIO unpins at once) or
   * `lazy-held` (a flush queue, each unmapped frame held until its flush).
   */
  readonly mode: InvalidationMode;
  /**
   * The container and the guest's memory (default `passthrough`): a preset or a described VFIO
   * world with at least one IOMMU-backed group; emulated groups may share the container (`mixed`).
   * Its vfio-pci devices DMA through the VT-d model.
   */
  readonly world?: VfioWorld;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `passthroughDesignInvariants`). */
  readonly breaks?: readonly string[];
  /** Deliberate bugs of the VFIO model (`vfioBugs`); one the world cannot show throws. */
  readonly vfioBugs?: readonly VfioBug[];
  /**
   * Deliberate bugs of the VT-d model (`iommuBugs`); one this stack never reaches (a strict-mode bug
   * in a lazy mode, caching mode, nested domains, superpages) throws an Error saying why.
   */
  readonly iommuBugs?: readonly IommuBug[];
  /** How freed frames are handed out again (default `lifo`). */
  readonly policy?: AllocPolicy;
  /**
   * The IOMMU side of the group lifecycle (docs/reference/vtd.md §3.10): `blockTranslation`, what the
   * VT-d driver does to a device's context entry when VFIO detaches its group (default
   * `blockTranslation`, v6.12's `device_block_translation`). A user's variant is a function.
   */
  readonly lifecycle?: PassthroughLifecycle;
  /**
   * PASID attachment (docs/reference/vtd.md §3.11): `tearDown`, what the VT-d driver does to the
   * IOMMU when a device's PASID is detached (default `tearDownPasid`, v6.12's
   * `intel_pasid_tear_down_entry`). A user's variant is a function.
   */
  readonly pasid?: PassthroughPasid;
  /**
   * `ecap.C` (docs/reference/vtd.md §3.13): the IOMMU's page walks snoop the CPU's caches (default
   * true). False: a PTE write reaches the IOMMU only once written back (`domain_flush_cache`).
   */
  readonly coherentWalks?: boolean;
  /**
   * Without coherent walks: which PTEs a map or unmap path writes back, given those it wrote
   * (default all, `writeBackAll`). A user's variant is a function.
   */
  readonly writeBack?: WriteBackHook;
  /**
   * An IOMMU with first-level translation only in scalable mode (`ecap.FLTS` without `ecap.SLTS`,
   * docs/reference/vtd.md §3.12): VFIO's domains are first-level (`first_level_by_default`), their
   * entries PGTT 1, their IOTLB entries flushed by PASID-based invalidations per cache tag. Default
   * false: second-level domains.
   */
  readonly firstLevelOnly?: boolean;
  /**
   * The IOMMU's context cache (docs/reference/vtd.md §3.13.1, `models/iommu/context-cache.ts`): its
   * capacity in entries. With it, VFIO_GROUP_UNSET_CONTAINER is also started phased, so that the
   * device's DMA runs between type1's `iommu_detach_group` and the rest of its detach. Default
   * none: a context entry's change takes effect at once, the ioctl is one step.
   */
  readonly contextCacheEntries?: number;
  /**
   * A kdump kernel (docs/reference/vtd.md §3.14, `models/passthrough/kdump.ts`): the devices' context
   * entries copied from the crashed kernel, whose domain maps the other VM's frames, and `tearDown`,
   * how the probe's attach tears such an entry down (`copiedContextTearDown`, c1e4f1dccbe9d's order,
   * for a sound design). The world starts at the attach's window, before VFIO takes any group.
   * A user's variant is a function. Default none.
   */
  readonly kdump?: PassthroughKdump;
}

/** A design of VFIO over VT-d, with its configuration and its world's layout (device and group ids). */
export type PassthroughDesign = Design<PassthroughState, PassthroughCommand, PassthroughTemplate> & {
  readonly config: PassthroughConfig;
  readonly world: VfioWorldLayout;
};

/**
 * What the passthrough stack makes the IOMMU do in a mode: strict domains flush page ranges on
 * unmap, lazy ones queue; any unmap may span the leaf-table boundary the IOVAs straddle; a map
 * meets a present leaf only when VFIO skips its overlap search. No caching mode, no nested
 * domain, and no partial superpage unmap (VFIO unmaps whole mappings, and a superpage lies inside
 * one).
 */
export function passthroughIommuFeatures(
  mode: InvalidationMode,
  vfioBugs: readonly VfioBug[],
  name: string,
): WorldFeatures<IommuStackFeature> {
  const has = new Set<IommuStackFeature>(['unmap-across-leaf-tables']);
  if (mode === 'strict') {
    has.add('strict-invalidation');
    has.add('page-selective-invalidation');
  } else has.add('flush-queue');
  if (vfioBugs.includes('overlap-not-checked')) has.add('map-over-present');
  return { name: `${name} over VT-d in ${mode} mode`, has };
}

export function passthroughDesign(options: PassthroughDesignOptions): PassthroughDesign {
  if (!invalidationModes.includes(options.mode)) {
    throw new Error(`mode: expected one of ${invalidationModes.join(', ')}, got ${JSON.stringify(options.mode)}`);
  }
  const world = passthroughWorldLayout(options.world ?? 'passthrough');
  const vfioBugs = refuseIneffectiveBugs('vfioBugs', options.vfioBugs, vfioBugCatalogue, vfioWorldFeatures(world));
  const iommuBugs = refuseIneffectiveBugs(
    'iommuBugs',
    options.iommuBugs,
    iommuBugCatalogue,
    passthroughIommuFeatures(options.mode, vfioBugs, world.name),
  );
  const config: PassthroughConfig = {
    mode: options.mode,
    vfio: { bugs: vfioBugs },
    iommu: options.writeBack === undefined ? { bugs: iommuBugs } : { bugs: iommuBugs, writeBack: options.writeBack },
    lifecycle: options.lifecycle ?? soundLifecycle,
    pasid: options.pasid ?? soundPasid,
    ...(options.kdump === undefined ? {} : { kdump: options.kdump }),
  };
  const caps = {
    ...(options.coherentWalks === false ? { coherentWalks: false } : {}),
    ...(options.firstLevelOnly === true ? { firstLevelTranslation: true, secondLevelTranslation: false } : {}),
    ...((options.contextCacheEntries ?? 0) > 0 ? { contextCacheEntries: options.contextCacheEntries } : {}),
  };
  const initial = initPassthroughWorld(config, options.policy, world, caps);
  const universe = passthroughPickUniverse(world);
  const withFlushQueue = options.mode !== 'strict';
  const emulated = world.mdevDevices.length + world.ccwDevices.length > 0;
  return {
    id: options.id,
    stack: 'passthrough',
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    world,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validatePassthroughCommand, (state, command) => stepPassthrough(state, config, command), noEffects),
    resolve: guardResolve(validatePassthroughTemplate, (state, template: PassthroughTemplate) =>
      resolvePassthrough(state, world, universe, template),
    ),
    commands: passthroughCommandSpace(
      world,
      withFlushQueue,
      (options.contextCacheEntries ?? 0) > 0,
      options.firstLevelOnly === true,
      options.kdump !== undefined,
    ),
    invariants: passthroughDesignInvariants(config),
    formatCommand: formatPassthroughCommand,
    validateCommand: validatePassthroughCommand,
    explainStep: explainPassthroughStep,
    explore: passthroughExploreScope(world, withFlushQueue, {
      pasids: options.firstLevelOnly === true,
      detachWindow: (options.contextCacheEntries ?? 0) > 0,
      kdump: options.kdump !== undefined,
    }),
    classify: emulated ? classifyPassthroughWithDrivers : classifyPassthroughStep,
    actorOf: (state, command) => passthroughActorOf(state, command) ?? 'VMM',
    inflight: (state) => vfioInflight(state.vfio),
    holdings: (state) => vfioHoldings(state.vfio),
    reach: passthroughReach(
      withFlushQueue,
      emulated,
      options.coherentWalks === false,
      options.firstLevelOnly === true,
      (options.contextCacheEntries ?? 0) > 0,
      options.kdump !== undefined,
    ),
    reachFloors: options.kdump === undefined ? passthroughReachFloors : passthroughKdumpReachFloors,
  };
}
