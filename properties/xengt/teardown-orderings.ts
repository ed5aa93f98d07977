/**
 * A flawed order of domain teardown's stages around `domain_kill`'s continuation, as a hook value
 * (`DomainTeardownOrdering`, models/xen/destroy.ts): harmless when the continuation follows at
 * once, wrong in between.
 */
import type { DomainTeardownOrdering } from '../../models/xen/destroy.js';

/**
 * The domain's p2m and memory relinquished (`domain_relinquish_resources`) before its grant
 * mappings are released (`domain_teardown` → `gnttab_release_mappings`): until the continuation
 * the dying domain, its memory gone, still holds its maptrack handles and the pins and page
 * references they stand for, so the granters cannot end access to what it mapped.
 */
export const teardownRelinquishesBeforeRelease: DomainTeardownOrdering = {
  name: 'teardown-relinquishes-before-release',
  stages: ['relinquish-memory', 'release-mappings'],
};
