/**
 * How a design of the Xen passthrough stack is built: the world (the hardware domain, an HVM guest
 * and a PV guest with a device each), whether the HVM guest shares its EPT with the IOMMU, the
 * quarantine mode, and the hooks at Xen's decision points (the deferred flush, the p2m → IOMMU
 * sync, where devices are released at destruction, the quarantine scratch page), with the
 * expected verdict. The built-in designs (`designs.ts`) are made with this, as a user would.
 */
import { classifyXenPtStep, xenPtReach, xenPtReachFloors } from './reach.js';
import { soundLifecycle, xenBugs } from '../../models/xen/config.js';
import type { XenBug } from '../../models/xen/config.js';
import type { PvMemoryRules } from '../../models/xen/pv-rules.js';
import type { GrantCopyChecks } from '../../models/xen/grant-copy.js';
import type { GrantFrameMapping, GrantVersionSwitch } from '../../models/xen/grant-v2.js';
import { perDeviceScratch, quarantineModes } from '../../models/xen/pci.js';
import type { QuarantineMode, QuarantineScratch } from '../../models/xen/pci.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import {
  defaultXenPtWorld,
  soundDeferredFlush,
  soundIommuSync,
  soundPassthroughTeardown,
} from '../../models/xenpt/config.js';
import type {
  DeferredFlush,
  IommuSync,
  PassthroughTeardown,
  XenPtConfig,
  XenPtWorld,
} from '../../models/xenpt/config.js';
import { initXenPt, nextPhase, stepXenPt } from '../../models/xenpt/step.js';
import type { XenPtOp, XenPtState } from '../../models/xenpt/types.js';
import type { Design, Expectation } from '../../src/design.js';
import type { GenerationOptions } from '../../src/generate.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { explainXenPtStep } from './explain.js';
import { xenPtExploreScope, xenPtScopeParts } from './explore-scope.js';
import type { XenPtScopePart } from './explore-scope.js';
import { resolveXenPt, xenPtCommandSpace, xenPtUniverse } from './generators.js';
import type { XenPtTemplate } from './generators.js';
import { xenPtInvariants } from './invariants.js';
import { xenPtExtraCommands } from './extra-commands.js';
import { formatXenPtCommand, validateXenPtCommand, validateXenPtTemplate } from './schema.js';

export const XENPT_STACK = 'Xen passthrough';

export interface XenPtDesignOptions {
  /** The design's id (a user's own: `mine/…`). */
  readonly id: string;
  readonly expected: Expectation;
  /** One sentence: what the design does, in Xen's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `xenPtInvariants`). */
  readonly breaks?: readonly string[];
  /** The HVM guest's IOMMU tables: `shared` with the EPT (`iommu_use_hap_pt`, default) or `sync` (own table). */
  readonly hvmPt?: 'shared' | 'sync';
  /** `iommu_quarantine` (default `scratch-page`). */
  readonly quarantine?: QuarantineMode;
  /** The world, for a user's own (default `defaultXenPtWorld`). */
  readonly world?: XenPtWorld;
  /** The quarantine page table's scratch page (default each device its own, `perDeviceScratch`). */
  readonly scratch?: QuarantineScratch;
  /** XENMEM_add_to_physmap's deferred flush (default Xen's since XSA-346, `soundDeferredFlush`). */
  readonly deferredFlush?: DeferredFlush;
  /** The p2m → IOMMU table sync of a non-shared HVM domain (default `soundIommuSync`). */
  readonly iommuSync?: IommuSync;
  /** Where destruction releases devices (default before the memory, `soundPassthroughTeardown`). */
  readonly teardown?: PassthroughTeardown;
  /** PV memory's decisions (page types, the L1 fast path, grant type references and IOMMU counts; default Xen's, `soundPvMemory`). */
  readonly pvMemory?: PvMemoryRules;
  /** GNTTABOP_set_version's decisions (default Xen's, `soundGrantVersionSwitch`). */
  readonly grantVersion?: GrantVersionSwitch;
  /** XENMAPSPACE_grant_table's one-gfn rule (default Xen's since XSA-379, `soundGrantFrameMapping`). */
  readonly grantFrameMapping?: GrantFrameMapping;
  /** GNTTABOP_copy's checks and release (default Xen's, `soundGrantCopy`). */
  readonly grantCopy?: GrantCopyChecks;
  /** Deliberate bugs of the Xen model (`xenBugs`): its grant table, ballooning and teardown. */
  readonly xenBugs?: readonly XenBug[];
  readonly generation?: Partial<GenerationOptions>;
  /**
   * The phased kinds generation preempts (default every one: `xenPtPhases`); the others run whole.
   * A design whose flaw is in one operation's window names that operation (`preemptedPhases`).
   */
  readonly preempt?: readonly XenPtCommand['kind'][];
  /**
   * What the design's explore scope adds to the stack's own (devices, memory, lifecycle), where its
   * flaw is: `pv-memory`, the PV page tables and dom0's grant maps (`explore-pv.ts`); `grants`, grant
   * table v2 and GNTTABOP_copy (`explore-grants.ts`). Default none.
   */
  readonly explore?: readonly XenPtScopePart[];
}

export type XenPtDesign = Design<XenPtState, XenPtCommand, XenPtTemplate> & { readonly config: XenPtConfig };

const noAccesses = { accesses: [] };

function refuseUnknownXenBugs(bugs: readonly XenBug[]): readonly XenBug[] {
  for (const bug of bugs) {
    if (!xenBugs.includes(bug))
      throw new Error(`xenBugs: unknown bug ${JSON.stringify(bug)}; known: ${xenBugs.join(', ')}`);
  }
  return bugs;
}

