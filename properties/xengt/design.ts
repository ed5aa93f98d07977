/**
 * How a XenGT design is built: a world, the backend (a hook, or the name of a built-in one), the
 * mediator's choices, deliberate bugs, and the expected verdict. The built-in designs
 * (`designs.ts`) and mutants are made with this, exactly as a user would make a variant.
 */
import { gvtFeatures } from '../../models/gvt/config.js';
import type { GvtBug, GvtConfig, GvtHooks } from '../../models/gvt/config.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { xenBugs } from '../../models/xen/config.js';
import type { DomainLifecycle, GuestRemovePageUnwind, XenBug } from '../../models/xen/config.js';
import type { DomainTeardownOrdering } from '../../models/xen/destroy.js';
import type { GrantMapOrdering } from '../../models/xen/grant-table.js';
import type { XenGtBackend, XenGtBackendName } from '../../models/xengt/backend.js';
import type { XenGtCommand, XenGtCommandKind } from '../../models/xengt/commands.js';
import {
  xenGtBackendFeatures,
  xenGtBugNeeds,
  xenGtBugs,
  xenGtConfig,
  xenGtFeatureMissing,
} from '../../models/xengt/config.js';
import type {
  VgpuLifecycle,
  XenGtBug,
  XenGtConfig,
  XenGtFeature,
  XenGtWorldDescription,
} from '../../models/xengt/config.js';
import { initXenGt, stepXenGt } from '../../models/xengt/step.js';
import type { XenGtState } from '../../models/xengt/types.js';
import { xenBugNeeds, xenFeatureMissing, xenWorldFeatures } from '../../models/xengt/xen-bug-needs.js';
import type { XenWorldFeature } from '../../models/xengt/xen-bug-needs.js';
import type { Design, Expectation } from '../../src/design.js';
import type { GenerationOptions } from '../../src/generate.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import type { BugCatalogue } from '../generic/bug-flags.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { gvtBugCatalogue } from '../gvt/bug-catalogue.js';
import { xenGtActorOf, xenGtHoldings, xenGtInflight } from './actors.js';
import { explainXenGtStep } from './explain.js';
import { xenGtExploreScope } from './explore-scope.js';
import { withXenGtFootprint } from './footprint.js';
import { formatXenGtCommand } from './format.js';
import { defaultPreempted, xenGtCommandSpace } from './generators.js';
import type { XenGtCommandSet } from './generators.js';
import { xenGtInvariants } from './invariants/index.js';
import { classifyXenGtStep, xenGtReach, xenGtReachFloors } from './reach.js';
import { resolveXenGt } from './resolve.js';
import type { XenGtTemplate } from './resolve.js';
import { validateXenGtCommand, validateXenGtTemplate } from './schema.js';
import { xenGtUniverse } from './universe.js';

export const XENGT_STACK = 'XenGT';

/** A refused command's result: the GPU accessed nothing. */
const noAccesses = { accesses: [] };

/** The XenGT backend's bugs and what each needs, for the factory's refusals. */
export const xenGtBugCatalogue: BugCatalogue<XenGtBug, XenGtFeature> = {
  model: 'the XenGT backend',
  bugs: xenGtBugs,
  needs: xenGtBugNeeds,
  missing: xenGtFeatureMissing,
};

/** The Xen model's bugs and what each needs of a XenGT world. */
export const xenBugCatalogue: BugCatalogue<XenBug, XenWorldFeature> = {
  model: 'the Xen model',
  bugs: xenBugs,
  needs: xenBugNeeds,
  missing: xenFeatureMissing,
};

