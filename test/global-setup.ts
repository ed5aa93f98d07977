/**
 * Before any random run: replay every regression corpus entry. A corpus entry that no longer
 * reproduces (or no longer applies, or does not parse) stops the suite, naming the file.
 */
import { designs } from '../properties/registry.js';
import { formatReplayProblem, replayCorpus } from '../src/corpus.js';

export const CORPUS_ROOT = 'test/regressions';

export default function setup(): void {
  const replay = replayCorpus(CORPUS_ROOT, designs);
  if (replay.problems.length > 0) {
    const lines = replay.problems.map((problem) => `  ${formatReplayProblem(problem)}`);
    throw new Error(
      `regression corpus: ${replay.problems.length} of ${replay.files} entries fail\n${lines.join('\n')}`,
    );
  }
  console.log(`regression corpus: ${replay.passed} of ${replay.files} entries reproduce`);
}
