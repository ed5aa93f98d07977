/** Every entry of the regression corpus, one test each (the global setup already replayed them first). */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { corpusFiles, parseEntry, replayEntry } from '../../src/corpus.js';
import { CORPUS_ROOT } from '../global-setup.js';

const files = corpusFiles(CORPUS_ROOT);

describe('regression corpus', () => {
  test('is not empty', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  test.for(files)('%s reproduces its recorded outcome', (file) => {
    const { entry, design } = parseEntry(readFileSync(file, 'utf8'), file, designs);
    expect(replayEntry(entry, design)).toBeNull();
  });
});