/** What `xenGtDesign` takes. */
export interface XenGtDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `xenGtInvariants`). */
  readonly breaks?: readonly string[];
  /**
   * How the backend turns a guest gfn into a DMA address for the GPU, and releases it: `map` (the
   * guest page mapped into the backend's p2m with a page reference, `xenGtMapBackend`), `lookup`
   * (XENMEM_get_mfn_from_pfn, the raw mfn without a reference, `xenGtLookupBackend`), or a
   * `XenGtBackend` of the design's own: `{ name, addressing, map, unmap }`, whose `map` and
   * `unmap` return the hypercalls the backend makes. They must not modify what they are given.
   */
  readonly backend: XenGtBackendName | XenGtBackend;
  /**
   * The world: frames, domains and their RAM, which are the backend and the guest, grant entries,
   * maptrack handles, the backend's mapping pool, the GGTT partition. Today's by default; a world
   * that cannot be built throws an Error saying why.
   */
  readonly world?: XenGtWorldDescription;
  /** How freed frames are handed out again (default `lifo`: the last freed first, so reuse races happen). */
  readonly policy?: AllocPolicy;
  /** The seed of the `random` policy (default `dmaprop`). */
  readonly randomSeed?: string;
  /**
   * The mediator write-protects every guest page it shadows as a page table, through the
   * backend's ioreq server (default `true`; `false` is the flawed choice of `gvt/no-write-protect`).
   */
  readonly writeProtect?: boolean;
  /**
   * `shadow-copy` (default): the scanner audits a host copy of a batch buffer and the GPU runs the
   * copy; `scan-in-place`: both use the guest's buffer, which it may rewrite in between.
   */
  readonly cmdbuf?: GvtConfig['cmdbuf'];
  /** The commands generated: the full set (default), or `xen`, the Xen side only (the explore scope's space). */
  readonly commands?: XenGtCommandSet;
  /** How sequences are generated, where the defaults do not suit the design (`GenerationOptions`). */
  readonly generation?: Partial<GenerationOptions>;
  /**
   * The phased kinds generation preempts (`defaultPreempted`: the GGTT write, the GPU's access, the
   * grant unmap and the balloon-out; with a `grantMap` hook also the grant map, with a `teardown`
   * hook the domain's destruction). Any kind in `xenGtPhases`; the others run whole when generated.
   */
  readonly preempt?: readonly XenGtCommandKind[];
  /**
   * Deliberate bugs of the backend (`xenGtBugs`), applied to whichever backend the design has:
   * `map-takes-no-ref` needs one that maps guest pages into its p2m (not `lookup`),
   * `vgpu-destroy-skips-unmap` one that releases something. Otherwise, or for an unknown name, throws.
   */
  readonly bugs?: readonly XenGtBug[];
  /** Deliberate bugs of the Xen model (`xenBugs`); a grant-table bug in a world without grants throws. */
  readonly xenBugs?: readonly XenBug[];
  /**
   * How Xen's `map_grant_ref` decides around the window where it holds no lock (a phased map):
   * whether the first pin takes the page reference, whether phase 2 maps a page that is no longer
   * the granter's, what the unwind leaves in the pin counters. Xen's (`soundGrantMap`) by default.
   */
  readonly grantMap?: GrantMapOrdering;
  /**
   * The order of domain teardown's stages around `domain_kill`'s continuation (a phased destroy):
   * Xen's (`soundTeardown`: the grant mappings released, then the p2m and memory) by default.
   */
  readonly teardown?: DomainTeardownOrdering;
  /**
   * When a destroyed domain is gone and its domid free for XEN_DOMCTL_createdomain: Xen's
   * (`soundLifecycle`: once it owns no page, the tot_pages reference gone) by default.
   */
  readonly domainLifecycle?: DomainLifecycle;
  /**
   * What `guest_remove_page` does when the p2m removal fails: Xen's (`soundGuestRemovePage`: the
   * gfn and its allocation reference stay, the error returned) by default.
   */
  readonly guestRemovePage?: GuestRemovePageUnwind;
  /**
   * Whether the vGPU's destroy and create reset its GGTT ranges to scratch (`intel_vgpu_reset_ggtt`),
   * whose host entries the hardware keeps: both do by default (`false`: the flawed choice).
   */
  readonly vgpuLifecycle?: VgpuLifecycle;
  /**
   * Deliberate bugs of the GVT-g mediator (`gvtBugs`); one the design never reaches (a page-table
   * bug without write protection or on the Xen side's commands, a scanner bug without batch
   * buffers) throws.
   */
  readonly gvtBugs?: readonly GvtBug[];
  /**
   * The GVT-g mediator's decision points, as functions of the design's own (`GvtHooks`): v6.12's
   * (`soundGvtHooks`) for any left out.
   */
  readonly gvtHooks?: Partial<GvtHooks>;
}

