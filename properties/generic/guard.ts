/**
 * A design's step and resolve as the library hands them out: commands from a caller are checked
 * against the stack's schema (`command-schema.ts`) the way commands read from files are. A command
 * the schema refuses — not an object, an unknown kind, a missing, extra or mistyped field, a value
 * wider than the real field — is answered `EINVAL` with the first bad field, and the state handed
 * back is the very object the step was given. A template the schema refuses resolves to itself,
 * so the step refuses it in turn; `resolve` never runs on it.
 *
 * Everything the schema lets through reaches the model, which answers an invalid request (an
 * unpopulated gfn, an unmapped IOVA) with the real system's error.
 */
import type { OpResult } from '../../models/result.js';
import type { CommandProblem, Step } from '../../src/design.js';

export type CommandCheck = (command: unknown) => CommandProblem | null;

/**
 * `step` behind `validate`. `nothing`: the stack's own result fields for a step that did nothing
 * (no device accesses, no translation effects, no costs), so that whatever reads a stack's results
 * finds them on a refusal too.
 */
export function guardStep<S, C>(
  validate: CommandCheck,
  step: (state: S, command: C) => Step<S>,
  nothing: object = {},
): (state: S, command: C) => Step<S> {
  return (state, command) => {
    const problem = validate(command);
    if (problem === null) return step(state, command);
    const result: OpResult = {
      ...nothing,
      ok: false,
      error: 'EINVAL',
      detail: { field: problem.field, problem: problem.problem },
    };
    return { state, result };
  };
}

/** `resolve` behind `validate`: a template the schema refuses resolves to itself. */
export function guardResolve<S, T, C>(
  validate: CommandCheck,
  resolve: (state: S, template: T) => C,
): (state: S, template: T) => C {
  return (state, template) => (validate(template) === null ? resolve(state, template) : (template as unknown as C));
}
