/** The GVT-g mediator's bugs and what each needs of a stack, for the XenGT and KVMGT factories' refusals. */
import { gvtBugNeeds, gvtBugs, gvtFeatureMissing } from '../../models/gvt/config.js';
import type { GvtBug, GvtFeature } from '../../models/gvt/config.js';
import type { BugCatalogue } from '../generic/bug-flags.js';

export const gvtBugCatalogue: BugCatalogue<GvtBug, GvtFeature> = {
  model: 'the GVT-g mediator',
  bugs: gvtBugs,
  needs: gvtBugNeeds,
  missing: gvtFeatureMissing,
};