export type XenGtDesign = Design<XenGtState, XenGtCommand, XenGtTemplate> & { readonly config: XenGtConfig };

/** Throws an Error saying why when a bug is unknown or cannot take effect in the design. */
function refuseBugs(options: XenGtDesignOptions, config: XenGtConfig, commands: XenGtCommandSet): void {
  const backendName = typeof options.backend === 'string' ? `the ${options.backend} backend` : "the design's backend";
  refuseIneffectiveBugs('bugs', options.bugs, xenGtBugCatalogue, {
    name: backendName,
    has: xenGtBackendFeatures(options.backend),
  });
  refuseIneffectiveBugs('xenBugs', options.xenBugs, xenBugCatalogue, {
    name: 'the XenGT world',
    has: xenWorldFeatures(config.world),
  });
  const full = commands === 'full';
  refuseIneffectiveBugs('gvtBugs', options.gvtBugs, gvtBugCatalogue, {
    name: full ? 'the XenGT design' : 'the XenGT design on the Xen side only',
    has: gvtFeatures(config.gvt, { ppgtt: full, batchBuffers: full }),
  });
}

/** The phased kinds the design's generation preempts: its own list, else the default and the windows of its hooks. */
function preemptedKinds(options: XenGtDesignOptions): readonly XenGtCommandKind[] {
  if (options.preempt !== undefined) return options.preempt;
  return [
    ...defaultPreempted,
    ...(options.grantMap === undefined ? [] : (['mapGrantRef'] as const)),
    ...(options.teardown === undefined ? [] : (['destroyDomain'] as const)),
  ];
}

export function xenGtDesign(options: XenGtDesignOptions): XenGtDesign {
  const commands = options.commands ?? 'full';
  if (commands !== 'full' && commands !== 'xen') {
    throw new Error(`commands: expected 'full' or 'xen', got ${JSON.stringify(commands)}`);
  }
  const config = xenGtConfig(options);
  refuseBugs(options, config, commands);
  const universe = xenGtUniverse(config);
  return {
    id: options.id,
    stack: XENGT_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    ...(options.generation === undefined ? {} : { generation: options.generation }),
    config,
    init: () => initXenGt(config),
    step: guardStep(validateXenGtCommand, (state, command) => stepXenGt(state, config, command), noAccesses),
    resolve: guardResolve(validateXenGtTemplate, (state, template) => resolveXenGt(state, config, universe, template)),
    commands: xenGtCommandSpace(config, universe, commands, preemptedKinds(options)),
    invariants: xenGtInvariants(config),
    formatCommand: formatXenGtCommand,
    validateCommand: validateXenGtCommand,
    explainStep: (transition) => explainXenGtStep(config, transition),
    // A built-in backend treats frames as identities, and the explorer may rename them.
    explore: withXenGtFootprint(
      xenGtExploreScope(config, universe, typeof options.backend === 'string'),
      config,
      typeof options.backend === 'string',
    ),
    // Xen's memory and domains (copy-on-write: the same objects unless a step changed them), the
    // mediator's parts and the operations in flight: every invariant's reads lie within them.
    parts: (state) => [
      state.xen.memory,
      state.xen.domains,
      state.vgpu,
      state.guestPages,
      state.writeProtected,
      state.inflight,
    ],
    actorOf: (state, command) => xenGtActorOf(config, state, command),
    classify: (transition) => classifyXenGtStep(config, transition),
    reach: xenGtReach,
    reachFloors: xenGtReachFloors,
    inflight: (state) => xenGtInflight(config, state),
    holdings: (state) => xenGtHoldings(config, state),
  };
}
