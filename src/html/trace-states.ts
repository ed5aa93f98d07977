/**
 * A trace step by step with what each step changed, for the HTML report: the design's steps run
 * again from `init`, and each state compared with the one before it as plain data (microdiff), the
 * changes grouped by the state's top-level part. Generic over stacks, so a user's own design gets
 * the same view: frames (owner, holders, refcount), page tables, IOTLB, shadow GTT, grants are
 * whatever paths its state has. The lines of `explainStep` (what `dmaprop replay` prints) come
 * with each step, and a change whose path names something those lines name is marked.
 */
import diff from 'microdiff';
import type { OpResult } from '../../models/result.js';
import type { AnyDesign } from '../design.js';
import { explainTrace } from '../explain-trace.js';
import { formatResult } from '../report.js';

export interface StateChange {
  /** Dotted path below the part (`iotlb.3.mfn`); empty when the part itself changed. */
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** The values as short JSON ('' when absent on that side). */
  readonly before: string;
  readonly after: string;
  /** The path names something the step's `explainStep` lines name (IOTLB, a frame number …). */
  readonly named: boolean;
}

export interface PartChanges {
  /** The state's top-level key (`frames`, `iommu`, `host` …). */
  readonly part: string;
  readonly changes: readonly StateChange[];
  /** Changes left out of `changes` (a step that rewrote a large table). */
  readonly omitted: number;
}

export interface TraceStep {
  /** 1-based. */
  readonly number: number;
  readonly command: unknown;
  /** The command in the design's words (`formatCommand`), or JSON. */
  readonly text: string;
  readonly actor: string | null;
  readonly result: OpResult;
  readonly resultText: string;
  /** The state that matters after the step (`explainStep`), as `dmaprop replay` prints it. */
  readonly explain: readonly string[];
  readonly parts: readonly PartChanges[];
  /** Operations in flight after the step (`Design.inflight`), oldest first: who runs each, and where it is. */
  readonly inflight: readonly { readonly actor: string; readonly text: string }[];
}

/** Longest value shown in a diff cell, in characters. */
const VALUE_MAX = 160;
/** Most changes listed per part and step. */
const CHANGES_MAX = 60;

function shortJson(value: unknown): string {
  if (value === undefined) return '';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length <= VALUE_MAX ? text : `${text.slice(0, VALUE_MAX - 1)}…`;
}

/** The words of the explain lines, lower-case, letters only, and the numbers they mention. */
function namedWords(lines: readonly string[]): Set<string> {
  const words = new Set<string>();
  for (const line of lines) for (const word of line.toLowerCase().match(/[a-z]{3,}|\d+/g) ?? []) words.add(word);
  return words;
}

/** A path is named when one of its keys (split at camelCase) is a word of the explain lines. */
function isNamed(path: readonly (string | number)[], words: ReadonlySet<string>): boolean {
  return path.some((key) => {
    if (typeof key === 'number') return false;
    const parts = key
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toLowerCase()
      .split(/[^a-z]+/)
      .filter((part) => part.length >= 3 && !['the', 'and', 'for'].includes(part));
    return parts.some((part) => words.has(part) || words.has(`${part}s`) || words.has(part.replace(/s$/, '')));
  });
}

/** What one step changed, grouped by top-level part, in the state's key order. */
export function stateChanges(before: unknown, after: unknown, explain: readonly string[] = []): PartChanges[] {
  const words = namedWords(explain);
  const wrap = (state: unknown): Record<string, unknown> =>
    state !== null && typeof state === 'object' ? (state as Record<string, unknown>) : { state };
  const groups = new Map<string, StateChange[]>();
  for (const found of diff(wrap(before), wrap(after))) {
    const [head, ...rest] = found.path;
    const part = String(head);
    const change: StateChange = {
      path: rest.join('.'),
      change: found.type === 'CREATE' ? 'added' : found.type === 'REMOVE' ? 'removed' : 'changed',
      before: found.type === 'CREATE' ? '' : shortJson(found.oldValue),
      after: found.type === 'REMOVE' ? '' : shortJson(found.type === 'CREATE' ? found.value : found.value),
      named: isNamed(found.path, words),
    };
    const list = groups.get(part) ?? [];
    list.push(change);
    groups.set(part, list);
  }
  return [...groups].map(([part, changes]) => ({
    part,
    changes: changes.slice(0, CHANGES_MAX),
    omitted: Math.max(0, changes.length - CHANGES_MAX),
  }));
}

/**
 * Each step of `commands` that returns, with its result, actor, explanation and changes; never
 * throws (a design that throws part-way gives the steps before it, as `explainTrace` does).
 */
export function traceSteps(design: AnyDesign, commands: readonly unknown[]): TraceStep[] {
  const explained = explainTrace(design, commands);
  const steps: TraceStep[] = [];
  try {
    let state: unknown = design.init();
    explained.forEach((step, index) => {
      const actor = design.actorOf?.(state, step.command) ?? null;
      const { state: after } = design.step(state, step.command);
      steps.push({
        number: index + 1,
        command: step.command,
        text: design.formatCommand?.(step.command) ?? JSON.stringify(step.command),
        actor,
        result: step.result,
        resultText: formatResult(step.result),
        explain: step.state,
        parts: stateChanges(state, after, step.state),
        inflight: (design.inflight?.(after) ?? []).map((operation) => ({
          actor: operation.actor,
          text: `${operation.kind}, next: ${operation.phase}`,
        })),
      });
      state = after;
    });
  } catch {
    // explainTrace ran the same steps; a design that throws the second time is not deterministic.
  }
  return steps;
}
