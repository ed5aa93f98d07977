/**
 * `kvmgtDesign` refuses a KVMGT or mediator bug flag it does not know, or one the design can never
 * show (`kvmgtBugNeeds`, `gvtBugNeeds`; the VFIO bugs are `test/vfio/bug-flags.test.ts`'s), with an
 * Error that says why, and an op or a world that is not one.
 */
import { describe, expect, test } from 'vitest';
import { gvtBugs, kvmgtBugs, kvmgtDesign } from '../../src/index.js';
import type { KvmgtDesignOptions } from '../../src/index.js';

function design(options: Partial<KvmgtDesignOptions>): () => unknown {
  return () =>
    kvmgtDesign({
      id: 'test/bug',
      expected: 'violates',
      breaks: ['no-dma-to-foreign-frame'],
      description: 'a bug',
      ...options,
    });
}

describe('kvmgtDesign refuses', () => {
  test.for([
    {
      options: { kvmgtBugs: ['map-skips-pinn' as never] },
      message: `kvmgtBugs: "map-skips-pinn" is not a bug of KVMGT's services (known: map-skips-pin, unmap-keeps-mapping, track-write-skips-vgpu-lock, handler-shadows-trapped-value)`,
    },
    {
      options: { kvmgtBugs: ['track-write-skips-vgpu-lock' as const], world: { vcpus: 1 } },
      message:
        "kvmgtBugs: 'track-write-skips-vgpu-lock' cannot take effect: the KVMGT design runs its guest on one vCPU (world.vcpus: 1), so no two trapped stores are ever handled at once",
    },
    {
      options: { kvmgtBugs: ['handler-shadows-trapped-value' as const], writeProtect: false },
      message:
        "kvmgtBugs: 'handler-shadows-trapped-value' cannot take effect: the KVMGT design without write protection does not write-protect guest page tables (writeProtect: false), so guest memory never changes between a trapped store and its handler",
    },
    {
      options: { gvtBugs: ['cache-hit-skips-ref' as never] },
      message: 'gvtBugs: "cache-hit-skips-ref" is not a bug of the GVT-g mediator',
    },
    {
      options: { writeProtect: false, gvtBugs: ['ppgtt-write-keeps-old-ref' as const] },
      message:
        "gvtBugs: 'ppgtt-write-keeps-old-ref' cannot take effect: the KVMGT design without write protection does not write-protect guest page tables (writeProtect: false), so no guest page-table store is ever trapped",
    },
    {
      options: { writeProtect: false, gvtBugs: ['spt-free-keeps-track' as const] },
      message: 'so no freed shadow table has a page track to leave behind',
    },
    {
      options: { unmapCallback: 'release' as never },
      message: "unmapCallback: expected 'release-shadows', 'drop-cache' or a function (the op)",
    },
    {
      options: { world: { ramPages: 7 } },
      message: 'KVMGT world: 7 RAM pages are not a whole number of 2-page sections',
    },
    {
      options: { world: { memlockLimitPages: 2 } },
      message: 'KVMGT world: the vGPU pins and maps 4 guest pages at start, but RLIMIT_MEMLOCK is 2 pages',
    },
    { options: { world: { frames: 11 } }, message: 'KVMGT world: 11 frames hold the 8 RAM pages' },
    { options: { world: { dmaEntryLimit: 3 } }, message: 'the VMM maps guest RAM in 4 sections at start' },
    { options: { world: { vcpus: 9 } }, message: 'vcpus' },
    { options: { unmapLock: 'vgpu-lock' as never }, message: "unmapLock: expected 'vgpu', 'cache' or 'none'" },
  ])('$message', ({ options, message }) => {
    expect(design(options)).toThrow(message);
  });

  test('every KVMGT and mediator bug is accepted where it can act', () => {
    for (const bug of kvmgtBugs) expect(design({ kvmgtBugs: [bug] })).not.toThrow();
    for (const bug of gvtBugs) expect(design({ gvtBugs: [bug] })).not.toThrow();
  });
});
