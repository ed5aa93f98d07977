/**
 * A counterexample as a message sequence chart (SVG, built with hastscript): a lifeline per actor
 * in order of first appearance (`Design.actorOf`; one `caller` lane on a stack that does not say),
 * and the system under test on the right. Each step is an arrow from its actor to the system,
 * labelled with its number and command, its result at the arrow's head; the violating step is
 * drawn in red and marked ✗. An operation left in flight (a phased command, `Design.inflight`) is a
 * bar on its actor's lifeline from the step that started it to the one that finished it, so the
 * steps that ran meanwhile read as concurrent with it. Labels are cut to fit; the full text is the arrow's tooltip and is
 * in the step list below the chart.
 */
import { s } from 'hastscript';
import type { Element } from 'hast';
import type { TraceStep } from './trace-states.js';

/** The chart fits this width when it can (lanes narrow down to LANE_MIN_PX, then it scrolls). */
const CHART_WIDTH_PX = 1150;
const LANE_MAX_PX = 200;
const LANE_MIN_PX = 130;
const ROW_HEIGHT_PX = 44;
const HEAD_HEIGHT_PX = 40;
const LEFT_PX = 90;
/** Roughly how many characters of 12px monospace fit in `px`. */
const charsIn = (px: number): number => Math.max(8, Math.floor(px / 7.3));

function cut(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

export function sequenceChart(steps: readonly TraceStep[], system: string, violatingStep: number): Element {
  const actors = [...new Set(steps.map((step) => step.actor ?? 'caller'))];
  const lanes = [...actors, system];
  const laneWidth = Math.max(LANE_MIN_PX, Math.min(LANE_MAX_PX, (CHART_WIDTH_PX - LEFT_PX) / (lanes.length + 0.5)));
  const x = (lane: number): number => LEFT_PX + lane * laneWidth;
  const width = Math.ceil(x(lanes.length - 1) + laneWidth * 1.5);
  const rowY = (index: number): number => HEAD_HEIGHT_PX + (index + 1) * ROW_HEIGHT_PX;
  const height = HEAD_HEIGHT_PX + (steps.length + 1) * ROW_HEIGHT_PX;
  const systemX = x(lanes.length - 1);
  const lifelines = lanes.map((lane, index) =>
    s('g', { className: ['lane'], dataLane: lane }, [
      s(
        'text',
        { x: x(index), y: 20, textAnchor: 'middle', className: ['lane-name'] },
        cut(lane, charsIn(laneWidth - 10)),
      ),
      s('line', { x1: x(index), y1: 28, x2: x(index), y2: height - 8, className: ['lifeline'] }),
    ]),
  );
  const arrows = steps.map((step, index) => {
    const y = rowY(index);
    const from = x(actors.indexOf(step.actor ?? 'caller'));
    const violating = step.number === violatingStep;
    const classes = ['arrow', step.result.ok ? 'ok' : 'refused', ...(violating ? ['violating'] : [])];
    const label = `${step.number}. ${step.text}`;
    return s('g', { className: classes, dataStep: step.number, ...(violating ? { dataViolating: 'true' } : {}) }, [
      s('title', `${label} → ${step.resultText}${violating ? ' (violating step)' : ''}`),
      s('text', { x: 8, y: y + 4, className: ['step-number'] }, `${violating ? '✗ ' : ''}${step.number}`),
      s('line', {
        x1: from,
        y1: y,
        x2: systemX - 4,
        y2: y,
        markerEnd: violating ? 'url(#head-violating)' : 'url(#head)',
      }),
      s('text', { x: from + 6, y: y - 6, className: ['label'] }, cut(label, charsIn(systemX - from - 12))),
      s(
        'text',
        { x: systemX + 8, y: y + 4, className: ['result'] },
        cut(`→ ${step.resultText}`, charsIn(laneWidth * 1.5 - 12)),
      ),
    ]);
  });
  // Each actor's in-flight spans: consecutive steps after which it has an operation in flight.
  const bars = actors.flatMap((actor, lane) => {
    const spans: Element[] = [];
    let start: number | null = null;
    steps.forEach((step, index) => {
      const busy = step.inflight.filter((operation) => operation.actor === actor);
      if (busy.length > 0 && start === null) start = index;
      const last = index === steps.length - 1;
      if (start !== null && (busy.length === 0 || last)) {
        const end = busy.length === 0 ? index : index + 0.6;
        const what = steps[start]?.inflight
          .filter((operation) => operation.actor === actor)
          .map((operation) => operation.text);
        spans.push(
          s(
            'rect',
            {
              className: ['inflight'],
              x: x(lane) - 5,
              y: rowY(start),
              width: 10,
              height: (end - start) * ROW_HEIGHT_PX,
            },
            [
              s(
                'title',
                `${actor}: in flight (${(what ?? []).join('; ')}) from step ${start + 1}${busy.length === 0 ? ` to step ${index + 1}` : ''}`,
              ),
            ],
          ),
        );
        start = null;
      }
    });
    return spans;
  });
  const head = (id: string, className: string): Element =>
    s('marker', { id, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto' }, [
      s('path', { d: 'M0,0 L10,5 L0,10 z', className: [className] }),
    ]);
  return s(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      className: ['sequence-chart'],
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      ariaLabel: `sequence chart: ${steps.length} steps across ${lanes.length} lanes`,
    },
    [s('defs', [head('head', 'head'), head('head-violating', 'head violating')]), ...lifelines, ...bars, ...arrows],
  );
}
