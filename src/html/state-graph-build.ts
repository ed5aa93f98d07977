/**
 * The state graph around a counterexample, for designs with an explore scope (small scopes): the
 * trace's states, and from each the states one command of the scope leads to (a few per state),
 * identified by the scope's canonical key, so a command that leads back into a known state draws
 * an edge to it. Generic over stacks: it asks only `explore.templates`, `resolve`, `step`, `key`.
 */
import type { AnyDesign } from '../design.js';
import { formatResult } from '../report.js';
import type { StateGraph } from './report-model.js';

/** Successors drawn per state of the trace (the rest are counted as left out). */
const NEIGHBOURS_MAX = 5;

type Node = StateGraph['nodes'][number];
type Edge = StateGraph['edges'][number];

/** Null for a design without an explore scope, or one whose code throws on the way (the page shows the crash). */
export function graphAround(design: AnyDesign, commands: readonly unknown[]): StateGraph | null {
  const scope = design.explore;
  if (scope === undefined) return null;
  try {
    const nodes = new Map<string, Node>();
    const edges: Edge[] = [];
    const ids = new Map<string, string>();
    const idOf = (key: string): string => {
      const known = ids.get(key);
      if (known !== undefined) return known;
      const id = `s${ids.size}`;
      ids.set(key, id);
      return id;
    };
    const text = (command: unknown): string => design.formatCommand?.(command) ?? JSON.stringify(command);
    let state: unknown = design.init();
    const trace: { key: string; state: unknown }[] = [{ key: scope.key(state), state }];
    for (const command of commands) {
      state = design.step(state, command).state;
      trace.push({ key: scope.key(state), state });
    }
    trace.forEach(({ key }, depth) => {
      const id = idOf(key);
      nodes.set(id, {
        id,
        depth,
        label: depth === 0 ? 'initial state' : `after step ${depth}`,
        onTrace: true,
        violating: depth === trace.length - 1,
      });
    });
    let omitted = 0;
    trace.forEach(({ key, state: from }, depth) => {
      const next = trace[depth + 1];
      const command = commands[depth];
      if (next !== undefined && command !== undefined) {
        const result = design.step(from, command).result;
        edges.push({
          from: idOf(key),
          to: idOf(next.key),
          label: `${text(command)} → ${formatResult(result)}`,
          onTrace: true,
        });
      }
      const seen = new Set<string>();
      let drawn = 0;
      for (const template of scope.templates(from)) {
        const concrete: unknown = design.resolve(from, template);
        const commandKey = JSON.stringify(concrete);
        if (seen.has(commandKey) || (command !== undefined && commandKey === JSON.stringify(command))) continue;
        seen.add(commandKey);
        const step = design.step(from, concrete);
        const toKey = scope.key(step.state);
        if (toKey === key) continue;
        if (drawn >= NEIGHBOURS_MAX) {
          omitted++;
          continue;
        }
        drawn++;
        const to = idOf(toKey);
        if (!nodes.has(to)) nodes.set(to, { id: to, depth: depth + 1, label: to, onTrace: false, violating: false });
        edges.push({ from: idOf(key), to, label: `${text(concrete)} → ${formatResult(step.result)}`, onTrace: false });
      }
    });
    return { nodes: [...nodes.values()], edges, omitted };
  } catch {
    return null;
  }
}
