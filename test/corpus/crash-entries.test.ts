/**
 * Crash entries (format 2): an exception thrown by a design's own code, saved with the steps up
 * to the throw and the error without its stack, replayed to throw again at the last step from the
 * same place. And an entry expected to hold or to violate that now crashes is a problem, not an
 * exception.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { CorpusError, entryForCrash, parseEntry, replayCorpus, replayEntry, saveEntry } from '../../src/corpus.js';
import { CORPUS_FORMAT_VERSION, canonicalKey, crashSites, entryPath } from '../../src/corpus-entry.js';
import type { CorpusEntry, CrashEntry } from '../../src/corpus-entry.js';
import type { AnyDesign } from '../../src/design.js';
import type { CrashSite } from '../../src/execute.js';
import { crashReportFor, crashTraces, crashingCounter } from './crash-design.js';
import type { CrashOptions } from './crash-design.js';
import { temporaryCorpus } from './corpus-fixture.js';

const DATE = new Date('2026-01-02T03:04:05Z');

type Data = Record<string, unknown>;

function crashEntry(site: CrashSite, options: CrashOptions = {}): { entry: CrashEntry; design: AnyDesign } {
  const design = crashingCounter(site, options);
  const invariant = site === 'invariant' ? 'counter-readable' : undefined;
  return { entry: entryForCrash(design, crashReportFor(design, crashTraces[site], invariant), 7, DATE), design };
}

function rejection(data: unknown, registry: readonly AnyDesign[]): { field: string; problem: string } {
  try {
    parseEntry(JSON.stringify(data), 'crash.json', registry);
  } catch (error) {
    if (error instanceof CorpusError) return { field: error.field, problem: error.problem };
    throw error;
  }
  throw new Error('expected the entry to be rejected');
}

describe('crash entries', () => {
  test.for(crashSites)('a crash in %s is saved as format 2 data and replays', (site) => {
    const { entry, design } = crashEntry(site);
    const threwInStep = site === 'resolve' || site === 'step';
    expect(entry).toMatchObject({
      formatVersion: CORPUS_FORMAT_VERSION,
      design: `toy/crash-${site}`,
      expect: 'crash',
      crash: { site, name: 'TypeError', message: 'counter at 3 has no slot' },
      found: { seed: 7, date: '2026-01-02T03:04:05.000Z' },
    });
    expect(CORPUS_FORMAT_VERSION).toBe(2);
    expect(Object.keys(entry.crash)).toEqual(['site', 'name', 'message']);
    expect('invariant' in entry).toBe(site === 'invariant');
    expect(entry.steps).toEqual(crashTraces[site]);
    expect(entry.results).toHaveLength(entry.steps.length - (threwInStep ? 1 : 0));
    expect(entryPath(entry)).toBe(`counter/toy-crash-${site}--crash-${site}--${canonicalKey(entry)}.json`);

    const root = temporaryCorpus();
    const { path, status } = saveEntry(root, entry);
    expect(status).toBe('added');
    const text = readFileSync(path, 'utf8');
    // No stack: it names one machine's paths.
    expect((JSON.parse(text) as { crash: unknown }).crash).toEqual(entry.crash);
    expect(parseEntry(text, path, [design]).entry).toEqual(entry);
    expect(replayEntry(entry, design)).toBeNull();
    expect(replayCorpus(root, [design])).toEqual({ files: 1, passed: 1, problems: [], removed: [] });
    expect(saveEntry(root, entry).status).toBe('exists');
  });

  test('the same crash with another message is the same entry; another error is another', () => {
    const { entry } = crashEntry('step');
    const reworded = crashEntry('step', { message: 'slot 3 missing' }).entry;
    const other = crashEntry('step', { error: RangeError }).entry;
    expect(canonicalKey(reworded)).toBe(canonicalKey(entry));
    expect(canonicalKey(other)).not.toBe(canonicalKey(entry));
    // The site is part of the key too: the same steps crashing in another place are another finding.
    expect(canonicalKey({ ...entry, crash: { ...entry.crash, site: 'resolve' } })).not.toBe(canonicalKey(entry));
  });

  test('a different message is a problem', () => {
    const { entry } = crashEntry('step');
    const now = crashingCounter('step', { message: 'slot 3 missing' });
    expect(replayEntry(entry, now)).toBe(
      'crashes with a different message: now "slot 3 missing", recorded "counter at 3 has no slot"',
    );
  });

  test('a different error or place is a problem', () => {
    const { entry } = crashEntry('step');
    expect(replayEntry(entry, crashingCounter('step', { error: RangeError }))).toBe(
      'crashes differently: now at step 3 (step): RangeError: counter at 3 has no slot; recorded TypeError in step at step 3',
    );
    const invariantEntry = crashEntry('invariant').entry;
    expect(replayEntry(invariantEntry, crashingCounter('classify', { id: 'toy/crash-invariant' }))).toBe(
      'no longer crashes: ran all 2 steps (recorded: TypeError in invariant counter-readable at step 2)',
    );
  });

  test('a fixed bug is a problem: the entry no longer crashes', () => {
    const { entry } = crashEntry('resolve');
    expect(replayEntry(entry, crashingCounter('resolve', { fixed: true }))).toBe(
      'no longer crashes: ran all 3 steps (recorded: TypeError in resolve at step 3)',
    );
  });

  test('a crash earlier than recorded is a problem: the entry is no longer minimal', () => {
    const { entry } = crashEntry('step');
    expect(replayEntry(entry, crashingCounter('step', { at: 2, message: 'counter at 3 has no slot' }))).toBe(
      'crashes at step 2, recorded at step 3: the entry is no longer minimal',
    );
  });

  test('an entry expected to hold that now crashes is a problem, not an exception', () => {
    const design = crashingCounter('step');
    const holds: CorpusEntry = {
      format: 'dmaprop-regression',
      formatVersion: 2,
      stack: 'Counter',
      design: design.id,
      invariant: 'at-most-four',
      expect: 'holds',
      steps: crashTraces.step,
      results: [{ ok: true }, { ok: true }, { ok: true }],
      found: { seed: 1, date: DATE.toISOString(), toolVersion: '0' },
    };
    expect(replayEntry(holds, design)).toBe('crashes at step 3 (step): TypeError: counter at 3 has no slot');
    expect(replayEntry(holds, crashingCounter('step', { fixed: true }))).toBeNull();
    const violation: CorpusEntry = {
      ...holds,
      invariant: 'below-three',
      expect: 'violation',
      steps: crashTraces.invariant,
      results: [{ ok: true }, { ok: true }],
    };
    expect(replayEntry(violation, crashingCounter('invariant'))).toBeNull(); // Only below-three is checked: no crash.
    expect(replayEntry(violation, crashingCounter('classify', { id: 'toy/crash-invariant', at: 2 }))).toBeNull();
    expect(replayEntry(violation, crashingCounter('step', { id: 'toy/crash-invariant', at: 2 }))).toBe(
      'crashes at step 2 (step): TypeError: counter at 2 has no slot',
    );
  });

  test('format 1 entries are still read; crash entries need format 2', () => {
    const { entry, design } = crashEntry('step');
    expect(rejection({ ...entry, formatVersion: 1 }, [design])).toEqual({
      field: 'expect',
      problem: 'crash entries need formatVersion 2',
    });
    const committed = readFileSync(
      'test/regressions/xengt/xen-lookup--no-dma-to-foreign-frame--cb0166ec9f1f1ae4.json',
      'utf8',
    );
    expect((JSON.parse(committed) as { formatVersion: number }).formatVersion).toBe(1);
    expect(parseEntry(committed, 'committed.json', designs).entry.formatVersion).toBe(1);
  });

  const badCrashEntries: readonly [string, (data: Data) => void, string, string][] = [
    [
      'no crash',
      (data) => {
        delete data['crash'];
      },
      'crash',
      'missing',
    ],
    [
      'a stack',
      (data) => {
        data['crash'] = { ...(data['crash'] as object), stack: 'at x' };
      },
      'crash.stack',
      'not recorded (it names one machine and build)',
    ],
    [
      'an unknown site',
      (data) => {
        data['crash'] = { ...(data['crash'] as object), site: 'teardown' };
      },
      'crash.site',
      'expected one of init, resolve, step, invariant, classify, got "teardown"',
    ],
    [
      'no error name',
      (data) => {
        data['crash'] = { ...(data['crash'] as object), name: '' };
      },
      'crash.name',
      'expected the error\'s name, got ""',
    ],
    [
      'an invariant on a step crash',
      (data) => {
        data['invariant'] = 'below-three';
      },
      'invariant',
      'only a crash in an invariant names one (this one crashed in step)',
    ],
    [
      'a result for the throwing step',
      (data) => {
        data['results'] = [{ ok: true }, { ok: true }, { ok: true }];
      },
      'results',
      'expected an array of 2 step results (the last step threw in step)',
    ],
    [
      'a message',
      (data) => {
        data['message'] = 'x';
      },
      'message',
      "not a field of a crash entry (the error's message is crash.message)",
    ],
    [
      'no steps',
      (data) => {
        data['steps'] = [];
        data['results'] = [];
      },
      'steps',
      'a crash in step needs the step it threw at',
    ],
  ];
  test.for(badCrashEntries)('a crash entry with %s is rejected', ([, change, field, problem]) => {
    const { entry, design } = crashEntry('step');
    const data = structuredClone(entry) as unknown as Data;
    change(data);
    expect(rejection(data, [design])).toEqual({ field, problem });
  });

  test('an invariant crash names an invariant the design has', () => {
    const { entry, design } = crashEntry('invariant');
    expect(entry.invariant).toBe('counter-readable');
    expect(rejection({ ...entry, invariant: 'nope' }, [design])).toEqual({
      field: 'invariant',
      problem: "design toy/crash-invariant has no invariant 'nope'",
    });
  });
});
