/**
 * The differential design of the vIOMMU stack: the same well-behaved guest program on a shadow and
 * a nested vIOMMU side by side (`models/viommu/pair.ts`), checked by one invariant, that both give
 * every operation the same outcome. Its mutants carry a VMM bug on one side: a bug that only hurts
 * the guest, which the isolation invariants cannot see and the comparison does.
 */
import type { DriverOp } from '../../../models/viommu/driver.js';
import { stepPair } from '../../../models/viommu/pair.js';
import type { ViommuPairConfig, ViommuPairState } from '../../../models/viommu/pair.js';
import type { VmmBug } from '../../../models/viommu/types.js';
import type { Design, Expectation } from '../../../src/design.js';
import { VIOMMU_STACK, pickUniverse, viommuConfig } from '../design.js';
import { resolveTemplate } from '../resolve.js';
import type { DriverTemplate } from '../resolve.js';
import { explainViommuStep } from '../explain.js';
import { initViommuWorld } from '../world.js';
import { differentialExploreScope } from './explore-scope.js';
import { driverCommandSpace } from './generators.js';
import { formatDriverOp, validateDriverOp, validateDriverTemplate } from './format.js';
import { guardResolve, guardStep } from '../../generic/guard.js';
import { shadowAndNestedAgree } from './invariant.js';
import { classifyDifferentialStep, differentialReach } from './reach.js';

export interface DifferentialDesignOptions {
  readonly id: string;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  readonly vmmBugs?: readonly VmmBug[];
}

export type DifferentialDesign = Design<ViommuPairState, DriverOp, DriverTemplate> & {
  readonly config: ViommuPairConfig;
};

export function differentialDesign(options: DifferentialDesignOptions): DifferentialDesign {
  // Each side carries the VMM bugs that concern its mode.
  const bugs = options.vmmBugs ?? [];
  const config: ViommuPairConfig = {
    shadow: viommuConfig('shadow', { vmmBugs: bugs.filter((bug) => bug.startsWith('shadow')) }),
    nested: viommuConfig('nested', { vmmBugs: bugs.filter((bug) => bug.startsWith('nested')) }),
  };
  const initial: ViommuPairState = { shadow: initViommuWorld(config.shadow), nested: initViommuWorld(config.nested) };
  return {
    id: options.id,
    stack: VIOMMU_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    init: () => initial,
    step: guardStep(validateDriverOp, (state, op) => stepPair(state, config, op)),
    resolve: guardResolve(validateDriverTemplate, (state, template: DriverTemplate) =>
      resolveTemplate<DriverOp>(state.shadow.guest, pickUniverse, template),
    ),
    commands: driverCommandSpace,
    invariants: [shadowAndNestedAgree],
    // Each step runs both designs; a broken side disagrees within 4 steps.
    generation: { maxCommands: 40 },
    formatCommand: formatDriverOp,
    validateCommand: validateDriverOp,
    // The step's result line already gives both outcomes: the state of each side follows.
    explainStep: ({ after }) => [
      ...explainViommuStep({ before: null, command: null, result: null, after: after.shadow }).map(
        (line) => `shadow | ${line}`,
      ),
      ...explainViommuStep({ before: null, command: null, result: null, after: after.nested })
        .filter((line) => !line.startsWith('guest vIOMMU table') && !line.startsWith('balloon holds'))
        .map((line) => `nested | ${line}`),
    ],
    classify: classifyDifferentialStep,
    reach: differentialReach,
    explore: differentialExploreScope,
  };
}

export const viommuDifferential = differentialDesign({
  id: 'viommu/differential',
  expected: 'holds',
  description:
    'the same well-behaved guest program on shadow and nested side by side: every DMA lands in the same frame or faults in both',
});
