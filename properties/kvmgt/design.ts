/**
 * How a KVMGT design is built: the world, the mediator's two design choices (write protection,
 * command buffer handling), what the vGPU's dma_unmap op does (a hook, or the name of a built-in
 * one), deliberate bugs of the mediator, of KVMGT's services or of VFIO, and the expected verdict
 * — the same way a user writes a variant. The built-in designs (`designs.ts`) and mutants are
 * built with exactly this.
 */
import { classifyKvmgtStep, kvmgtReach, kvmgtReachFloors } from './reach.js';
import { gvtFeatures } from '../../models/gvt/config.js';
import type { GvtBug, GvtConfig, GvtHooks, GvtUnwind } from '../../models/gvt/config.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { kvmgtBugNeeds, kvmgtBugs, kvmgtFeatureMissing, kvmgtWorld } from '../../models/kvmgt/config.js';
import type {
  KvmgtBug,
  KvmgtConfig,
  KvmgtFeature,
  KvmgtWorld,
  KvmgtWorldDescription,
  UnmapLock,
} from '../../models/kvmgt/config.js';
import { phaseOf } from '../../models/gvt/inflight.js';
import { actorOf, actorOfOp, kvmgtHoldings } from '../../models/kvmgt/schedule.js';
import { dropCache, releaseShadows } from '../../models/kvmgt/unmap-callback.js';
import type { KvmgtUnmapCallback, KvmgtUnmapCallbackName } from '../../models/kvmgt/unmap-callback.js';
import { stepKvmgt } from '../../models/kvmgt/step.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import { initKvmgt } from '../../models/kvmgt/world.js';
import type { VfioBug, VfioWorldFeature } from '../../models/vfio/config.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainKvmgtStep } from './explain.js';
import { kvmgtExploreScope, kvmgtScopeParts } from './explore-scope.js';
import type { KvmgtScopePart } from './explore-scope.js';
import { formatKvmgtCommand, validateKvmgtCommand, validateKvmgtTemplate } from './format.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import type { BugCatalogue, WorldFeatures } from '../generic/bug-flags.js';
import { gvtBugCatalogue } from '../gvt/bug-catalogue.js';
import { vfioBugCatalogue } from '../vfio/design.js';
import { kvmgtCommandSpace, resolveKvmgt } from './generators.js';
import type { KvmgtTemplate } from './generators.js';
import { kvmgtInvariants } from './invariants/index.js';

export const KVMGT_STACK = 'KVMGT';

/** A refused command's result: the GPU accessed nothing. */
const noAccesses = { accesses: [] };

/** KVMGT's own bugs (its services to the mediator) and what each needs, for the factory's refusals. */
export const kvmgtBugCatalogue: BugCatalogue<KvmgtBug, KvmgtFeature> = {
  model: "KVMGT's services",
  bugs: kvmgtBugs,
  needs: kvmgtBugNeeds,
  missing: kvmgtFeatureMissing,
};

