/**
 * Configuration of the XenGT stack: the Xen world it runs on (described as data, with today's
 * small world as the default), the GVT-g mediator's configuration, the backend that turns a guest
 * gfn into a device address (`backend.ts`: a hook, or the name of a built-in one), and deliberate
 * backend bugs for the meta-tests, with what each needs of a design to take effect.
 */
import { worldSize } from '../world-size.js';
import { partitionGgtt } from '../gvt/config.js';
import type { GgttPartition, GvtBug, GvtConfig, GvtHooks, GvtLayout } from '../gvt/config.js';
import type { AllocPolicy } from '../memory/frames.js';
import type { DomainLifecycle, GuestRemovePageUnwind, XenBug, XenConfig } from '../xen/config.js';
import type { DomainTeardownOrdering } from '../xen/destroy.js';
import type { GrantMapOrdering } from '../xen/grant-table.js';
import type { XenWorldSpec } from '../xen/state.js';
import {
  keepingMappingsAtTeardown,
  withoutPageReference,
  xenGtLookupBackend,
  xenGtLookupThenMapBackend,
  xenGtMapBackend,
} from './backend.js';
import type { XenGtBackend, XenGtBackendName } from './backend.js';

export const xenGtBugs = [
  /** A foreign-mapping backend: the mapping is created but its page reference is dropped at once. */
  'map-takes-no-ref',
  /** vGPU destruction leaves the backend's mappings behind (skipped tidy-up: no unmap at teardown). */
  'vgpu-destroy-skips-unmap',
  /**
   * A trapped GGTT write lets go of the address the entry held when it traps, before the shadow
   * entry is replaced (GVT obtains the new host entry first and releases the old one after,
   * `emulate_ggtt_mmio_write`): until then the entry names an address the cache has released.
   */
  'release-before-shadow',
  /**
   * The mediator drops the vGPU's lock while the backend translates a trapped GGTT write, so
   * another vCPU's write runs its translation meanwhile: two writes of one gfn both miss the DMA
   * cache, both have the backend map the page, and the second mapping is never recorded.
   */
  'unlocked-translate',
  /**
   * Removing the backend's mapping of a guest page drops the mapping's page reference before the
   * IOTLB flush drains the GPU's accesses through it: XENMEM_remove_from_physmap without the
   * temporary reference `get_page_from_gfn` takes (`xen/common/memory.c`, the put in
   * `p2m_entry_modify` relies on it). A GPU access translated before lands in a freed frame.
   */
  'unmap-puts-before-flush',
  /**
   * The DMA cache's release takes the vGPU's lock: a cache serialised on `vgpu->vgpu_lock` instead
   * of a lock of its own (v6.12 kvmgt.c `intel_gvt_dma_unmap_guest_page` takes `vgpu->cache_lock`).
   * A trapped GGTT write releases the address its entry held from the shadow write, under the
   * vGPU's lock (`emulate_ggtt_mmio_write` → `ggtt_invalidate_pte`): it waits for itself.
   */
  'cache-release-takes-vgpu-lock',
] as const;

export type XenGtBug = (typeof xenGtBugs)[number];

/**
 * What a design's backend does that a XenGT bug needs: `foreign-map-backend` (it maps guest pages
 * into its own p2m, for the GPU to reach through its IOMMU context: the built-in `map`, or a
 * backend of `backend-iommu` addressing), `backend-release` (releasing an address does something:
 * not the built-in `lookup`, which holds nothing).
 */
export type XenGtFeature = 'foreign-map-backend' | 'backend-release';

/** How a refusal says a design lacks a feature: "the <backend> …". */
export const xenGtFeatureMissing: Readonly<Record<XenGtFeature, string>> = {
  'foreign-map-backend': 'maps no guest page into its own p2m (its DMA addresses are machine frames)',
  'backend-release': 'releases nothing when the DMA cache lets go of an address',
};

/** What each XenGT bug needs, and what then never happens (the refusal's "so …"). */
export const xenGtBugNeeds: Readonly<
  Record<XenGtBug, { readonly needs: readonly XenGtFeature[]; readonly otherwise: string }>
