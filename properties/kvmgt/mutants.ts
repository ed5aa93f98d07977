/**
 * Deliberately broken variants of the KVMGT stack, for the meta-tests: each carries one bug of the
 * mediator, of KVMGT's services or of VFIO, and names the invariants expected to catch it.
 */
import type { GvtBug } from '../../models/gvt/config.js';
import type { KvmgtBug } from '../../models/kvmgt/config.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { kvmgtDesign } from './design.js';
import type { KvmgtDesign, KvmgtDesignOptions } from './design.js';

function mutant(
  bug: GvtBug | KvmgtBug | VfioBug,
  bugs: Pick<KvmgtDesignOptions, 'gvtBugs' | 'kvmgtBugs' | 'vfioBugs' | 'unmapCallback'>,
  catches: readonly string[],
  description: string,
): KvmgtDesign {
  return kvmgtDesign({ id: `mutant/kvmgt/${bug}`, expected: 'violates', breaks: catches, description, ...bugs });
}

export const kvmgtMutants: readonly KvmgtDesign[] = [
  mutant(
    'ggtt-replace-keeps-ref',
    { gvtBugs: ['ggtt-replace-keeps-ref'] },
    ['cache-kref-matches-shadow-users'],
    'forgotten reference drop: a rewritten GGTT entry keeps its DMA reference',
  ),
  mutant(
    'ggtt-replace-skips-release',
    { gvtBugs: ['ggtt-replace-skips-release'] },
    ['counters-in-range'],
    "reference put without release: a rewritten GGTT entry's DMA reference is dropped with a bare decrement, and the entry left by its last user stays cached at kref 0",
  ),
  mutant(
    'ppgtt-write-keeps-old-ref',
    { gvtBugs: ['ppgtt-write-keeps-old-ref'] },
    ['cache-kref-matches-shadow-users', 'spt-refcount-matches-references'],
    'forgotten reference drop: a trapped page-table write keeps what the old entry held',
  ),
  mutant(
    'cache-hit-skips-kref',
    { gvtBugs: ['cache-hit-skips-kref'] },
    ['shadow-matches-guest-entry', 'cache-kref-matches-shadow-users', 'shadow-dma-addr-cached'],
    'a DMA cache hit takes no reference',
  ),
  mutant(
    'spt-free-keeps-track',
    { gvtBugs: ['spt-free-keeps-track'] },
    ['shadowed-table-write-protected'],
    'skipped tidy-up: a freed shadow table leaves its page write-protected',
  ),
  mutant(
    'destroy-keeps-cache',
    { gvtBugs: ['destroy-keeps-cache'] },
    // The leaked pins outlive the device: the VMM's next UNMAP_DMA over them finds no driver to drop them.
    [
      'no-kernel-crash',
      'destroyed-vgpu-leaves-nothing',
      'closed-device-holds-nothing',
      'failed-op-leaves-state-unchanged',
    ],
    'skipped tidy-up: closing the vGPU leaves its DMA cache pinned',
  ),
  mutant(
    'scan-audits-first-only',
    { gvtBugs: ['scan-audits-first-only'] },
    ['no-dma-to-foreign-frame'],
    'the command scanner audits only the first command of a batch',
  ),
  mutant(
    'map-skips-pin',
    { kvmgtBugs: ['map-skips-pin'] },
    ['no-dma-to-free-frame', 'shadow-frame-owned-by-guest', 'shadow-frame-pinned', 'cache-entry-pinned-and-mapped'],
    'a guest page is mapped for the GPU without vfio_pin_pages',
  ),
  mutant(
    'unmap-keeps-mapping',
    { kvmgtBugs: ['unmap-keeps-mapping'], unmapCallback: 'drop-cache' },
    [
      'shadow-frame-owned-by-guest',
      'shadow-frame-pinned',
      'shadow-matches-guest-entry',
      'shadow-dma-addr-cached',
      'destroyed-vgpu-leaves-nothing',
    ],
    'the shipped dma_unmap op on a host whose IOMMU does not translate for the GPU (igfx_off)',
  ),
  mutant(
    'unmap-leaks-dma-slot',
    { vfioBugs: ['unmap-leaks-dma-slot'] },
    ['dma-slots-accounted', 'round-trip-returns-everything'],
    "the VMM's UNMAP_DMA never gives its dma_entry_limit slot back",
  ),
  mutant(
    'overlap-not-checked',
    { vfioBugs: ['overlap-not-checked'] },
    ['mappings-disjoint', 'round-trip-returns-everything'],
    "the VMM's MAP_DMA over mapped guest RAM skips the overlap search",
  ),
];

/**
 * Flawed orderings of the mediator's handling of trapped stores, which only interleavings show:
 * atomic, each store's handler runs before the next store lands, and they hold.
 */
export const kvmgtInterleavingMutants: readonly KvmgtDesign[] = [
  mutant(
    'track-write-skips-vgpu-lock',
    { kvmgtBugs: ['track-write-skips-vgpu-lock'] },
    ['shadow-matches-guest-entry'],
    "the page-track notifier runs GVT's handler without the vGPU lock: a handler runs inside a PPGTT's shadowing or another vCPU's handler of the same entry, and the later shadow write keeps an entry the guest no longer has (leaking its spt reference too, spt-refcount-matches-references, on most seeds)",
  ),
  mutant(
    'handler-shadows-trapped-value',
    { kvmgtBugs: ['handler-shadows-trapped-value'] },
    ['shadow-matches-guest-entry'],
    "the handler shadows the value the trapped store carried, not the guest's entry as it is when the handler runs",
  ),
];
