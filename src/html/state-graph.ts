/**
 * The state graph around a counterexample (explore, small scopes) as SVG (hastscript): a column
 * per depth, the counterexample's states and commands drawn in blue, the violating state in red.
 */
import { s } from 'hastscript';
import type { Element } from 'hast';
import type { StateGraph } from './report-model.js';

const COLUMN_PX = 170;
const ROW_PX = 52;
const MARGIN_PX = 30;

export function stateGraph(graph: StateGraph): Element {
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const node of graph.nodes) {
    const row = rows.get(node.depth) ?? 0;
    rows.set(node.depth, row + 1);
    at.set(node.id, { x: MARGIN_PX + node.depth * COLUMN_PX, y: MARGIN_PX + row * ROW_PX });
  }
  const width = MARGIN_PX * 2 + Math.max(0, ...graph.nodes.map((node) => node.depth)) * COLUMN_PX + 60;
  const height = MARGIN_PX * 2 + Math.max(1, ...rows.values()) * ROW_PX;
  const edges = graph.edges.flatMap((edge) => {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (from === undefined || to === undefined) return [];
    return [
      s('g', { className: ['edge', ...(edge.onTrace ? ['on-trace'] : [])] }, [
        s('title', edge.label),
        s('line', { x1: from.x, y1: from.y, x2: to.x, y2: to.y }),
        ...(edge.onTrace
          ? [
              s(
                'text',
                { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 - 4, textAnchor: 'middle' },
                edge.label.slice(0, 28),
              ),
            ]
          : []),
      ]),
    ];
  });
  const nodes = graph.nodes.map((node) => {
    const { x, y } = at.get(node.id) ?? { x: 0, y: 0 };
    return s(
      'g',
      {
        className: ['node', ...(node.onTrace ? ['on-trace'] : []), ...(node.violating ? ['violating'] : [])],
        dataState: node.id,
      },
      [
        s('title', node.label),
        s('circle', { cx: x, cy: y, r: 9 }),
        s('text', { x: x - 8, y: y + 22 }, node.label.slice(0, 18)),
      ],
    );
  });
  return s(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      className: ['state-graph'],
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
    },
    [
      ...edges,
      ...nodes,
      ...(graph.omitted > 0
        ? [s('text', { x: MARGIN_PX, y: height - 8 }, `${graph.omitted} more states around it left out`)]
        : []),
    ],
  );
}
