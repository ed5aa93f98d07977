/**
 * Configuration of the XenGT stack: the Xen world it runs on, which way the backend turns a
 * guest gfn into a device address, and deliberate backend bugs for the meta-tests.
 */
import type { AllocPolicy } from '../memory/frames.js';
import type { XenConfig } from '../xen/config.js';
import type { XenWorldSpec } from '../xen/state.js';

/**
 * `lookup`: XENMEM_get_mfn_from_pfn — translate gfn → mfn, take no reference (seed 004, option 1).
 * `map`: map the guest page into the backend's IOMMU space with a page reference, and unmap it
 * when the GTT entry is replaced or the vGPU goes away (seed 004, option 2).
 */
export type XenGtBackend = 'lookup' | 'map';

export const xenGtBugs = [
  /** Map backend: the foreign mapping is created but its page reference is dropped at once. */
  'map-takes-no-ref',
  /** Map backend: replacing a GTT entry leaves the old mapping behind (forgotten reference drop). */
  'gtt-replace-skips-unmap',
  /** vGPU destruction leaves the backend's mappings behind (skipped tidy-up). */
  'vgpu-destroy-skips-unmap',
] as const;

export type XenGtBug = (typeof xenGtBugs)[number];

export interface XenGtConfig {
  readonly backend: XenGtBackend;
  readonly world: XenWorldSpec;
  readonly xen: XenConfig;
  readonly bugs: readonly XenGtBug[];
  /** The backend domain (runs the mediator, owns the GPU's IOMMU context). */
  readonly backendDomid: number;
  /** The guest served by the vGPU. */
  readonly guestDomid: number;
  readonly gttEntries: number;
  /** First backend gfn used for mappings of guest pages; kept apart from every guest-visible gfn. */
  readonly mappingPoolBaseGfn: number;
  readonly mappingPoolSize: number;
}

export function hasXenGtBug(config: XenGtConfig, bug: XenGtBug): boolean {
  return config.bugs.includes(bug);
}

export interface XenGtConfigOptions {
  readonly backend: XenGtBackend;
  readonly policy?: AllocPolicy;
  readonly randomSeed?: string;
  readonly xen?: XenConfig;
  readonly bugs?: readonly XenGtBug[];
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
    bugs: options.bugs ?? [],
    backendDomid: 0,
    guestDomid: 1,
    gttEntries: 4,
    mappingPoolBaseGfn: 1024,
    mappingPoolSize: 8,
  };
}
