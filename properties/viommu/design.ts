/**
 * How a design of the vIOMMU stack is built: shadow or nested, the deliberate bugs of the VMM, of
 * VFIO or of the host IOMMU if any, and the expected verdict.
 */
import type { IommuBug } from '../../models/iommu/config.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { stepViommu } from '../../models/viommu/step.js';
import type { ViommuCommand, ViommuConfig, ViommuMode, ViommuState, VmmBug } from '../../models/viommu/types.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainViommuStep } from './explain.js';
import { viommuExploreScope } from './explore-scope.js';
import { formatViommuCommand, validateViommuCommand, validateViommuTemplate } from './format.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { noCosts } from '../../models/viommu/types.js';
import { viommuCommandSpace } from './generators.js';
import { viommuInvariants } from './invariants.js';
import { classifyViommuStep, viommuReach } from './reach.js';
import { resolveViommuTemplate } from './resolve.js';
import type { PickUniverse, ViommuTemplate } from './resolve.js';
import { initViommuWorld } from './world.js';
import { GIOVA_PAGES } from './generators.js';
import { RAM_PAGES } from '../vfio/world.js';

/** What the generators' picks fall back to. */
export const pickUniverse: PickUniverse = { giovaPages: GIOVA_PAGES, ramPages: RAM_PAGES };

export const VIOMMU_STACK = 'vIOMMU';

/** A refused command's result: no device access, nothing trapped. */
const nothing = { accesses: [], costs: noCosts };

export interface ViommuDesignOptions {
  readonly id: string;
  readonly mode: ViommuMode;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  readonly vmmBugs?: readonly VmmBug[];
  readonly vfioBugs?: readonly VfioBug[];
  readonly iommuBugs?: readonly IommuBug[];
  readonly policy?: AllocPolicy;
}

export type ViommuDesign = Design<ViommuState, ViommuCommand, ViommuTemplate> & {
  readonly config: ViommuConfig;
};

export function viommuConfig(
  mode: ViommuMode,
  bugs: Pick<ViommuDesignOptions, 'vmmBugs' | 'vfioBugs' | 'iommuBugs'> = {},
): ViommuConfig {
  return {
    mode,
    vmmBugs: bugs.vmmBugs ?? [],
    host: { mode: 'strict', vfio: { bugs: bugs.vfioBugs ?? [] }, iommu: { bugs: bugs.iommuBugs ?? [] } },
  };
}

export function viommuDesign(options: ViommuDesignOptions): ViommuDesign {
  const config = viommuConfig(options.mode, options);
  const initial = initViommuWorld(config, options.policy);
  return {
    id: options.id,
    stack: VIOMMU_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateViommuCommand, (state, command) => stepViommu(state, config, command), nothing),
    resolve: guardResolve(validateViommuTemplate, (state, template: ViommuTemplate) =>
      resolveViommuTemplate(state, pickUniverse, template),
    ),
    commands: viommuCommandSpace,
    invariants: viommuInvariants,
    // Counterexamples take at most 8 steps: sequences of up to 60 commands find every one within a
    // default run's thousand sequences, at 60% of the cost of the harness's 100.
    generation: { maxCommands: 60 },
    formatCommand: formatViommuCommand,
    validateCommand: validateViommuCommand,
    explainStep: explainViommuStep,
    classify: classifyViommuStep,
    reach: viommuReach(options.mode),
    explore: viommuExploreScope,
  };
}
