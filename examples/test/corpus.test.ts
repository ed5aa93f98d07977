/**
 * Regression corpora, one test per entry: ours (`corpus/`, saved by `dmaprop check --save --corpus
 * corpus`) against our designs, and the one shipped in the package against the built-in designs.
 * An entry fails when its trace no longer gives the recorded outcome.
 */
import { describe, expect, test } from 'vitest';
import { builtinCorpus, designs, loadCorpus, runTrace } from 'dmaprop';
import type { AnyDesign } from 'dmaprop';
import { testCorpus } from 'dmaprop/vitest';
import { exampleDesigns } from '../designs/index.js';
import { kvmgtFlushRange } from '../designs/kvmgt.js';
import { passthroughTwoDomainsHeld } from '../designs/passthrough.js';
import { vfioTwoMdevs } from '../designs/vfio.js';
import { viommuBalloonAware } from '../designs/viommu.js';
import { xengtMapForReference } from '../designs/xengt.js';

testCorpus('corpus', exampleDesigns);
testCorpus(builtinCorpus(), designs);

/** Each flawed design's fixed counterpart. */
const fixedBy: Readonly<Record<string, AnyDesign>> = {
  'example/xengt-release-first-found': xengtMapForReference,
  'example/kvmgt-flush-whole-cache': kvmgtFlushRange,
  'example/passthrough-two-domains-lazy': passthroughTwoDomainsHeld,
  'example/vfio-two-mdevs-foreign-unpin': vfioTwoMdevs,
  'example/viommu-stock-shadow': viommuBalloonAware,
  'example/viommu-balloon-only': viommuBalloonAware,
};

describe('every counterexample we saved breaks nothing on the fixed design', () => {
  for (const loaded of loadCorpus('corpus', exampleDesigns)) {
    test(loaded.path, () => {
      if ('problem' in loaded) throw new Error(loaded.problem.message);
      const fixed = fixedBy[loaded.entry.design];
      if (fixed === undefined) throw new Error(`no fixed design for ${loaded.entry.design}`);
      expect(runTrace(fixed, loaded.entry.steps).violations).toEqual([]);
    });
  }
});
