/**
 * A counterexample as parallel lanes, one column per actor (a guest vCPU, the backend, the GPU,
 * a timer …), in order of first appearance: each step in its actor's column, so an operation
 * left in flight and the work that ran before it landed read side by side.
 */
export interface LaneStep {
  readonly actor: string;
  readonly text: string;
}

/** Widest column, in characters: longer step texts are cut with an ellipsis. */
const COLUMN_MAX = 36;

function fit(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** The lanes as lines (a header, a rule, one line per step); empty when one actor ran everything. */
export function formatLanes(steps: readonly LaneStep[], indent = '    '): string[] {
  const actors = [...new Set(steps.map((step) => step.actor))];
  if (actors.length < 2) return [];
  const widths = actors.map((actor) =>
    Math.min(
      COLUMN_MAX,
      Math.max(actor.length, ...steps.filter((step) => step.actor === actor).map((step) => step.text.length)),
    ),
  );
  const row = (cells: readonly string[]): string =>
    `${indent}${cells.map((cell, column) => fit(cell, widths[column] ?? COLUMN_MAX)).join(' │ ')}`.trimEnd();
  const number = (index: number): string => `${String(index + 1).padStart(3)}. `;
  return [
    `${' '.repeat(5)}${row(actors)}`,
    `${' '.repeat(5)}${indent}${widths.map((width) => '─'.repeat(width)).join('─┼─')}`,
    ...steps.map((step, index) => {
      const cells = actors.map((actor) => (actor === step.actor ? step.text : ''));
      return `${number(index)}${row(cells)}`;
    }),
  ];
}
