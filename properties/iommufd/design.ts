/**
 * How a design of the passthrough stack over iommufd is built: the IOMMU's invalidation mode, the
 * iommufd model's hooks (the decision points where real bugs lived: the access driver's unmap
 * callback, whether an unmap waits for accesses, the pages' account mode, whether a new domain is
 * filled; models/iommufd/config.ts), and the expected verdict — the same way a user writes a
 * variant. The built-in designs (`designs.ts`) are built with exactly this.
 */
import type { IommuBug } from '../../models/iommu/config.js';
import { soundIommufdHooks } from '../../models/iommufd/index.js';
import type { IommufdHooks } from '../../models/iommufd/index.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { stepIommufdPt } from '../../models/iommufd-pt/step.js';
import type { IommufdPtCommand, IommufdPtConfig, IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { InvalidationMode } from '../../models/passthrough/types.js';
import { invalidationModes } from '../../models/passthrough/types.js';
import type { Design, Expectation } from '../../src/design.js';
import { refuseIneffectiveBugs } from '../generic/bug-flags.js';
import { guardStep } from '../generic/guard.js';
import { iommuBugCatalogue, passthroughIommuFeatures } from '../passthrough/design.js';
import { iommufdPtExploreScope } from './explore-scope.js';
import { iommufdPtCommandSpace } from './generators.js';
import { iommufdPtInvariants } from './invariants/index.js';
import { classifyIommufdPtStep, iommufdPtReach, iommufdPtReachFloors } from './reach.js';
import { formatIommufdPtCommand, validateIommufdPtCommand } from './schema.js';
import { initIommufdPtWorld, iommufdPtConfig } from './world.js';

export const IOMMUFD_STACK = 'iommufd passthrough';

/** What `iommufdPassthroughDesign` takes. */
export interface IommufdPassthroughDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /** `holds` for a sound design, `violates` for a flawed one (which must then declare `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the design does, in the real system's words. */
  readonly description: string;
  /** A flawed design's invariants it is known to break (names from `iommufdPtInvariants`). */
  readonly breaks?: readonly string[];
  /**
   * How the VT-d domains iommufd allocates invalidate on unmap (default `strict`: iommufd's paging
   * domains are unmanaged, `iommu_unmap` syncs before the pages are unpinned).
   */
  readonly mode?: InvalidationMode;
  /** Hooks of the iommufd model over the v6.12 defaults (`soundIommufdHooks`). */
  readonly hooks?: Partial<IommufdHooks>;
  /** Deliberate bugs of the VT-d model (`iommuBugs`); one this stack never reaches throws. */
  readonly iommuBugs?: readonly IommuBug[];
  /** How freed frames are handed out again (default `lifo`). */
  readonly policy?: AllocPolicy;
}

export type IommufdPassthroughDesign = Design<IommufdPtState, IommufdPtCommand> & {
  readonly config: IommufdPtConfig;
};

export function iommufdPassthroughDesign(options: IommufdPassthroughDesignOptions): IommufdPassthroughDesign {
  const mode = options.mode ?? 'strict';
  if (!invalidationModes.includes(mode)) {
    throw new Error(`mode: expected one of ${invalidationModes.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const iommuBugs = refuseIneffectiveBugs(
    'iommuBugs',
    options.iommuBugs,
    iommuBugCatalogue,
    passthroughIommuFeatures(mode, [], 'the iommufd world'),
  );
  const config = iommufdPtConfig(mode, { ...soundIommufdHooks, ...options.hooks }, { bugs: iommuBugs });
  const initial = initIommufdPtWorld(config, options.policy);
  const nothing = {};
  return {
    id: options.id,
    stack: IOMMUFD_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    init: () => initial,
    step: guardStep(validateIommufdPtCommand, (state, command) => stepIommufdPt(state, config, command), nothing),
    resolve: (_state, template) => template,
    commands: iommufdPtCommandSpace(mode !== 'strict'),
    invariants: iommufdPtInvariants(config.iommufd),
    // No `parts`: the explore key is the whole state, made of the very parts every invariant's
    // `reads` draws from, so a new state never has all of them unchanged; `reads` alone skips.
    explore: iommufdPtExploreScope(mode !== 'strict'),
    formatCommand: formatIommufdPtCommand,
    validateCommand: validateIommufdPtCommand,
    actorOf: (_state, command) => actorOf(command),
    classify: classifyIommufdPtStep,
    reach: iommufdPtReach(mode !== 'strict'),
    reachFloors: iommufdPtReachFloors,
  };
}

const actors: Readonly<Record<string, string>> = {
  accessDma: 'emulated device driver',
  accessPinPages: 'emulated device driver',
  accessUnpinPages: 'emulated device driver',
  accessUnpinHeld: 'emulated device driver',
  accessRw: 'emulated device driver',
  allocateToOther: 'other VM',
  releaseFromOther: 'other VM',
  drainFlushQueue: 'IOMMU flush timer',
};

function actorOf(command: IommufdPtCommand): string {
  if (command.kind === 'deviceDma') return `device ${command.deviceIndex}`;
  return actors[command.kind] ?? 'VMM';
}
