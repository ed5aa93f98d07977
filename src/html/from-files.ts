/**
 * `dmaprop report FILE…`: the runs of earlier commands, read back: a corpus entry, or the output
 * of `check --json` or `explore --json` (`{ results: [...] }`). Each counterexample's steps are
 * checked as a corpus entry's are (design, invariant, command kinds and fields) and run again
 * through the design, so the page shows what the steps do today.
 */
import type { OpResult } from '../../models/result.js';
import { CORPUS_FORMAT, CORPUS_FORMAT_VERSION } from '../corpus-entry.js';
import { parseEntry } from '../corpus-parse.js';
import type { AnyDesign } from '../design.js';
import type { Outcome } from '../exit-codes.js';
import { outcomeMark } from '../report.js';
import { toolVersion } from '../version.js';
import { entryRow, pageFile, replayedTrace } from './report-model.js';
import type { RunRow, TraceReport } from './report-model.js';

/** A file that is neither a corpus entry nor a `--json` result document, or names what is not registered. */
export class ReportInputError extends Error {}

type Data = Readonly<Record<string, unknown>>;

const isData = (value: unknown): value is Data => value !== null && typeof value === 'object' && !Array.isArray(value);

function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** One `--json` result (of `check` or `explore`) as a row; its traces replayed from their steps. */
function resultRow(result: Data, at: string, registry: readonly AnyDesign[], config?: string): RunRow {
  const id = text(result['design']);
  const design = registry.find((known) => known.id === id);
  if (design === undefined) throw new ReportInputError(`${at}: unknown design '${id}'`);
  const seed = typeof result['seed'] === 'number' ? result['seed'] : null;
  const replay = text(result['replay'], `dmaprop check --design ${id}`);
  const violations = Array.isArray(result['violations']) ? result['violations'] : [];
  const traces: TraceReport[] = violations.map((violation: unknown, index) => {
    const where = `${at}.violations[${index}]`;
    if (!isData(violation)) throw new ReportInputError(`${where}: not an object`);
    const results = Array.isArray(violation['results']) ? (violation['results'] as OpResult[]) : [];
    const entryText = JSON.stringify({
      format: CORPUS_FORMAT,
      formatVersion: CORPUS_FORMAT_VERSION,
      stack: design.stack,
      design: design.id,
      invariant: violation['invariant'],
      expect: 'violation',
      steps: violation['steps'],
      results: results.map((step) => (step.ok ? { ok: true } : { ok: false, error: String(step.error) })),
      message: text(violation['message']),
      found: { seed: seed ?? 0, date: new Date(0).toISOString(), toolVersion },
    });
    let parsed;
    try {
      parsed = parseEntry(entryText, where, registry);
    } catch (error) {
      throw new ReportInputError((error as Error).message);
    }
    const trace = replayedTrace(parsed.entry, design, {
      file: where,
      replay,
      origin: seed === null ? at : `${at}, seed ${seed}`,
      ...(config === undefined ? {} : { config }),
    });
    return { ...trace, file: pageFile(design.id, text(violation['invariant']), seed ?? undefined) };
  });
  const runs = typeof result['runs'] === 'number' ? `${result['runs']} runs` : null;
  const states =
    typeof result['states'] === 'number'
      ? `${result['states']} states to depth ${String(result['depthReached'])}`
      : null;
  const outcome = text(result['outcome'], 'inconclusive') as Outcome;
  return {
    design: design.id,
    stack: design.stack,
    expected: design.expected,
    verdict: text(result['verdict'], '?'),
    mark: outcomeMark(outcome) ?? '?',
    met: result['met'] === true,
    size: runs ?? states ?? '',
    seed,
    elapsedMs: typeof result['elapsedMs'] === 'number' ? result['elapsedMs'] : 0,
    reason:
      typeof result['reason'] === 'string'
        ? result['reason']
        : typeof result['message'] === 'string'
          ? result['message']
          : null,
    traces,
  };
}

/** The rows of one file's text: a corpus entry's, or each result of a `--json` document. */
export function rowsOfFile(content: string, file: string, registry: readonly AnyDesign[], config?: string): RunRow[] {
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (error) {
    throw new ReportInputError(`${file}: not JSON (${(error as Error).message})`);
  }
  if (isData(data) && data['format'] === CORPUS_FORMAT) {
    let parsed;
    try {
      parsed = parseEntry(content, file, registry);
    } catch (error) {
      throw new ReportInputError((error as Error).message);
    }
    return [entryRow(parsed.entry, parsed.design, file, config)];
  }
  if (isData(data) && Array.isArray(data['results'])) {
    return data['results'].map((result: unknown, index) => {
      const at = `${file}: results[${index}]`;
      if (!isData(result)) throw new ReportInputError(`${at}: not an object`);
      return resultRow(result, at, registry, config);
    });
  }
  throw new ReportInputError(`${file}: neither a corpus entry nor the output of check --json or explore --json`);
}
