/**
 * Seeded walks through a design's explore scope with every state deep-frozen before it is stepped:
 * a step that writes into its input, or into a part it shares with its input without unsharing
 * it, throws (ES modules run in strict mode). Shared by the copy tests of the stacks that copy on
 * write (`test/vfio/clone.test.ts`, `test/iommufd/clone.test.ts`).
 */
import { findDesign } from '../properties/registry.js';

export function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
}

/**
 * A seeded walk of `steps` steps from the design's start through its explore scope's commands,
 * restarting from the start every `restartEvery` steps (so that a walk sees several depths of the
 * scope); `visit` sees each state before it is frozen and stepped.
 */
export function frozenWalk(
  id: string,
  steps: number,
  seed: number,
  visit: (state: unknown) => void,
  restartEvery = 8,
): void {
  const design = findDesign(id);
  const scope = design?.explore;
  if (design === undefined || scope === undefined) throw new Error(`no explore scope for ${id}`);
  let random = seed;
  const next = (bound: number): number => {
    random = (random * 1103515245 + 12345) % 2 ** 31;
    return random % bound;
  };
  let state = design.init();
  for (let step = 0; step < steps; step++) {
    if (step % restartEvery === 0) state = design.init();
    visit(state);
    deepFreeze(state);
    const templates = scope.templates(state);
    const command = templates[next(templates.length)];
    state = design.step(state, command).state;
  }
}
