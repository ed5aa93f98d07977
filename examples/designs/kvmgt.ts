/**
 * KVMGT: the vGPU's `dma_unmap` op, the decision point the KVMGT designs differ in, written as a
 * function of VFIO's call that returns the mediator's calls.
 *
 * The question: may the op keep it simple and flush the vGPU's whole DMA cache whenever the VMM
 * unmaps any guest RAM (as a driver that does not want to search its cache by range might)? Every
 * shadow entry is pointed at scratch before its page is released, so the GPU never reaches a page
 * VFIO let go of. But the entries of pages the VMM did not unmap are scratched too: the shadow no
 * longer translates what the guest wrote. The built-in invariants accept that (a scratch entry is
 * harmless), so both designs also carry an invariant of our own,
 * `example/unmap-scratches-only-its-range`, which catches the flush in one step.
 */
import { kvmgtDesign, releaseShadows } from 'dmaprop';
import type { KvmgtDesign, KvmgtUnmapCallback, KvmgtWorldDescription } from 'dmaprop';
import { unmapScratchesOnlyItsRange } from '../invariants/unmap-scratches-only-its-range.js';

/** A world of our own: more guest RAM in 4-page sections, a tighter RLIMIT_MEMLOCK. */
export const world: KvmgtWorldDescription = { frames: 20, ramPages: 12, ramSectionPages: 4, memlockLimitPages: 14 };

/** Every cache entry, in or out of the unmapped range: its shadow users scratched, then released. */
export const flushWholeCache: KvmgtUnmapCallback = (call) =>
  releaseShadows({ ...call, entries: Object.values(call.state.vgpu?.cache ?? {}) });

/** The op as the kernel has it, only the range's entries: our sound reference point, in the same world. */
export const flushRange: KvmgtUnmapCallback = (call) => releaseShadows(call);

/** The design with our invariant beside the built-in ones. */
function withOurInvariant(design: KvmgtDesign): KvmgtDesign {
  return { ...design, invariants: [...design.invariants, unmapScratchesOnlyItsRange] };
}

export const kvmgtFlushRange: KvmgtDesign = withOurInvariant(
  kvmgtDesign({
    id: 'example/kvmgt-flush-range',
    unmapCallback: flushRange,
    world,
    expected: 'holds',
    description: "the vGPU's dma_unmap op scratches the shadow users of the unmapped range's pages, then releases them",
  }),
);

export const kvmgtFlushWholeCache: KvmgtDesign = withOurInvariant(
  kvmgtDesign({
    id: 'example/kvmgt-flush-whole-cache',
    unmapCallback: flushWholeCache,
    world,
    expected: 'violates',
    breaks: ['example/unmap-scratches-only-its-range'],
    description: "the vGPU's dma_unmap op flushes the whole DMA cache on any unmap, whatever the range",
  }),
);
