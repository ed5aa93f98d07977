/**
 * The differential design of the vIOMMU stack: the same well-behaved guest program on a shadow and
 * a nested vIOMMU side by side (`models/viommu/pair.ts`), checked by one invariant, that both give
 * every operation the same outcome. Its mutants carry a VMM bug on one side: a bug that only hurts
 * the guest, which the isolation invariants cannot see and the comparison does.
 */
import type { DriverOp } from '../../../models/viommu/driver.js';
import { stepPair } from '../../../models/viommu/pair.js';
import type { ViommuPairConfig, ViommuPairState } from '../../../models/viommu/pair.js';
import type { VmmBug, VmmFeature } from '../../../models/viommu/types.js';
import type { AllocPolicy } from '../../../models/memory/frames.js';
import type { Design, Expectation } from '../../../src/design.js';
import { refuseIneffectiveBugs } from '../../generic/bug-flags.js';
import { VIOMMU_STACK, viommuConfig, viommuPickUniverse, vmmBugCatalogue } from '../design.js';
import type { ViommuVmmOptions } from '../design.js';
import { resolveTemplate } from '../resolve.js';
import type { DriverTemplate } from '../resolve.js';
import { explainViommuStep } from '../explain.js';
import { initViommuWorld, viommuWorldLayout } from '../world.js';
import type { ViommuWorldDescription, ViommuWorldLayout } from '../world.js';
import { differentialExploreScope } from './explore-scope.js';
import { driverCommandSpace } from './generators.js';
import { driverOpValidators, formatDriverOp } from './format.js';
import { guardResolve, guardStep } from '../../generic/guard.js';
import { shadowAndNestedAgree } from './invariant.js';
import { classifyDifferentialStep, differentialReach, differentialReachFloors } from './reach.js';

/** What `viommuDifferentialDesign` takes. */
export interface ViommuDifferentialDesignOptions {
  /** The design's id in reports, the registry and corpus file names (a user's own: `mine/…`). */
  readonly id: string;
  /** `holds` when shadow and nested must agree, `violates` for a pair known to disagree (with `breaks`). */
  readonly expected: Expectation;
  /** One sentence: what the pair compares, in the real systems' words. */
  readonly description: string;
  /** A flawed pair's invariants it is known to break: `shadow-and-nested-agree`. */
  readonly breaks?: readonly string[];
  /**
   * Bugs of the VMMs (`vmmBugs`): each goes to the side of its mode (`shadow-misses-unmap` to the
   * shadow VMM, `nested-drops-invalidation` to the nested one). An unknown name, or a bug of a
   * side that supplies its own `invalidation` hook, throws.
   */
  readonly vmmBugs?: readonly VmmBug[];
  /** The shadow side's VMM hooks (`invalidation`, `balloon`); the built-in shadow VMM's by default. */
  readonly shadow?: ViommuVmmOptions;
  /** The nested side's VMM hooks; the built-in nested VMM's by default. */
  readonly nested?: ViommuVmmOptions;
  /**
   * The world both sides run in, the same for both (frames are compared across them): frames,
   * guest RAM, RLIMIT_MEMLOCK, dma_entry_limit, GIOVA pages, IOTLB size; today's by default. It
   * must suit the nested side (memlock and dma_entry_limit of at least the RAM pages).
   */
  readonly world?: ViommuWorldDescription;
  /** How freed frames are handed out again (default `lifo`). */
  readonly policy?: AllocPolicy;
}

export type ViommuDifferentialDesign = Design<ViommuPairState, DriverOp, DriverTemplate> & {
  readonly config: ViommuPairConfig;
  readonly world: ViommuWorldLayout;
};

export function viommuDifferentialDesign(options: ViommuDifferentialDesignOptions): ViommuDifferentialDesign {
  const world = viommuWorldLayout('nested', options.world);
  // Every name must be a VMM bug before it is handed to the side of its mode.
  const bugs = refuseIneffectiveBugs('vmmBugs', options.vmmBugs, vmmBugCatalogue, {
    name: 'the differential pair',
    // Its well-behaved guest program never detaches the device: no `device-lifecycle`.
    has: new Set<VmmFeature>([
      'shadow-mode',
      'nested-mode',
      'builtin-invalidation',
      'builtin-context',
      'builtin-translation',
    ]),
  });
  const side = (prefix: 'shadow' | 'nested'): readonly VmmBug[] => bugs.filter((bug) => bug.startsWith(prefix));
  const config: ViommuPairConfig = {
    shadow: viommuConfig('shadow', { ...options.shadow, vmmBugs: side('shadow') }, world),
    nested: viommuConfig('nested', { ...options.nested, vmmBugs: side('nested') }, world),
  };
  const initial: ViommuPairState = {
    shadow: initViommuWorld(config.shadow, options.policy, world),
    nested: initViommuWorld(config.nested, options.policy, world),
  };
  const universe = viommuPickUniverse(world);
  const validate = driverOpValidators(world.ramPages);
  return {
    id: options.id,
    stack: VIOMMU_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    world,
    init: () => initial,
    step: guardStep(validate.command, (state, op) => stepPair(state, config, op)),
    resolve: guardResolve(validate.template, (state, template: DriverTemplate) =>
      resolveTemplate<DriverOp>(state.shadow.guest, universe, template),
    ),
    commands: driverCommandSpace(world),
    invariants: [shadowAndNestedAgree],
    // Each step runs both designs; a broken side disagrees within 4 steps.
    generation: { maxCommands: 40 },
    formatCommand: formatDriverOp,
    validateCommand: validate.command,
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
    reachFloors: differentialReachFloors,
    explore: differentialExploreScope,
  };
}

export const viommuDifferential = viommuDifferentialDesign({
  id: 'viommu/differential',
  expected: 'holds',
  description:
    'the same well-behaved guest program on shadow and nested side by side: every DMA lands in the same frame or faults in both',
});