> = {
  'map-takes-no-ref': { needs: ['foreign-map-backend'], otherwise: 'no foreign mapping has a reference to drop' },
  'vgpu-destroy-skips-unmap': { needs: ['backend-release'], otherwise: 'a skipped unmap at teardown leaves nothing' },
  'release-before-shadow': { needs: [], otherwise: '' },
  'unlocked-translate': { needs: ['foreign-map-backend'], otherwise: 'a page translated twice holds nothing twice' },
  'cache-release-takes-vgpu-lock': { needs: [], otherwise: '' },
  'unmap-puts-before-flush': {
    needs: ['foreign-map-backend'],
    otherwise: 'no mapping of its own is ever removed under the GPU',
  },
};

/** The features of a backend (`XenGtFeature`). */
export function xenGtBackendFeatures(backend: XenGtBackendName | XenGtBackend): Set<XenGtFeature> {
  if (backend === 'lookup') return new Set();
  if (backend === 'map' || backend === 'lookup-then-map') return new Set(['foreign-map-backend', 'backend-release']);
  const has = new Set<XenGtFeature>(['backend-release']);
  if (backend.addressing === 'backend-iommu') has.add('foreign-map-backend');
  return has;
}

export interface XenGtConfig {
  /** The backend, with the design's backend bugs already applied to it. */
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
  /** The vGPU's create and destroy and the hardware's GGTT (absent fields: GVT-g's, which reset the ranges to scratch). */
  readonly vgpuLifecycle?: VgpuLifecycle;
}

/**
 * How the vGPU's life treats the host GGTT entries of its ranges, which the hardware keeps:
 * `destroyResetsGgtt` (`intel_gvt_destroy_vgpu` → `intel_vgpu_reset_ggtt(vgpu, true)`) and
 * `createResetsGgtt` (`intel_vgpu_init_gtt` → `intel_vgpu_reset_ggtt(vgpu, false)`), both true in
 * GVT-g; the KVMGT stack's `lifecycle` makes the same choice.
 */
export interface VgpuLifecycle {
  readonly destroyResetsGgtt?: boolean;
  readonly createResetsGgtt?: boolean;
}

export function hasXenGtBug(config: XenGtConfig, bug: XenGtBug): boolean {
  return config.bugs.includes(bug);
}

/** One domain of a XenGT world. Domain `i` of the list gets domid `i`. */
export interface XenGtDomainDescription {
  /** p2m-translated (HVM or PVH); `false`: PV. */
  readonly translated: boolean;
  /** May map other domains' memory (the hardware domain, dom0). */
  readonly privileged: boolean;
  /** Pages of RAM populated at start, at gfns 0 .. ramPages - 1 (1 to 64). */
  readonly ramPages: number;
}

/** The world a XenGT design runs in; every field has today's value as its default. */
export interface XenGtWorldDescription {
  /** Host frames (default 12; the domains' RAM comes out of them, and at least one must be left free). */
  readonly frames?: number;
  /**
   * The domains (default: dom0, a privileged PVH backend with 2 pages; dom1, the HVM guest with the
   * vGPU, 4 pages; dom2, a PV domain with 2 pages that takes free frames and maps grants).
   */
  readonly domains?: readonly XenGtDomainDescription[];
  /** The backend: runs the mediator and owns the GPU's IOMMU context; privileged and translated (default 0). */
  readonly backendDomid?: number;
  /** The guest served by the vGPU; translated (default 1). */
  readonly guestDomid?: number;
  /** Grant entries of each domain's table (default 4; 0 to 64). */
  readonly grantEntries?: number;
  /** Maptrack handles of each domain (default 4; 0 to 64). */
  readonly maptrackHandles?: number;
  /** Gfns of the backend's private pool for mappings of guest pages, from gfn 4096 (default 8; 1 to 64). */
  readonly mappingPoolPages?: number;
  /**
   * The GGTT partition: the vGPU's aperture and hidden ranges from index 0, then the host's
   * entries, which point at the backend's own RAM pages in order (default 2, 2, 2; 4 entries per
   * page-table page).
   */
  readonly ggtt?: GgttPartition;
}

