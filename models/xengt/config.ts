/**
 * Configuration of the XenGT stack: the Xen world it runs on, the GVT-g mediator's configuration,
 * which way the backend turns a guest gfn into a device address, and deliberate backend bugs for
 * the meta-tests.
 */
import type { GvtBug, GvtConfig, GvtLayout } from '../gvt/config.js';
import type { AllocPolicy } from '../memory/frames.js';
import type { XenConfig } from '../xen/config.js';
import type { XenWorldSpec } from '../xen/state.js';

/**
 * `lookup`: XENMEM_get_mfn_from_pfn — translate gfn → mfn, take no reference (docs/reference/xen.md
 * §2.9, option 1). `map`: map the guest page into the backend's IOMMU space with a page reference,
 * and unmap it when the last shadow entry using it goes (option 2;
 * docs/debates.md#xengt-lookup-or-map).
 */
export type XenGtBackend = 'lookup' | 'map';

export const xenGtBugs = [
  /** Map backend: the foreign mapping is created but its page reference is dropped at once. */
  'map-takes-no-ref',
  /** vGPU destruction leaves the backend's mappings behind (skipped tidy-up: no unmap at teardown). */
  'vgpu-destroy-skips-unmap',
] as const;

export type XenGtBug = (typeof xenGtBugs)[number];

export interface XenGtConfig {
  readonly backend: XenGtBackend;
  readonly world: XenWorldSpec;
  readonly xen: XenConfig;
  readonly gvt: GvtConfig;
  readonly bugs: readonly XenGtBug[];
  /** The backend domain (runs the mediator, owns the GPU's IOMMU context). */
  readonly backendDomid: number;
  /** The guest served by the vGPU. */
  readonly guestDomid: number;
  /** The backend's own pages behind the host's GGTT entries past the vGPU's ranges, by index. */
  readonly hostGgttGfns: Readonly<Record<number, number>>;
  /** First backend gfn used for mappings of guest pages; kept apart from every guest-visible gfn. */
  readonly mappingPoolBaseGfn: number;
  readonly mappingPoolSize: number;
}

export function hasXenGtBug(config: XenGtConfig, bug: XenGtBug): boolean {
  return config.bugs.includes(bug);
}

/**
 * The vGPU's aperture `[0, 2)` and hidden range `[2, 4)`: GTT entries 0–3 are the guest's, as in
 * every trace written before the mediator was shared. Entries 4 and 5 are the host's (the backend's
 * own pages); a guest write there is ignored and a GPU access through them from the guest's
 * commands is refused by the scanner. Page-table pages hold four entries.
 */
export const xenGtLayout: GvtLayout = {
  ggttEntries: 6,
  aperture: { start: 0, end: 2 },
  hidden: { start: 2, end: 4 },
  entriesPerTable: 4,
};

export interface XenGtConfigOptions {
  readonly backend: XenGtBackend;
  readonly policy?: AllocPolicy;
  readonly randomSeed?: string;
  readonly xen?: XenConfig;
  readonly bugs?: readonly XenGtBug[];
  /** The mediator's choices (write protection on, shadow copies) and bugs; the sound ones by default. */
  readonly writeProtect?: boolean;
  readonly cmdbuf?: GvtConfig['cmdbuf'];
  readonly gvtBugs?: readonly GvtBug[];
}

/**
 * The standard small world: dom0 (PVH backend, privileged), dom1 (HVM guest with the vGPU),
 * dom2 (a PV domain that can take free frames and map grants with host and device parts).
 * Twelve frames, four of them free, so reuse happens within a few steps.
 */
export function xenGtConfig(options: XenGtConfigOptions): XenGtConfig {
  return {
    backend: options.backend,
    world: {
      memory: { frameCount: 12, policy: options.policy ?? 'lifo', randomSeed: options.randomSeed ?? 'dmaprop' },
      domains: [
        { translated: true, privileged: true, initialGfns: [0, 1] },
        { translated: true, privileged: false, initialGfns: [0, 1, 2, 3] },
        { translated: false, privileged: false, initialGfns: [0, 1] },
      ],
      grantEntries: 4,
      maptrackHandles: 4,
    },
    xen: options.xen ?? { bugs: [] },
    gvt: {
      layout: xenGtLayout,
      writeProtect: options.writeProtect ?? true,
      cmdbuf: options.cmdbuf ?? 'shadow-copy',
      bugs: options.gvtBugs ?? [],
    },
    bugs: options.bugs ?? [],
    backendDomid: 0,
    guestDomid: 1,
    hostGgttGfns: { 4: 0, 5: 1 },
    mappingPoolBaseGfn: 1024,
    mappingPoolSize: 8,
  };
}
