/**
 * How a XenGT design is built: a configuration of the stack plus its expected verdict. The
 * built-in designs are made with this, exactly as a user would make a variant of their own.
 */
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { xenGtConfig } from '../../models/xengt/config.js';
import type { XenGtConfig, XenGtConfigOptions } from '../../models/xengt/config.js';
import { initXenGt, stepXenGt } from '../../models/xengt/step.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { Design, Expectation } from '../../src/design.js';
import { explainXenGtStep } from './explain.js';
import { xenGtExploreScope } from './explore-scope.js';
import { formatXenGtCommand } from './format.js';
import { xenGtCommandSpace } from './generators.js';
import type { XenGtCommandSet } from './generators.js';
import { xenGtInvariants } from './invariants/index.js';
import { resolveXenGt } from './resolve.js';
import { validateXenGtCommand, validateXenGtTemplate } from './schema.js';
import { guardResolve, guardStep } from '../generic/guard.js';
import type { XenGtTemplate } from './resolve.js';
import { xenGtUniverse } from './universe.js';

export const XENGT_STACK = 'XenGT';

/** A refused command's result: the GPU accessed nothing. */
const noAccesses = { accesses: [] };

export interface XenGtDesignOptions extends XenGtConfigOptions {
  readonly id: string;
  readonly expected: Expectation;
  readonly description: string;
  readonly breaks?: readonly string[];
  /** The commands it generates: the full set (default), or the Xen side only. */
  readonly commands?: XenGtCommandSet;
}

export type XenGtDesign = Design<XenGtState, XenGtCommand, XenGtTemplate> & { readonly config: XenGtConfig };

export function xenGtDesign(options: XenGtDesignOptions): XenGtDesign {
  const config = xenGtConfig(options);
  const universe = xenGtUniverse(config);
  return {
    id: options.id,
    stack: XENGT_STACK,
    expected: options.expected,
    description: options.description,
    breaks: options.breaks ?? [],
    config,
    init: () => initXenGt(config),
    step: guardStep(validateXenGtCommand, (state, command) => stepXenGt(state, config, command), noAccesses),
    resolve: guardResolve(validateXenGtTemplate, (state, template) => resolveXenGt(state, config, universe, template)),
    commands: xenGtCommandSpace(config, universe, options.commands ?? 'full'),
    invariants: xenGtInvariants(config),
    formatCommand: formatXenGtCommand,
    validateCommand: validateXenGtCommand,
    explainStep: (transition) => explainXenGtStep(config, transition),
    explore: xenGtExploreScope(config, universe),
    // Xen's memory and domains (copy-on-write: the same objects unless a step changed them) and
    // the mediator's parts: every invariant's reads lie within them.
    parts: (state) => [state.xen.memory, state.xen.domains, state.vgpu, state.guestPages, state.writeProtected],
  };
}
