/**
 * The type1 ↔ iommufd differential design (issue 20): the same VMM program on the type1 passthrough
 * stack and on iommufd's VFIO compatibility layer over VT-d, side by side
 * (models/iommufd-pt/pair.ts), with one invariant, that both agree except where a difference is
 * declared (`differences.ts`). `--stats` counts each declared difference met (`declared: <id>`).
 */
import { stepType1IommufdPair } from '../../../models/iommufd-pt/pair.js';
import type {
  DeclaredDifference,
  Type1IommufdPairConfig,
  Type1IommufdPairState,
  VmmOp,
} from '../../../models/iommufd-pt/pair.js';
import { soundIommufdHooks } from '../../../models/iommufd/index.js';
import type { IommufdHooks } from '../../../models/iommufd/index.js';
import type { AllocPolicy } from '../../../models/memory/frames.js';
import type { Design, Expectation, Transition } from '../../../src/design.js';
import { guardStep } from '../../generic/guard.js';
import { type1IommufdDifferences } from './differences.js';
import { formatVmmOp, validateVmmOp } from './format.js';
import { type1IommufdExploreScope } from './explore-scope.js';
import { type1IommufdCommandSpace } from './generators.js';
import { type1AndIommufdAgree } from './invariant.js';
import { diffIommufdConfig, diffType1Config, initDifferentialPair } from './world.js';

export const DIFFERENTIAL_STACK = 'type1 ↔ iommufd';

export interface Type1IommufdDifferentialOptions {
  readonly id: string;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  /** The declared differences (default: v6.12's, `type1IommufdDifferences`). */
  readonly differences?: readonly DeclaredDifference[];
  /** Hooks of the iommufd side's model over the v6.12 defaults (`soundIommufdHooks`). */
  readonly hooks?: Partial<IommufdHooks>;
  readonly policy?: AllocPolicy;
}

export type Type1IommufdDifferentialDesign = Design<Type1IommufdPairState, VmmOp> & {
  readonly config: Type1IommufdPairConfig;
};

export const DIVERGED = 'the pair diverged after a declared difference';
export const DMA_COMPARED = "a DMA compared: both landed in the same vaddr's frame";

/** Every label `classify` gives: each declared difference met, the pair's divergence, a compared DMA. */
export function differentialLabels(differences: readonly DeclaredDifference[]): string[] {
  return [...differences.map((difference) => `declared: ${difference.id}`), DIVERGED, DMA_COMPARED];
}

/**
 * The differences a default run meets in fewer than one run in twenty-five (they need the program
 * in one state for a narrow request: a start-up stopped between two of its ioctls, an overflowing
 * argument, a v1 container): counted by `--stats` like the others, but not in the design's `reach`,
 * whose labels the statistics test requires in 4% of a default run's sequences. Each is met by a
 * program of its own in test/iommufd-pt/differential.test.ts, and over 10,000 runs many times.
 */
export const RARE_DIFFERENCES: readonly string[] = [
  'get-info-ranges-before-device',
  'dma-cc-before-set-iommu',
  'v2-unmap-bisects',
  'v1-unmap-cuts',
  'map-overflow',
  'unmap-overflow',
];

function classify(transition: Transition<Type1IommufdPairState, VmmOp>): string[] {
  const { before, result, after } = transition;
  const labels: string[] = [];
  const declared = result?.detail?.['declared'];
  if (typeof declared === 'string') labels.push(`declared: ${declared}`);
  if (before !== null && before.diverged === null && after.diverged !== null) labels.push(DIVERGED);
  const landed = String(result?.detail?.['type1']).startsWith('vaddr page');
  if (transition.command?.kind === 'dma' && landed && result?.detail?.['compared'] === true) labels.push(DMA_COMPARED);
  return labels;
}

export function type1IommufdDifferentialDesign(
  options: Type1IommufdDifferentialOptions,
): Type1IommufdDifferentialDesign {
  const differences = options.differences ?? type1IommufdDifferences;
  const hooks = { ...soundIommufdHooks, ...options.hooks };
  const iommufd = { ...diffIommufdConfig, iommufd: { ...diffIommufdConfig.iommufd, hooks } };
  const config: Type1IommufdPairConfig = { type1: diffType1Config, iommufd, differences };
  const initial = initDifferentialPair(options.policy);
  return {
    id: options.id,
    stack: DIFFERENTIAL_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    init: () => initial,
    step: guardStep(validateVmmOp, (state, op) => stepType1IommufdPair(state, config, op)),
    resolve: (_state, template) => template,
    commands: type1IommufdCommandSpace(),
    invariants: [type1AndIommufdAgree],
    explore: type1IommufdExploreScope,
    formatCommand: formatVmmOp,
    validateCommand: validateVmmOp,
    classify,
    reach: differentialLabels(differences.filter((difference) => !RARE_DIFFERENCES.includes(difference.id))),
  };
}

export const type1IommufdDifferential = type1IommufdDifferentialDesign({
  id: 'iommufd/differential',
  expected: 'holds',
  description:
    'the same VMM program on VFIO type1 and on the iommufd compat layer, both over VT-d: every DMA lands in the same vaddr’s frame or faults in both, every ioctl agrees, except the declared differences',
});