/** What `kvmgtDesign` takes. */
export interface KvmgtDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `kvmgtInvariants`). */
  readonly breaks?: readonly string[];
  /**
   * The world: frames, guest RAM and the sections the VMM maps it in, RLIMIT_MEMLOCK,
   * dma_entry_limit, the other VM's frames, the host IOMMU domain's DMA addresses for the GPU, the
   * GGTT partition. Today's by default; a world that cannot be set up throws an Error saying why.
   */
  readonly world?: KvmgtWorldDescription;
  /** How freed frames are handed out again (default `lifo`: the last freed first, so reuse races happen). */
  readonly policy?: AllocPolicy;
  /**
   * The mediator write-protects every guest page it shadows as a page table (KVM page track), so
   * a guest store traps and the shadow follows (default `true`; `false`: `gvt/no-write-protect`).
   */
  readonly writeProtect?: boolean;
  /**
   * `shadow-copy` (default): the scanner audits a host copy of a batch buffer and the GPU runs the
   * copy; `scan-in-place`: both use the guest's buffer, which it may rewrite in between;
   * `scan-then-copy`: the guest's buffer is audited in place, then copied for the GPU, so a guest
   * store between the two reads runs unaudited (a flawed shadow copy).
   */
  readonly cmdbuf?: GvtConfig['cmdbuf'] | 'scan-then-copy';
  /**
   * The vGPU's `dma_unmap` op, which VFIO calls when the VMM's UNMAP_DMA removes guest RAM the vGPU
   * has pinned pages in: `release-shadows` (default, `releaseShadows`: the shadow entries using a
   * page pointed at scratch, then the page unmapped and unpinned), `drop-cache` (as shipped,
   * `dropCache`: the cache entries removed whatever their references), or a `KvmgtUnmapCallback`
   * of the design's own, a function of the call returning what the op does. It must not modify
   * what it is given.
   */
  readonly unmapCallback?: KvmgtUnmapCallbackName | KvmgtUnmapCallback;
  /**
   * The lock the op takes (`UnmapLock`): `vgpu` (default: the vGPU lock, then `cache_lock`; the
   * op never runs inside a mediator operation), `cache` (`cache_lock` only, as the shipped op:
   * between a handler's translation and its shadow write), `none` (also between a map's pin and
   * its cache insert).
   */
  readonly unmapLock?: UnmapLock;
  /**
   * Deliberate bugs of the GVT-g mediator (`gvtBugs`); a page-table bug without write protection
   * throws, as does an unknown name.
   */
  readonly gvtBugs?: readonly GvtBug[];
  /** Deliberate bugs of the VFIO model (`vfioBugs`); one the KVMGT container never reaches throws. */
  readonly vfioBugs?: readonly VfioBug[];
  /**
   * Deliberate bugs of KVMGT's services (`kvmgtBugs`: its pin and map, its unmap, its page-track
   * notifier); an unknown name throws, as does one the design cannot show.
   */
  readonly kvmgtBugs?: readonly KvmgtBug[];
  /**
   * How failure paths unwind, one decision point each (issue 18; every one reached by the
   * generated fault injection, `models/kvmgt/fault.ts`): `populate` — a PPGTT table whose
   * population fails part-way, `invalidate` (default: what its entries took is given back) or
   * `free-spt` (as `gtt.c ppgtt_populate_spt_by_guest_entry` ships: `ppgtt_free_spt`, entries not
   * walked); `trackAdd` — enabling a new table's page track failing, `unregister` (default,
   * `ppgtt_free_spt`) or `keep-registration`; `cacheAdd` — `__gvt_cache_add` failing, `unmap` (default, `err_unmap`) or `keep-map`;
   * `dmaMap` — `dma_map_page` failing in `gvt_dma_map_page`, `unpin` (default) or `keep-pin`.
   */
  readonly unwind?: KvmgtUnwindOptions;
  /**
   * What the vGPU's destroy and create do with the host GGTT entries of its ranges, which the
   * hardware keeps when the vGPU goes: `reset-ggtt` (default, v6.12: `intel_vgpu_reset_ggtt` in
   * both `intel_gvt_destroy_vgpu` and `intel_vgpu_init_gtt`) or `keep-ggtt` (that reset left out).
   */
  readonly lifecycle?: {
    readonly destroy?: 'reset-ggtt' | 'keep-ggtt';
    readonly create?: 'reset-ggtt' | 'keep-ggtt';
  };
  /**
   * The GVT-g mediator's decision points, as functions of the design's own (`GvtHooks`: how many
   * pages a 64K entry's split maps, how many of its slots its removal releases, …): the model's
   * defaults (`soundGvtHooks`) for any left out. A hook that is not a function throws.
   */
  readonly gvtHooks?: Partial<GvtHooks>;
  /**
   * What the design's explore scope adds to the stack's own, where its flaw is: `64k`, the guest's
   * directory entry with the IPS bit (a 64K table); `2m`, the directory entry with the PS bit (a
   * 2M entry). Default none; an unknown part throws.
   */
  readonly explore?: readonly KvmgtScopePart[];
}

/** The design's hooks, checked: each a function. */
function gvtHooksOf(option: Partial<GvtHooks> | undefined): Partial<GvtHooks> | undefined {
  if (option === undefined) return undefined;
  for (const [name, hook] of Object.entries(option)) {
    if (typeof hook !== 'function')
      throw new Error(`gvtHooks.${name}: expected a function, got ${JSON.stringify(hook)}`);
  }
  return option;
}

