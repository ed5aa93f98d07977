/**
 * The report's pages as hast trees (hastscript), serialized by hast-util-to-html, which escapes
 * every text and attribute: an index of the run (designs, verdicts, counts, links) and a page per
 * counterexample or crash (sequence chart, the violation's actual vs expected, each step with the
 * state that matters and what it changed, the replay command and TS snippet).
 */
import { h } from 'hastscript';
import type { Element, Root } from 'hast';
import { toHtml } from 'hast-util-to-html';
import { formatMs } from '../report.js';
import { COPY_SCRIPT, STYLE } from './assets.js';
import type { RunReport, TraceReport } from './report-model.js';
import { sequenceChart } from './sequence-chart.js';
import { stateGraph } from './state-graph.js';
import type { TraceStep } from './trace-states.js';

function document(title: string, body: Element[]): string {
  const tree: Root = h(null, [
    { type: 'doctype' },
    h('html', { lang: 'en' }, [
      h('head', [
        h('meta', { charset: 'utf-8' }),
        h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
        h('title', title),
        h('style', STYLE),
      ]),
      h('body', [...body, h('script', COPY_SCRIPT)]),
    ]),
  ]);
  return `${toHtml(tree)}\n`;
}

function copyable(id: string, label: string, text: string): Element {
  return h('div', { className: ['copyable'] }, [
    h('button', { type: 'button', className: ['copy'], dataTarget: id }, 'copy'),
    h('h3', label),
    h('pre', { id }, text),
  ]);
}

export function indexPage(run: RunReport): string {
  const traces = run.rows.reduce((count, row) => count + row.traces.length, 0);
  const unmet = run.rows.filter((row) => !row.met).length;
  return document(run.title, [
    h('h1', run.title),
    h(
      'p',
      { className: ['muted'] },
      `${run.rows.length} design${run.rows.length === 1 ? '' : 's'}, ${unmet} not as expected, ${traces} counterexample${traces === 1 ? '' : 's'}`,
    ),
    h('table', { className: ['index'] }, [
      h(
        'thead',
        h(
          'tr',
          ['design', 'stack', 'expected', 'verdict', 'searched', 'seed', 'time', 'counterexamples'].map((name) =>
            h('th', name),
          ),
        ),
      ),
      h(
        'tbody',
        run.rows.map((row) =>
          h('tr', { dataDesign: row.design }, [
            h('td', h('code', row.design)),
            h('td', row.stack),
            h('td', row.expected),
            h('td', { className: [row.met ? 'verdict-met' : 'verdict-unmet'] }, [
              `${row.verdict} ${row.mark}`,
              ...(row.reason === null ? [] : [h('div', { className: ['muted'] }, row.reason)]),
            ]),
            h('td', row.size),
            h('td', row.seed === null ? '–' : String(row.seed)),
            h('td', formatMs(row.elapsedMs)),
            h(
              'td',
              row.traces.length === 0
                ? '–'
                : h(
                    'ul',
                    row.traces.map((trace) =>
                      h('li', [h('a', { href: trace.file }, trace.title), ` (${trace.steps.length} steps)`]),
                    ),
                  ),
            ),
          ]),
        ),
      ),
    ]),
  ]);
}

