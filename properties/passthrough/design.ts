/**
 * How a design of the passthrough stack over VT-d is built: the IOMMU's invalidation mode, the
 * deliberate bugs of either model if any, and the expected verdict.
 */
import type { IommuBug } from '../../models/iommu/config.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import { stepPassthrough } from '../../models/passthrough/step.js';
import type {
  InvalidationMode,
  PassthroughCommand,
  PassthroughConfig,
  PassthroughState,
} from '../../models/passthrough/types.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainPassthroughStep } from './explain.js';
import { passthroughExploreScope } from './explore-scope.js';
import { formatPassthroughCommand, validatePassthroughCommand, validatePassthroughTemplate } from './format.js';
import { passthroughCommandSpace, passthroughPickUniverse } from './generators.js';
import { passthroughInvariants } from './invariants/index.js';
import { classifyPassthroughStep, passthroughReach } from './reach.js';
import { resolvePassthrough } from './resolve.js';
import type { PassthroughTemplate } from './resolve.js';
import { initPassthroughWorld } from './world.js';

/** A refused command's result: nothing translated, no device access. */
const noEffects = { effects: [], accesses: [] };

export interface PassthroughDesignOptions {
  readonly id: string;
  readonly mode: InvalidationMode;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  readonly vfioBugs?: readonly VfioBug[];
  readonly iommuBugs?: readonly IommuBug[];
  readonly policy?: AllocPolicy;
}

export type PassthroughDesign = Design<PassthroughState, PassthroughCommand, PassthroughTemplate> & {
  readonly config: PassthroughConfig;
};

export function passthroughDesign(options: PassthroughDesignOptions): PassthroughDesign {
  const config: PassthroughConfig = {
    mode: options.mode,
    vfio: { bugs: options.vfioBugs ?? [] },
    iommu: { bugs: options.iommuBugs ?? [] },
  };
  const initial = initPassthroughWorld(config, options.policy);
  return {
    id: options.id,
    stack: 'passthrough',
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validatePassthroughCommand, (state, command) => stepPassthrough(state, config, command), noEffects),
    resolve: guardResolve(validatePassthroughTemplate, (state, template: PassthroughTemplate) =>
      resolvePassthrough(state, passthroughPickUniverse, template),
    ),
    commands: passthroughCommandSpace(options.mode !== 'strict'),
    invariants: passthroughInvariants,
    formatCommand: formatPassthroughCommand,
    validateCommand: validatePassthroughCommand,
    explainStep: explainPassthroughStep,
    explore: passthroughExploreScope(options.mode !== 'strict'),
    classify: classifyPassthroughStep,
    reach: passthroughReach(options.mode !== 'strict'),
  };
}