/** The design's lifecycle choices, checked. */
function lifecycleOf(
  option: KvmgtDesignOptions['lifecycle'],
): { readonly destroyResetsGgtt: boolean; readonly createResetsGgtt: boolean } | undefined {
  if (option === undefined) return undefined;
  const resets = (key: 'destroy' | 'create'): boolean => {
    const value = option[key];
    if (value === undefined || value === 'reset-ggtt') return true;
    if (value === 'keep-ggtt') return false;
    throw new Error(`lifecycle.${key}: expected 'reset-ggtt' or 'keep-ggtt', got ${JSON.stringify(value)}`);
  };
  return { destroyResetsGgtt: resets('destroy'), createResetsGgtt: resets('create') };
}

export interface KvmgtUnwindOptions {
  readonly populate?: 'invalidate' | 'free-spt';
  readonly trackAdd?: 'unregister' | 'keep-registration';
  readonly cacheAdd?: 'unmap' | 'keep-map';
  readonly dmaMap?: 'unpin' | 'keep-pin';
}

/** The design's unwind choices, each checked (an unknown choice throws, naming the allowed ones). */
function unwindOf(option: KvmgtUnwindOptions | undefined): {
  readonly gvt: GvtUnwind | undefined;
  readonly dmaMap: 'unpin' | 'keep-pin' | undefined;
} {
  if (option === undefined) return { gvt: undefined, dmaMap: undefined };
  const allowed: Readonly<Record<keyof KvmgtUnwindOptions, readonly string[]>> = {
    populate: ['invalidate', 'free-spt'],
    trackAdd: ['unregister', 'keep-registration'],
    cacheAdd: ['unmap', 'keep-map'],
    dmaMap: ['unpin', 'keep-pin'],
  };
  for (const [key, value] of Object.entries(option)) {
    const choices = allowed[key as keyof KvmgtUnwindOptions] as readonly string[] | undefined;
    if (choices === undefined)
      throw new Error(`unwind: unknown path ${JSON.stringify(key)} (populate, trackAdd, cacheAdd, dmaMap)`);
    if (value !== undefined && !choices.includes(value as string)) {
      throw new Error(
        `unwind.${key}: expected ${choices.map((c) => `'${c}'`).join(' or ')}, got ${JSON.stringify(value)}`,
      );
    }
  }
  const gvt: GvtUnwind = {
    ...(option.populate !== undefined ? { populate: option.populate } : {}),
    ...(option.cacheAdd !== undefined ? { cacheAdd: option.cacheAdd } : {}),
    ...(option.trackAdd !== undefined ? { trackAdd: option.trackAdd } : {}),
  };
  return { gvt: Object.keys(gvt).length > 0 ? gvt : undefined, dmaMap: option.dmaMap };
}

export type KvmgtDesign = Design<KvmgtState, KvmgtCommand, KvmgtTemplate> & {
  readonly config: KvmgtConfig;
  readonly world: KvmgtWorld;
};

/** The op a design runs: the named built-in or its own. */
function unmapCallbackOf(option: KvmgtDesignOptions['unmapCallback']): KvmgtUnmapCallback {
  if (option === undefined || option === 'release-shadows') return releaseShadows;
  if (option === 'drop-cache') return dropCache;
  if (typeof option === 'function') return option;
  throw new Error(
    `unmapCallback: expected 'release-shadows', 'drop-cache' or a function (the op), got ${JSON.stringify(option)}`,
  );
}

/** The op's lock: the named one, or the default (`vgpu`). */
function unmapLockOf(option: KvmgtDesignOptions['unmapLock']): UnmapLock {
  if (option === undefined) return 'vgpu';
  if (option === 'vgpu' || option === 'cache' || option === 'none') return option;
  throw new Error(`unmapLock: expected 'vgpu', 'cache' or 'none', got ${JSON.stringify(option)}`);
}

/**
 * What the KVMGT container has that a VFIO bug may need (`vfioBugNeeds`): an emulated group whose
 * one device, the vGPU, is driven by KVMGT's own ops (not the generic mediated driver); no
 * IOMMU-backed group. The vGPU pins only guest RAM (the VMM process's pages), once per page at
 * IOVA = GPA, so locked_vm never exceeds them: RLIMIT_MEMLOCK is reachable only when it is below.
 */