export function xenPtConfig(options: XenPtDesignOptions): XenPtConfig {
  const quarantine = options.quarantine ?? 'scratch-page';
  if (!quarantineModes.includes(quarantine)) {
    throw new Error(`quarantine: expected one of ${quarantineModes.join(', ')}, got ${JSON.stringify(quarantine)}`);
  }
  const hvmPt = options.hvmPt ?? 'shared';
  if (hvmPt !== 'shared' && hvmPt !== 'sync')
    throw new Error(`hvmPt: expected 'shared' or 'sync', got ${JSON.stringify(hvmPt)}`);
  const world = options.world ?? defaultXenPtWorld(hvmPt === 'shared');
  if (options.scratch !== undefined && quarantine !== 'scratch-page') {
    throw new Error(`scratch: a scratch page exists only with quarantine 'scratch-page', not '${quarantine}'`);
  }
  if (options.iommuSync !== undefined && !world.domains.some((domain) => domain.translated && !domain.sharePt)) {
    throw new Error('iommuSync: no HVM domain of the world keeps its own IOMMU table (hvmPt: sync)');
  }
  for (const part of options.explore ?? []) {
    if (!xenPtScopeParts.includes(part))
      throw new Error(`explore: expected parts of ${xenPtScopeParts.join(', ')}, got ${JSON.stringify(part)}`);
  }
  return {
    world,
    xen: {
      bugs: refuseUnknownXenBugs(options.xenBugs ?? []),
      lifecycle: soundLifecycle,
      ...(options.pvMemory === undefined ? {} : { pvMemory: options.pvMemory }),
      ...(options.grantVersion === undefined ? {} : { grantVersion: options.grantVersion }),
      ...(options.grantFrameMapping === undefined ? {} : { grantFrameMapping: options.grantFrameMapping }),
      ...(options.grantCopy === undefined ? {} : { grantCopy: options.grantCopy }),
    },
    quarantine,
    scratch: options.scratch ?? perDeviceScratch,
    deferredFlush: options.deferredFlush ?? soundDeferredFlush,
    iommuSync: options.iommuSync ?? soundIommuSync,
    teardown: options.teardown ?? soundPassthroughTeardown,
  };
}

function actorOf(state: XenPtState, command: XenPtCommand): string {
  switch (command.kind) {
    case 'dma':
      return `device ${command.device}`;
    case 'moveGfn':
      return `dom${command.domid} vCPU0`;
    case 'decreaseReservation':
    case 'populatePhysmap':
    case 'grantAccess':
      return `dom${command.domid} vCPU1`;
    case 'mapGrantRef':
    case 'unmapGrantRef':
      return `dom${command.mapperDomid} vCPU1`;
    case 'pvMmuUpdate':
    case 'pvMmuProtect':
    case 'pvPinL1Table':
    case 'pvUnpinTable':
      return `dom${command.domid} vCPU1`;
    case 'setGrantVersion':
    case 'mapGrantFrame':
    case 'endAccess':
      return `dom${command.domid} vCPU1`;
    case 'getStatusFrames':
    case 'grantCopy':
      return `dom${command.callerDomid} vCPU1`;
    case 'advance': {
      const op = state.inflight[command.op];
      if (op === undefined) return 'hypervisor';
      if (op.kind === 'dma') return `device ${op.device}`;
      if (op.kind === 'moveGfn') return `dom${op.domid} vCPU0`;
      if (op.kind === 'grantCopy') return `dom${op.callerDomid} vCPU1`;
      return 'toolstack';
    }
    case 'assignDevice':
    case 'deassignDevice':
    case 'destroyDomain':
    case 'createDomain':
      return 'toolstack';
  }
}

function inflightActor(op: XenPtOp): string {
  if (op.kind === 'dma') return `device ${op.device}`;
  if (op.kind === 'moveGfn') return `dom${op.domid} vCPU0`;
  if (op.kind === 'grantCopy') return `dom${op.callerDomid} vCPU1`;
  return 'toolstack';
}

export function xenPtDesign(options: XenPtDesignOptions): XenPtDesign {
  const config = xenPtConfig(options);
  const universe = xenPtUniverse(config);
  const initial = initXenPt(config);
  return {
    id: options.id,
    stack: XENPT_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    // Every run keeps its devices' DMA and the p2m changes (no swarm subsets): a run without DMA,
    // or without the changes that make an IOTLB entry stale, observes nothing through the IOMMU.
    // With the PV memory and grant v2 / copy kinds, sequences of up to 150 commands (not 100) and
    // five operations left in flight (not three: four kinds are phased) keep the deferred-flush and
    // copy windows reached at the default budget.
    generation: { swarm: false, maxCommands: 150, preemptions: 5, ...options.generation },
    config,
    // Steps never modify the state they are given: every run starts from the same object.
    init: () => initial,
    step: guardStep(validateXenPtCommand, (state, command) => stepXenPt(state, config, command), noAccesses),
    resolve: guardResolve(validateXenPtTemplate, (state, template) => resolveXenPt(state, universe, template)),
    commands: xenPtCommandSpace(config, universe, xenPtExtraCommands(config, universe), options.preempt),
    invariants: xenPtInvariants(config),
    formatCommand: formatXenPtCommand,
    validateCommand: validateXenPtCommand,
    explainStep: explainXenPtStep,
    explore: xenPtExploreScope(config, options.explore ?? []),
    actorOf,
    classify: classifyXenPtStep,
    reach: xenPtReach,
    reachFloors: xenPtReachFloors,
    inflight: (state) =>
      state.inflight.map((op) => ({
        actor: inflightActor(op),
        kind: op.kind,
        phase: nextPhase(op),
      })),
  };
}
