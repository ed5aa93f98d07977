/**
 * How a KVMGT design is built: the mediator's two design choices (write protection, command
 * buffer handling), what the vGPU's dma_unmap op does, deliberate bugs of the mediator or of
 * VFIO, and the expected verdict — the same way a user writes a variant.
 */
import type { GvtBug, GvtConfig } from '../../models/gvt/config.js';
import { kvmgtLayout } from '../../models/kvmgt/config.js';
import type { KvmgtBug, KvmgtConfig, UnmapCallback } from '../../models/kvmgt/config.js';
import { stepKvmgt } from '../../models/kvmgt/step.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import { initKvmgt } from '../../models/kvmgt/world.js';
import type { VfioBug } from '../../models/vfio/config.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainKvmgtStep } from './explain.js';
import { kvmgtExploreScope } from './explore-scope.js';
import { formatKvmgtCommand, validateKvmgtCommand, validateKvmgtTemplate } from './format.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import { kvmgtCommandSpace, resolveKvmgt } from './generators.js';
import type { KvmgtTemplate } from './generators.js';
import { kvmgtInvariants } from './invariants/index.js';

export const KVMGT_STACK = 'KVMGT';

/** A refused command's result: the GPU accessed nothing. */
const noAccesses = { accesses: [] };

export interface KvmgtDesignOptions {
  readonly id: string;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  readonly writeProtect?: boolean;
  readonly cmdbuf?: GvtConfig['cmdbuf'];
  readonly unmapCallback?: UnmapCallback;
  readonly gvtBugs?: readonly GvtBug[];
  readonly vfioBugs?: readonly VfioBug[];
  readonly kvmgtBugs?: readonly KvmgtBug[];
}

export type KvmgtDesign = Design<KvmgtState, KvmgtCommand, KvmgtTemplate> & { readonly config: KvmgtConfig };

export function kvmgtDesign(options: KvmgtDesignOptions): KvmgtDesign {
  const config: KvmgtConfig = {
    gvt: {
      layout: kvmgtLayout,
      writeProtect: options.writeProtect ?? true,
      cmdbuf: options.cmdbuf ?? 'shadow-copy',
      bugs: options.gvtBugs ?? [],
    },
    vfio: { bugs: options.vfioBugs ?? [] },
    unmapCallback: options.unmapCallback ?? 'release-shadows',
    bugs: options.kvmgtBugs ?? [],
  };
  const initial = initKvmgt(config);
  return {
    id: options.id,
    stack: KVMGT_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    // Steps never modify the state they are given, so every run can start from the same object.
    init: () => initial,
    step: guardStep(validateKvmgtCommand, (state, command) => stepKvmgt(state, config, command), noAccesses),
    resolve: guardResolve(validateKvmgtTemplate, resolveKvmgt),
    commands: kvmgtCommandSpace,
    invariants: kvmgtInvariants(config),
    formatCommand: formatKvmgtCommand,
    validateCommand: validateKvmgtCommand,
    explainStep: (transition) => explainKvmgtStep(config, transition),
    // Every known counterexample is at most 6 steps, and the world is small: sequences of up to
    // 40 commands reach as much as 100 do here and shrink faster.
    generation: { maxCommands: 40 },
    explore: kvmgtExploreScope,
  };
}
