/**
 * `xenGtDesign` refuses a bug flag the model does not know, or one the design can never show
 * (`xenGtBugNeeds`, `xenBugNeeds`, `gvtBugNeeds`), with an Error that says why: a design with such a
 * flag would hold by omission. Each refusal is tested, and every bug is accepted where it can act.
 * A backend or a world that is not one throws too.
 */
import { describe, expect, test } from 'vitest';
import {
  gvtBugNeeds,
  gvtBugs,
  xenBugNeeds,
  xenBugs,
  xenGtBugs,
  xenGtDesign,
  xenGtLookupBackend,
} from '../../src/index.js';
import type { XenGtDesignOptions } from '../../src/index.js';

function design(options: Partial<XenGtDesignOptions>): () => unknown {
  return () =>
    xenGtDesign({
      id: 'test/bug',
      backend: 'map',
      expected: 'violates',
      breaks: ['no-dma-to-foreign-frame'],
      description: 'a bug',
      ...options,
    });
}

describe('xenGtDesign refuses bugs', () => {
  test.for([
    {
      what: 'an unknown backend bug',
      options: { bugs: ['map-takes-no-reff' as never] },
      message:
        'bugs: "map-takes-no-reff" is not a bug of the XenGT backend (known: map-takes-no-ref, vgpu-destroy-skips-unmap, release-before-shadow, unlocked-translate, unmap-puts-before-flush, cache-release-takes-vgpu-lock)',
    },
    {
      what: 'a map-backend bug on the lookup backend',
      options: { backend: 'lookup' as const, bugs: ['map-takes-no-ref' as const] },
      message:
        "bugs: 'map-takes-no-ref' cannot take effect: the lookup backend maps no guest page into its own p2m (its DMA addresses are machine frames), so no foreign mapping has a reference to drop",
    },
    {
      what: 'a map-backend bug on a backend of machine addressing',
      options: { backend: { ...xenGtLookupBackend, name: 'mine' }, bugs: ['map-takes-no-ref' as const] },
      message: "the design's backend maps no guest page into its own p2m",
    },
    {
      what: 'a teardown bug on a backend that releases nothing',
      options: { backend: 'lookup' as const, bugs: ['vgpu-destroy-skips-unmap' as const] },
      message:
        "bugs: 'vgpu-destroy-skips-unmap' cannot take effect: the lookup backend releases nothing when the DMA cache lets go of an address",
    },
    {
      what: 'an unknown Xen bug',
      options: { xenBugs: ['unmap-skips-page-putt' as never] },
      message: 'xenBugs: "unmap-skips-page-putt" is not a bug of the Xen model (known: unmap-skips-page-put, ',
    },
    {
      what: 'a grant bug in a world without grants',
      options: { world: { grantEntries: 0 }, xenBugs: ['unmap-skips-page-put' as const] },
      message:
        "xenBugs: 'unmap-skips-page-put' cannot take effect: the XenGT world has no grant a domain could map (no grant entries or no maptrack handles), so no grant is ever unmapped",
    },
    {
      what: 'an unknown mediator bug',
      options: { gvtBugs: ['scan-audits-all' as never] },
      message: 'gvtBugs: "scan-audits-all" is not a bug of the GVT-g mediator',
    },
    {
      what: 'a page-track bug without write protection',
      options: { writeProtect: false, gvtBugs: ['spt-free-keeps-track' as const] },
      message:
        "gvtBugs: 'spt-free-keeps-track' cannot take effect: the XenGT design does not write-protect guest page tables (writeProtect: false)",
    },
    {
      what: 'a page-table bug on the Xen side only',
      options: { commands: 'xen' as const, gvtBugs: ['ppgtt-write-keeps-old-ref' as const] },
      message: 'the XenGT design on the Xen side only generates no PPGTT commands',
    },
    {
      what: 'a scanner bug on the Xen side only',
      options: { commands: 'xen' as const, gvtBugs: ['scan-audits-first-only' as const] },
      message: 'generates no batch-buffer submissions, so the scanner never runs',
    },
  ])('$what', ({ options, message }) => {
    expect(design(options)).toThrow(message);
  });

  test('every bug that needs grants, write protection, PPGTTs or batch buffers is refused without them', () => {
    const grantless = { maptrackHandles: 0 };
    for (const bug of xenBugs.filter((name) => xenBugNeeds[name].needs.includes('grant-mapping'))) {
      expect(design({ world: grantless, xenBugs: [bug] })).toThrow(`xenBugs: '${bug}' cannot take effect`);
    }
    for (const bug of gvtBugs) {
      const needs = gvtBugNeeds[bug].needs;
      if (needs.includes('write-protection')) {
        expect(design({ writeProtect: false, gvtBugs: [bug] })).toThrow(`gvtBugs: '${bug}' cannot take effect`);
      }
      if (needs.length > 0) expect(design({ commands: 'xen', gvtBugs: [bug] })).toThrow(`gvtBugs: '${bug}'`);
      else expect(design({ commands: 'xen', gvtBugs: [bug] })).not.toThrow();
    }
  });

  test('every bug is accepted where it can act', () => {
    for (const bug of xenGtBugs) expect(design({ bugs: [bug] })).not.toThrow();
    for (const bug of xenBugs) expect(design({ xenBugs: [bug] })).not.toThrow();
    for (const bug of gvtBugs) expect(design({ gvtBugs: [bug] })).not.toThrow();
  });
});

describe('xenGtDesign refuses what is not a backend or a world', () => {
  test.for([
    {
      options: { backend: 'mapp' as never },
      message: "backend: expected 'map', 'lookup', 'lookup-then-map' or a backend",
    },
    {
      options: { backend: { ...xenGtLookupBackend, addressing: 'p2m' as never } },
      message: "addressing: 'backend-iommu' | 'machine'",
    },
    {
      options: { world: { frames: 8 } },
      message: "XenGT world: 8 frames hold the domains' 8 RAM pages with none left free",
    },
    { options: { world: { backendDomid: 2 } }, message: 'the backend dom2 must be privileged and translated' },
    { options: { world: { guestDomid: 0 } }, message: 'the backend and the guest must be two different domains' },
    {
      options: { world: { ggtt: { apertureEntries: 0 } } },
      message: 'ggtt: apertureEntries must be a whole number from 1',
    },
    { options: { commands: 'mediator' as never }, message: "commands: expected 'full' or 'xen'" },
  ])('$message', ({ options, message }) => {
    expect(design(options)).toThrow(message);
  });
});
