/**
 * `saveEntry` checks what is already at an entry's path before calling it present: only an intact
 * copy of the same finding is `exists`. Anything else there is damaged: it is replaced atomically
 * and reported as `repaired`, with the reason.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { formatSaveOutcome, formatSaveSummary, savedJson } from '../../src/cli-saved.js';
import { CorpusError, parseEntry, replayCorpus, saveEntry } from '../../src/corpus.js';
import type { CorpusEntry } from '../../src/corpus-entry.js';
import { entryPath } from '../../src/corpus-entry.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';

/** A corpus where the entry's path is about to hold `damage`; returns the entry and its path. */
function damaged(damage: (path: string, text: string) => void): { root: string; entry: CorpusEntry; path: string } {
  const source = temporaryCorpus();
  const { entry, path: sourcePath } = savedLookupEntry(source);
  const root = temporaryCorpus();
  const path = join(root, entryPath(entry));
  mkdirSync(dirname(path), { recursive: true });
  damage(path, readFileSync(sourcePath, 'utf8'));
  return { root, entry, path };
}

/** Saving repairs the path: `repaired` with `reason`, and the file is the entry again. */
function expectRepaired(setup: ReturnType<typeof damaged>, reason: string | RegExp): void {
  const outcome = saveEntry(setup.root, setup.entry);
  expect(outcome.status).toBe('repaired');
  if (typeof reason === 'string') expect(outcome.reason).toBe(reason);
  else expect(outcome.reason).toMatch(reason);
  expect(lstatSync(setup.path).isFile()).toBe(true);
  expect(parseEntry(readFileSync(setup.path, 'utf8'), setup.path, designs).entry).toEqual(setup.entry);
  expect(readdirSync(dirname(setup.path)).filter((name) => name.startsWith('.'))).toEqual([]);
  // Saved again, it is present.
  expect(saveEntry(setup.root, setup.entry).status).toBe('exists');
  expect(replayCorpus(setup.root, designs)).toMatchObject({ files: 1, passed: 1, problems: [] });
}

describe('saving over what is already at the entry path', () => {
  test('an intact copy of the same finding is present', () => {
    const setup = damaged((path, text) => writeFileSync(path, text));
    expect(saveEntry(setup.root, setup.entry)).toEqual({ path: setup.path, status: 'exists', removed: [] });
  });

  test('the same finding found again from another seed is present (where it was found is not compared)', () => {
    const setup = damaged((path, text) => writeFileSync(path, text));
    expect(saveEntry(setup.root, { ...setup.entry, found: { ...setup.entry.found, seed: 77 } }).status).toBe('exists');
  });

  test('a truncated file is repaired', () => {
    const setup = damaged((path, text) => writeFileSync(path, text.slice(0, text.length / 2)));
    expectRepaired(setup, /^\(json\): malformed JSON: /);
  });

  test('an empty file is repaired', () => {
    expectRepaired(
      damaged((path) => writeFileSync(path, '')),
      '(json): empty file',
    );
  });

  test('a foreign JSON file is repaired', () => {
    expectRepaired(
      damaged((path) => writeFileSync(path, '{"name": "not ours"}')),
      'format: missing',
    );
  });

  test('another finding under this name is repaired', () => {
    const setup = damaged((path, text) => {
      const other = JSON.parse(text) as { steps: unknown[]; results: unknown[] };
      other.steps = other.steps.slice(0, 3);
      other.results = other.results.slice(0, 3);
      writeFileSync(path, JSON.stringify(other));
    });
    expectRepaired(setup, 'holds another finding (xen/lookup, expect violation)');
  });

  test('an empty directory is repaired', () => {
    expectRepaired(
      damaged((path) => mkdirSync(path)),
      'a directory, not a regular file',
    );
  });

  test('a symlink to a good copy is replaced by the file itself', () => {
    const setup = damaged((path, text) => {
      const elsewhere = join(temporaryCorpus(), 'copy.json');
      writeFileSync(elsewhere, text);
      symlinkSync(elsewhere, path);
    });
    expectRepaired(setup, /^a symbolic link to '.*copy\.json', not a regular file \(links are not followed\)$/);
  });

  test.runIf(process.platform === 'linux')('a FIFO is repaired without blocking', () => {
    expectRepaired(
      damaged((path) => execFileSync('mkfifo', [path])),
      'a FIFO (named pipe), not a regular file',
    );
  });

  test('a directory with files in it is not deleted: the save fails, naming it', () => {
    const setup = damaged((path) => {
      mkdirSync(path);
      writeFileSync(join(path, 'keep.txt'), 'mine');
    });
    expect(() => saveEntry(setup.root, setup.entry)).toThrow(CorpusError);
    expect(() => saveEntry(setup.root, setup.entry)).toThrow(
      /: \(file\): a directory, not a regular file, and it cannot be removed \(ENOTEMPTY: directory not empty\); move it away and save again$/,
    );
    expect(readFileSync(join(setup.path, 'keep.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(dirname(setup.path)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  test('the CLI lines say what was repaired and why', () => {
    const setup = damaged((path) => writeFileSync(path, ''));
    const outcome = saveEntry(setup.root, setup.entry);
    expect(formatSaveOutcome(outcome)).toBe(
      `  repaired (the file there was damaged: (json): empty file): ${setup.path}`,
    );
    expect(formatSaveSummary('corpus', [outcome])).toBe('corpus corpus: 0 added, 0 already present, 1 repaired');
    expect(savedJson([outcome])).toEqual({
      saved: [{ path: setup.path, status: 'repaired', reason: '(json): empty file' }],
    });
  });
});
