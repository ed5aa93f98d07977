/** Runs vIOMMU commands through a design's model, keeping each step's result and state (phase and lifecycle tests). */
import { stepViommu } from '../../models/viommu/step.js';
import type { ViommuCommand, ViommuResult, ViommuState } from '../../models/viommu/types.js';
import type { ViommuDesign } from '../../properties/viommu/design.js';

export function runViommu(
  design: ViommuDesign,
  commands: readonly ViommuCommand[],
): { state: ViommuState; results: ViommuResult[]; states: ViommuState[] } {
  let state = design.init();
  const results: ViommuResult[] = [];
  const states: ViommuState[] = [];
  for (const command of commands) {
    const step = stepViommu(state, design.config, command);
    results.push(step.result);
    states.push(step.state);
    state = step.state;
  }
  return { state, results, states };
}