function stepSection(step: TraceStep, violatingStep: number): Element {
  const violating = step.number === violatingStep;
  const changes = step.parts.flatMap((part) => [
    h('tr', h('td', { className: ['part'], colSpan: 4 }, part.part)),
    ...part.changes.map((change) =>
      h('tr', { className: change.named ? ['named'] : [] }, [
        h('td', change.path === '' ? '(the whole part)' : change.path),
        h('td', change.change),
        h('td', { className: ['before'] }, change.before),
        h('td', { className: ['after'] }, change.after),
      ]),
    ),
    ...(part.omitted > 0
      ? [h('tr', h('td', { colSpan: 4, className: ['muted'] }, `… ${part.omitted} more changes`))]
      : []),
  ]);
  return h(
    'section',
    {
      id: `step-${step.number}`,
      className: ['step', ...(violating ? ['violating'] : [])],
      dataStep: step.number,
      ...(violating ? { dataViolating: 'true' } : {}),
    },
    [
      h('h3', [
        `${violating ? '✗ ' : ''}${step.number}. `,
        ...(step.actor === null ? [] : [h('span', { className: ['actor'] }, step.actor), ' ']),
        h('code', step.text),
        ' → ',
        h('code', { className: step.result.ok ? [] : ['refused'] }, step.resultText),
        ...(violating ? [h('strong', { className: ['verdict-unmet'] }, ' — the violating step')] : []),
      ]),
      ...(step.explain.length === 0
        ? []
        : [
            h(
              'div',
              { className: ['explain'], title: 'the state that matters (dmaprop replay)' },
              step.explain.map((line) => h('div', line)),
            ),
          ]),
      ...(step.inflight.length === 0
        ? []
        : [
            h(
              'p',
              { className: ['inflight'] },
              `in flight after it: ${step.inflight.map((operation) => `${operation.actor}'s ${operation.text}`).join('; ')}`,
            ),
          ]),
      step.parts.length === 0
        ? h('p', { className: ['muted'] }, 'the state did not change')
        : h('details', { open: violating || step.parts.length <= 3 }, [
            h('summary', `what changed: ${step.parts.map((part) => part.part).join(', ')}`),
            h('table', { className: ['diff'] }, [
              h(
                'thead',
                h(
                  'tr',
                  ['path', 'change', 'before', 'after'].map((name) => h('th', name)),
                ),
              ),
              h('tbody', changes),
            ]),
          ]),
    ],
  );
}

export function tracePage(trace: TraceReport, indexFile: string | null): string {
  const stepWord = `${trace.steps.length} step${trace.steps.length === 1 ? '' : 's'}`;
  const problem: Element[] = [];
  if (trace.violation !== null) {
    problem.push(
      h('div', { className: ['violation'], id: 'violation' }, [
        h('p', [
          h(
            'strong',
            trace.violatingStep === 0
              ? 'violated in the initial state: '
              : `violated after step ${trace.violatingStep}: `,
          ),
          trace.violation.message,
        ]),
        h('table', [
          h('tr', [h('td', 'actual'), h('td', h('code', trace.violation.actual))]),
          h('tr', [h('td', 'expected'), h('td', h('code', trace.violation.expected))]),
        ]),
      ]),
    );
  }
  if (trace.crash !== null) {
    problem.push(
      h('div', { className: ['violation'], id: 'violation' }, [
        h('p', [
          h('strong', `crashed at ${trace.crash.where}: `),
          h('code', `${trace.crash.name}: ${trace.crash.message}`),
        ]),
      ]),
    );
  }
  return document(`${trace.design}: ${trace.title}`, [
    ...(indexFile === null ? [] : [h('p', h('a', { href: indexFile }, '← all designs of this run'))]),
    h('h1', [
      h('code', trace.design),
      ': ',
      trace.title,
      trace.invariantClass === null ? '' : ` (${trace.invariantClass})`,
    ]),
    h('p', { className: ['muted'] }, `${trace.stack} · ${stepWord} · ${trace.origin} · ${trace.description}`),
    ...problem,
    h('h2', 'Sequence chart'),
    h('div', { className: ['chart'] }, sequenceChart(trace.steps, trace.stack, trace.violatingStep)),
    h('h2', 'Steps'),
    h(
      'p',
      { className: ['muted'] },
      'Each step with the state that matters after it (highlighted, as dmaprop replay prints it) and what it changed in the state, by part; changes to what the highlighted lines name are highlighted too.',
    ),
    ...trace.steps.map((step) => stepSection(step, trace.violatingStep)),
    ...(trace.graph === null
      ? []
      : [
          h('h2', 'State graph around the counterexample'),
          h('div', { className: ['graph'] }, stateGraph(trace.graph)),
        ]),
    h('h2', 'Replay'),
    ...(trace.replay === null ? [] : [copyable('replay-command', 'command line', trace.replay)]),
    ...(trace.replayNote === null ? [] : [h('p', { className: ['muted'] }, trace.replayNote)]),
    copyable('replay-snippet', 'TypeScript (the public API)', trace.snippet),
  ]);
}