export interface XenGtConfigOptions {
  /**
   * The backend: `map` (the guest page mapped into the backend's p2m with a page reference),
   * `lookup` (XENMEM_get_mfn_from_pfn: the raw mfn, no reference), or a `XenGtBackend` of the
   * design's own.
   */
  readonly backend: XenGtBackendName | XenGtBackend;
  /** The world (today's by default). */
  readonly world?: XenGtWorldDescription;
  /** How the allocator hands out free frames (default `lifo`). */
  readonly policy?: AllocPolicy;
  /** The seed of the `random` policy (default `dmaprop`). */
  readonly randomSeed?: string;
  /** Deliberate bugs of the Xen model. */
  readonly xenBugs?: readonly XenBug[];
  /** `map_grant_ref`'s decisions around its unlocked window (Xen's, `soundGrantMap`, by default). */
  readonly grantMap?: GrantMapOrdering;
  /** The order of domain teardown's stages around its continuation (Xen's, `soundTeardown`, by default). */
  readonly teardown?: DomainTeardownOrdering;
  /** When a destroyed domain is gone and its domid free again (Xen's, `soundLifecycle`, by default). */
  readonly domainLifecycle?: DomainLifecycle;
  /** `guest_remove_page` when the p2m removal fails (Xen's, `soundGuestRemovePage`, by default). */
  readonly guestRemovePage?: GuestRemovePageUnwind;
  /** The vGPU's create and destroy and the GGTT the hardware keeps (GVT-g's by default). */
  readonly vgpuLifecycle?: VgpuLifecycle;
  /** Deliberate bugs of the backend, applied to whichever backend the design has. */
  readonly bugs?: readonly XenGtBug[];
  /** The mediator write-protects the guest's page tables (default `true`). */
  readonly writeProtect?: boolean;
  /** The scanner's batch-buffer handling (default `shadow-copy`). */
  readonly cmdbuf?: GvtConfig['cmdbuf'];
  /** Deliberate bugs of the GVT-g mediator. */
  readonly gvtBugs?: readonly GvtBug[];
  /** The mediator's decision points a design varies (`GvtHooks`; v6.12's by default). */
  readonly gvtHooks?: Partial<GvtHooks>;
}

/** The default domains: dom0 (PVH backend, privileged), dom1 (HVM guest with the vGPU), dom2 (PV). */
const DEFAULT_DOMAINS: readonly XenGtDomainDescription[] = [
  { translated: true, privileged: true, ramPages: 2 },
  { translated: true, privileged: false, ramPages: 4 },
  { translated: false, privileged: false, ramPages: 2 },
];
// Far above every domain's RAM gfns. More than 1024 past them on purpose: V8 keeps an object whose
// integer keys are 0..n and ~1024 as a dense array of ~1,500 slots (holes included), which every
// copy and enumeration of dom0's p2m then walks (a third of the explorer's time on the anchor);
// past that gap it keeps a small dictionary.
const MAPPING_POOL_BASE_GFN = 4096;

function domainsOf(world: XenGtWorldDescription): XenGtDomainDescription[] {
  const domains = world.domains ?? DEFAULT_DOMAINS;
  if (!Array.isArray(domains) || domains.length < 2 || domains.length > 8) {
    throw new Error('XenGT world: domains must list 2 to 8 domains (a backend and a guest at least)');
  }
  return domains.map((domain: XenGtDomainDescription, domid) => {
    if (typeof domain?.translated !== 'boolean' || typeof domain.privileged !== 'boolean') {
      throw new Error(`XenGT world: dom${domid} needs translated and privileged (booleans)`);
    }
    if (domain.ramPages === undefined) throw new Error(`XenGT world: dom${domid} needs ramPages`);
    return { ...domain, ramPages: worldSize('XenGT world', `dom${domid} ramPages`, domain.ramPages, 1, 64, 1) };
  });
}

/** The backend a design runs: the named built-in or its own, with the design's backend bugs applied. */
function backendOf(backend: XenGtBackendName | XenGtBackend, bugs: readonly XenGtBug[]): XenGtBackend {
  let resolved: XenGtBackend;
  if (backend === 'map') resolved = xenGtMapBackend;
  else if (backend === 'lookup') resolved = xenGtLookupBackend;
  else if (backend === 'lookup-then-map') resolved = xenGtLookupThenMapBackend;
  else if (
    typeof backend === 'object' &&
    backend !== null &&
    typeof backend.map === 'function' &&
    typeof backend.unmap === 'function' &&
    (backend.addressing === 'backend-iommu' || backend.addressing === 'machine')
  )
    resolved = backend;
  else {
    throw new Error(
      `backend: expected 'map', 'lookup', 'lookup-then-map' or a backend { name, addressing: 'backend-iommu' | 'machine', map, unmap }, got ${JSON.stringify(backend)}`,
    );
  }
  if (bugs.includes('map-takes-no-ref')) resolved = withoutPageReference(resolved);
  if (bugs.includes('vgpu-destroy-skips-unmap')) resolved = keepingMappingsAtTeardown(resolved);
  return resolved;
}

