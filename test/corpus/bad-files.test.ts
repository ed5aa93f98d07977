/**
 * Bad corpus files: each kind gives an error naming the file and the field, and a corpus with
 * bad files still replays every good one and reports every bad one — nothing is skipped silently.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { CorpusError, corpusFiles, parseEntry, replayCorpus } from '../../src/corpus.js';
import { toolVersion } from '../../src/version.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';

const root = temporaryCorpus();
const { path: goodPath } = savedLookupEntry(root);
const good = JSON.parse(readFileSync(goodPath, 'utf8')) as Record<string, unknown>;
const goodSteps = good['steps'] as Record<string, unknown>[];

function withChange(change: (data: Record<string, unknown>) => void): string {
  const data = structuredClone(good);
  change(data);
  return JSON.stringify(data);
}

function errorOf(text: string): { file: string; field: string; problem: string } {
  try {
    parseEntry(text, 'corpus/entry.json', designs);
  } catch (error) {
    if (error instanceof CorpusError) return { file: error.file, field: error.field, problem: error.problem };
    throw error;
  }
  throw new Error('expected the entry to be rejected');
}

const cases: readonly [string, string, string, string | RegExp][] = [
  ['malformed JSON', '{"format": "dmaprop-regression", ', '(json)', /^malformed JSON: /],
  ['not an object', '[1, 2]', '(root)', 'expected a JSON object'],
  [
    'wrong format name',
    withChange((d) => (d['format'] = 'pcap')),
    'format',
    'expected "dmaprop-regression", got "pcap"',
  ],
  ['missing format version', withChange((d) => delete d['formatVersion']), 'formatVersion', 'missing'],
  [
    'newer format version',
    withChange((d) => (d['formatVersion'] = 3)),
    'formatVersion',
    `version 3 is newer than this dmaprop (${toolVersion}) reads (2); upgrade dmaprop`,
  ],
  [
    'older format version',
    withChange((d) => (d['formatVersion'] = 0)),
    'formatVersion',
    'version 0 is no longer read (current: 2); replay it with the dmaprop that wrote it and save it again',
  ],
  ['unknown design', withChange((d) => (d['design'] = 'xen/nope')), 'design', "unknown design 'xen/nope'"],
  [
    'unknown invariant',
    withChange((d) => (d['invariant'] = 'no-such-rule')),
    'invariant',
    "design xen/lookup has no invariant 'no-such-rule'",
  ],
  [
    'bad expectation',
    withChange((d) => (d['expect'] = 'maybe')),
    'expect',
    'expected "violation", "holds" or "crash", got "maybe"',
  ],
  ['missing steps', withChange((d) => delete d['steps']), 'steps', 'missing'],
  [
    'unknown command kind',
    withChange((d) => ((d['steps'] as unknown[])[1] = { kind: 'teleport', domid: 1 })),
    'steps[1].kind',
    "unknown command kind 'teleport' for stack XenGT",
  ],
  [
    'command field of the wrong type',
    withChange((d) => ((d['steps'] as unknown[])[0] = { ...goodSteps[0], gfn: 'zero' })),
    'steps[0].gfn',
    'expected a whole number, got "zero"',
  ],
  [
    'command field missing',
    withChange((d) => ((d['steps'] as unknown[])[0] = { kind: 'gttWrite', entry: 0, present: true })),
    'steps[0].gfn',
    'missing',
  ],
  [
    'command field unknown',
    withChange((d) => ((d['steps'] as unknown[])[3] = { ...goodSteps[3], speed: 9 })),
    'steps[3].speed',
    'not a field of gpuDma',
  ],
  [
    'results of the wrong length',
    withChange((d) => (d['results'] = [{ ok: true }])),
    'results',
    'expected an array of 4 step results',
  ],
  [
    'refused step without its error',
    withChange((d) => ((d['results'] as unknown[])[1] = { ok: false })),
    'results[1].error',
    'a refused step needs its error name',
  ],
  ['missing provenance', withChange((d) => delete d['found']), 'found', 'missing'],
  ['unknown top-level field', withChange((d) => (d['notes'] = 'x')), 'notes', 'unknown field'],
  ['empty file', '', '(json)', 'empty file'],
  [
    'unknown field of a result',
    withChange((d) => ((d['results'] as unknown[])[0] = { ok: true, why: 'x' })),
    'results[0].why',
    'unknown field',
  ],
  [
    'accepted step with an error',
    withChange((d) => ((d['results'] as unknown[])[0] = { ok: true, error: 'EBUSY' })),
    'results[0].error',
    'an accepted step has no error',
  ],
  [
    'unknown field of found',
    withChange((d) => ((d['found'] as Record<string, unknown>)['host'] = 'x')),
    'found.host',
    'unknown field',
  ],
  [
    'crash field on a violation entry',
    withChange((d) => (d['crash'] = { site: 'step', name: 'TypeError', message: 'x' })),
    'crash',
    'only a crash entry (expect "crash") has this field',
  ],
  [
    'crash entry in format 1',
    withChange((d) => {
      d['formatVersion'] = 1;
      d['expect'] = 'crash';
    }),
    'expect',
    'crash entries need formatVersion 2',
  ],
];

/** Field names that reach a prototype: each is rejected wherever it appears, naming where. */
const reserved = 'reserved name (a property of every JavaScript object)';
const gttWrite = '{"kind": "gttWrite", "entry": 0, "gfn": 0, "present": true';
const prototypeCases: readonly [string, string, string][] = [
  ['__proto__ in a step', good0('"__proto__": {"gfn": 1}'), 'steps[0].__proto__'],
  ['constructor in a step', good0('"constructor": 1'), 'steps[0].constructor'],
  ['toString in a step', good0('"toString": 1'), 'steps[0].toString'],
  ['prototype in a step', good0('"prototype": {}'), 'steps[0].prototype'],
  ['__proto__ at the top level', withChange(() => undefined).replace(/^\{/, '{"__proto__": {"x": 1}, '), '__proto__'],
  [
    'constructor in found',
    withChange(() => undefined).replace('"found":{', '"found":{"constructor":"x",'),
    'found.constructor',
  ],
];

/** The good entry with its first step replaced by gttWrite plus `extra`. */
function good0(extra: string): string {
  const text = withChange((d) => ((d['steps'] as unknown[])[0] = 'FIRST'));
  return text.replace('"FIRST"', `${gttWrite}, ${extra}}`);
}

describe('bad corpus files', () => {
  test.for(cases)('%s → error naming the file and the field', ([, text, field, problem]) => {
    const error = errorOf(text);
    expect(error.file).toBe('corpus/entry.json');
    expect(error.field).toBe(field);
    if (typeof problem === 'string') expect(error.problem).toBe(problem);
    else expect(error.problem).toMatch(problem);
  });

  test.for(prototypeCases)('%s → rejected as a reserved name', ([, text, field]) => {
    expect(errorOf(text)).toEqual({ file: 'corpus/entry.json', field, problem: reserved });
  });

  test('a __proto__ key in JSON never changes a prototype', () => {
    // What parsing relies on: JSON.parse defines the key as an own property.
    const parsed = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('nesting deeper than any entry is rejected without a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const error = errorOf(withChange(() => undefined).replace('"steps":[', `"steps":[${deep},`));
    expect(error.field).toMatch(/^steps\[0\](\[0\])+$/);
    expect(error.problem).toBe('nested deeper than 32 levels');
  });

  test('a corpus with bad files replays the good entry and reports every bad file', () => {
    const mixed = temporaryCorpus();
    const { path } = savedLookupEntry(mixed);
    const dir = join(path, '..');
    writeFileSync(join(dir, 'broken.json'), '{ nope');
    writeFileSync(
      join(dir, 'future.json'),
      withChange((d) => (d['formatVersion'] = 9)),
    );
    writeFileSync(join(dir, 'notes.txt'), 'not an entry');
    // A save in progress (this process is alive): left alone, not an entry.
    writeFileSync(join(dir, `.${process.pid}-abc.tmp`), '{ half-written save in progress');
    // Not ours: reported, never skipped.
    writeFileSync(join(dir, '.hidden.json'), '{ nope');
    const replay = replayCorpus(mixed, designs);
    expect(replay.files).toBe(5);
    expect(replay.passed).toBe(1);
    const named = (name: string): string => relative(process.cwd(), join(dir, name));
    expect(replay.problems.map((problem) => [problem.file, problem.field])).toEqual([
      [named('.hidden.json'), undefined],
      [named('broken.json'), '(json)'],
      [named('future.json'), 'formatVersion'],
      [named('notes.txt'), undefined],
    ]);
    expect(replay.problems[0]?.message).toBe(
      "a dot-file: not a corpus entry (only dmaprop's own temporary files, .<pid>-<hex>.tmp, start with '.')",
    );
    expect(replay.removed).toEqual([]);
  });
});

describe('bad VFIO corpus entries', () => {
  const vfioFile = corpusFiles('test/regressions').find((file) =>
    file.includes('mdev-ignores-unmap--no-kernel-crash'),
  )!;
  const vfioEntry = JSON.parse(readFileSync(vfioFile, 'utf8')) as { steps: Record<string, unknown>[] };

  function vfioError(change: (steps: Record<string, unknown>[]) => void): { field: string; problem: string } {
    const data = structuredClone(vfioEntry);
    change(data.steps);
    try {
      parseEntry(JSON.stringify(data), vfioFile, designs);
    } catch (error) {
      if (error instanceof CorpusError) return { field: error.field, problem: error.problem };
      throw error;
    }
    throw new Error('expected the entry to be rejected');
  }

  test('the committed entry parses', () => {
    expect(() => parseEntry(readFileSync(vfioFile, 'utf8'), vfioFile, designs)).not.toThrow();
  });

  test('a u64 argument written as a number', () => {
    expect(vfioError((steps) => (steps[0]!['iova'] = 4096))).toEqual({
      field: 'steps[0].iova',
      problem: 'expected a u64 string, got 4096',
    });
  });

  test('a channel program that is not a list of transfers', () => {
    expect(vfioError((steps) => (steps[1] = { kind: 'ccwStartIo', deviceId: 1, program: [{ iovaPage: 0 }] }))).toEqual({
      field: 'steps[1].program',
      problem: 'expected a transfer list, got [{"iovaPage":0}]',
    });
  });
});
