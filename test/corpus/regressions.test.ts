/** Every entry of the regression corpus, one test each (the global setup already replayed them first). */
import { relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { corpusFiles, parseEntry, readEntryText, replayEntry } from '../../src/corpus.js';
import { entryPath } from '../../src/corpus-entry.js';
import { CORPUS_ROOT } from '../global-setup.js';

const files = corpusFiles(CORPUS_ROOT);

function load(file: string): ReturnType<typeof parseEntry> {
  const read = readEntryText(file);
  if ('problem' in read) throw new Error(`${file}: ${read.problem}`);
  return parseEntry(read.text, file, designs);
}

describe('regression corpus', () => {
  test('is not empty', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  test.for(files)('%s reproduces its recorded outcome', (file) => {
    const { entry, design } = load(file);
    expect(replayEntry(entry, design)).toBeNull();
  });

  test('every file is named for its content', () => {
    const misnamed = files.filter((file) => relative(CORPUS_ROOT, file) !== entryPath(load(file).entry));
    expect(misnamed).toEqual([]);
  });
});