/**
 * The stack's configuration; throws an Error saying why when the world cannot be built. Today's
 * world by default: dom0 (PVH backend, privileged), dom1 (HVM guest with the vGPU), dom2 (a PV
 * domain that can take free frames and map grants with host and device parts); twelve frames,
 * four of them free, so reuse happens within a few steps.
 */
export function xenGtConfig(options: XenGtConfigOptions): XenGtConfig {
  const world = options.world ?? {};
  if (typeof world !== 'object' || world === null) throw new Error('XenGT world: a world is an object');
  const domains = domainsOf(world);
  const backendDomid = worldSize('XenGT world', 'backendDomid', world.backendDomid, 0, domains.length - 1, 0);
  const guestDomid = worldSize('XenGT world', 'guestDomid', world.guestDomid, 0, domains.length - 1, 1);
  const backend = domains[backendDomid];
  const guest = domains[guestDomid];
  if (backendDomid === guestDomid || backend === undefined || guest === undefined) {
    throw new Error('XenGT world: the backend and the guest must be two different domains');
  }
  if (!backend.privileged || !backend.translated) {
    throw new Error(
      `XenGT world: the backend dom${backendDomid} must be privileged and translated (it maps guest pages into its p2m, its IOMMU context)`,
    );
  }
  if (!guest.translated) throw new Error(`XenGT world: the guest dom${guestDomid} must be translated (HVM)`);
  const ramPages = domains.reduce((total, domain) => total + domain.ramPages, 0);
  const frames = worldSize('XenGT world', 'frames', world.frames, 2, 4096, 12);
  if (frames <= ramPages) {
    throw new Error(
      `XenGT world: ${frames} frames hold the domains' ${ramPages} RAM pages with none left free: nothing could be ballooned in or reused`,
    );
  }
  const layout: GvtLayout = partitionGgtt(world.ggtt ?? {}, 'vgpu-first');
  // The host's entries past the vGPU's ranges point at the backend's own pages, in order.
  const hostGgttGfns: Record<number, number> = {};
  for (let index = layout.hidden.end, page = 0; index < layout.ggttEntries; index++, page++) {
    hostGgttGfns[index] = page % backend.ramPages;
  }
  const bugs = options.bugs ?? [];
  return {
    backend: backendOf(options.backend, bugs),
    world: {
      memory: { frameCount: frames, policy: options.policy ?? 'lifo', randomSeed: options.randomSeed ?? 'dmaprop' },
      domains: domains.map((domain) => ({
        translated: domain.translated,
        privileged: domain.privileged,
        initialGfns: Array.from({ length: domain.ramPages }, (_, gfn) => gfn),
      })),
      grantEntries: worldSize('XenGT world', 'grantEntries', world.grantEntries, 0, 64, 4),
      maptrackHandles: worldSize('XenGT world', 'maptrackHandles', world.maptrackHandles, 0, 64, 4),
    },
    xen: {
      bugs: options.xenBugs ?? [],
      ...(options.grantMap === undefined ? {} : { grantMap: options.grantMap }),
      ...(options.teardown === undefined ? {} : { teardown: options.teardown }),
      ...(options.domainLifecycle === undefined ? {} : { lifecycle: options.domainLifecycle }),
      ...(options.guestRemovePage === undefined ? {} : { guestRemovePage: options.guestRemovePage }),
    },
    gvt: {
      layout,
      writeProtect: options.writeProtect ?? true,
      cmdbuf: options.cmdbuf ?? 'shadow-copy',
      bugs: options.gvtBugs ?? [],
      ...(options.gvtHooks === undefined ? {} : { hooks: options.gvtHooks }),
    },
    bugs,
    backendDomid,
    guestDomid,
    hostGgttGfns,
    mappingPoolBaseGfn: MAPPING_POOL_BASE_GFN,
    mappingPoolSize: worldSize('XenGT world', 'mappingPoolPages', world.mappingPoolPages, 1, 64, 8),
    ...(options.vgpuLifecycle === undefined ? {} : { vgpuLifecycle: options.vgpuLifecycle }),
  };
}
