/**
 * The command line that runs a check again exactly: the same design, seed and budget, and every
 * option that shaped the search (the longest sequence, the shard). A check cut short by its time
 * limit is replayed over the runs it made, without the limit, so the replay is deterministic.
 */
import type { DesignCheck } from './check.js';
import { defaultGeneration } from './generate.js';
import type { GenerationOptions } from './generate.js';

export interface ReplayCommand {
  /** `dmaprop check --design … --seed … --runs …`, with only flags and values the CLI accepts. */
  readonly command: string;
  /** Options of the check that the CLI cannot set (a library caller's), in words; null when none. */
  readonly note: string | null;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function replayCommand(check: DesignCheck, config?: string): ReplayCommand {
  const words = ['dmaprop', 'check'];
  if (config !== undefined) words.push('--config', config);
  words.push('--design', check.design, '--seed', String(check.seed));
  words.push('--runs', String(check.cutShort === null ? check.budget.runs : Math.max(1, check.lastRun)));
  const generation: Partial<GenerationOptions> = check.budget.generation;
  if (generation.maxCommands !== undefined) words.push('--max-commands', String(generation.maxCommands));
  if (generation.preemptions !== undefined) words.push('--preemptions', String(generation.preemptions));
  if (check.budget.strict) words.push('--strict');
  if (check.budget.guided) words.push('--guided');
  const shard = check.budget.shard;
  if (shard !== null) words.push('--shard', `${shard.index}/${shard.count}`);
  const unsettable = Object.entries(generation)
    .filter(([key, value]) => key !== 'maxCommands' && key !== 'preemptions' && value !== undefined)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  if (check.budget.report !== null) unsettable.push(`report=${JSON.stringify(check.budget.report)}`);
  return {
    command: words.map(shellWord).join(' '),
    note:
      unsettable.length === 0
        ? null
        : `generated with options the CLI cannot set (${unsettable.join(', ')}; defaults ${JSON.stringify(defaultGeneration)}): replay through the library with checkDesign`,
  };
}