function kvmgtVfioFeatures(initial: KvmgtState): WorldFeatures<VfioWorldFeature> {
  const has = new Set<VfioWorldFeature>(['type1-container', 'emulated-group', 'emulated-device']);
  const process = initial.vfio.process;
  if (process.memlockLimitPages < Object.keys(process.pages).length) has.add('memlock-limit-reachable');
  return { name: 'the KVMGT container', has };
}

export function kvmgtDesign(options: KvmgtDesignOptions): KvmgtDesign {
  const world = kvmgtWorld(options.world, options.policy);
  const writeProtect = options.writeProtect ?? true;
  const cmdbuf = options.cmdbuf ?? 'shadow-copy';
  const unwind = unwindOf(options.unwind);
  const lifecycle = lifecycleOf(options.lifecycle);
  const hooks = gvtHooksOf(options.gvtHooks);
  for (const part of options.explore ?? []) {
    if (!kvmgtScopeParts.includes(part))
      throw new Error(`explore: expected parts of ${kvmgtScopeParts.join(', ')}, got ${JSON.stringify(part)}`);
  }
  const kvmgtFeatures = new Set<KvmgtFeature>();
  if (writeProtect) kvmgtFeatures.add('trapped-stores');
  if (world.vcpus >= 2) kvmgtFeatures.add('two-vcpus');
  const config: KvmgtConfig = {
    world,
    gvt: {
      layout: world.layout,
      writeProtect,
      cmdbuf: cmdbuf === 'scan-in-place' ? 'scan-in-place' : 'shadow-copy',
      bugs: refuseIneffectiveBugs('gvtBugs', options.gvtBugs, gvtBugCatalogue, {
        name: writeProtect ? 'the KVMGT design' : 'the KVMGT design without write protection',
        has: gvtFeatures({ writeProtect }, { ppgtt: true, batchBuffers: true }),
      }),
      ...(unwind.gvt !== undefined ? { unwind: unwind.gvt } : {}),
      ...(hooks !== undefined ? { hooks } : {}),
    },
    vfio: { bugs: options.vfioBugs ?? [] },
    unmapCallback: unmapCallbackOf(options.unmapCallback),
    unmapLock: unmapLockOf(options.unmapLock),
    shadowOrder: cmdbuf === 'scan-then-copy' ? 'scan-then-copy' : 'copy-then-scan',
    ...(unwind.dmaMap !== undefined ? { dmaMapUnwind: unwind.dmaMap } : {}),
    ...(lifecycle !== undefined ? { lifecycle } : {}),
    bugs: refuseIneffectiveBugs('kvmgtBugs', options.kvmgtBugs, kvmgtBugCatalogue, {
      name: writeProtect ? 'the KVMGT design' : 'the KVMGT design without write protection',
      has: kvmgtFeatures,
    }),
  };
  const initial = initKvmgt(config);
  // A VFIO bug the KVMGT container never reaches would give a design that holds by omission.
  refuseIneffectiveBugs('vfioBugs', options.vfioBugs, vfioBugCatalogue, kvmgtVfioFeatures(initial));
  return {
    id: options.id,
    stack: KVMGT_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    world,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateKvmgtCommand, (state, command) => stepKvmgt(state, config, command), noAccesses),
    resolve: guardResolve(validateKvmgtTemplate, (state, template: KvmgtTemplate) =>
      resolveKvmgt(world, state, template),
    ),
    commands: kvmgtCommandSpace(world, config),
    invariants: kvmgtInvariants(config),
    formatCommand: formatKvmgtCommand,
    validateCommand: validateKvmgtCommand,
    explainStep: (transition) => explainKvmgtStep(config, transition),
    // Every known counterexample is at most 6 steps, and the world is small: sequences of up to
    // 40 commands reach as much as 100 do here and shrink faster.
    generation: { maxCommands: 40 },
    explore: kvmgtExploreScope(world, config, true, options.explore ?? []),
    actorOf: (state, command) => actorOf(state, config, command),
    classify: (transition) => classifyKvmgtStep(transition, config),
    reach: kvmgtReach,
    reachFloors: kvmgtReachFloors,
    inflight: (state) => state.inflight.map((op) => ({ actor: actorOfOp(op), kind: op.kind, phase: phaseOf(op) })),
    holdings: (state) => kvmgtHoldings(state, config),
  };
}
