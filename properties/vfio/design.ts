/**
 * How a VFIO design is built: a stack world (passthrough, noiommu or mediated), the model's
 * deliberate bugs if any, and the expected verdict — the same way a user writes a variant.
 */
import type { AllocPolicy } from '../../models/memory/frames.js';
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioBug, VfioConfig } from '../../models/vfio/config.js';
import { stepVfio } from '../../models/vfio/step.js';
import type { VfioState } from '../../models/vfio/types.js';
import { guardStep } from '../generic/guard.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainVfioStep } from './explain.js';
import { vfioExploreScope } from './explore-scope.js';
import { formatVfioCommand } from './format.js';
import { vfioCommandSpace } from './generators.js';
import { vfioInvariants } from './invariants/index.js';
import { classifyMediatedStep, mediatedReach } from './reach.js';
import { validateVfioCommand } from './schema.js';
import { initVfioWorld } from './world.js';
import type { VfioStackKind } from './world.js';

/** A refused command's result: nothing translated, no device access. */
const noEffects = { effects: [], accesses: [] };

export interface VfioDesignOptions {
  readonly id: string;
  readonly world: VfioStackKind;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  readonly bugs?: readonly VfioBug[];
  readonly policy?: AllocPolicy;
}

export type VfioDesign = Design<VfioState, VfioCommand, VfioCommand> & { readonly config: VfioConfig };

export function vfioDesign(options: VfioDesignOptions): VfioDesign {
  const config: VfioConfig = { bugs: options.bugs ?? [] };
  const initial = initVfioWorld(options.world, config, options.policy);
  return {
    id: options.id,
    stack: options.world === 'mediated' ? 'mediated' : 'passthrough',
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateVfioCommand, (state, command) => stepVfio(state, config, command), noEffects),
    resolve: (_state, template) => template,
    commands: vfioCommandSpace(options.world),
    invariants: vfioInvariants,
    formatCommand: formatVfioCommand,
    validateCommand: validateVfioCommand,
    explainStep: explainVfioStep,
    explore: vfioExploreScope(options.world),
    ...(options.world === 'mediated' ? { classify: classifyMediatedStep, reach: mediatedReach } : {}),
  };
}
