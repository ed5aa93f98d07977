/**
 * fast-check generators for the VFIO stacks. ioctl arguments come two ways: well-formed requests
 * over small page universes (so maps and unmaps collide with each other, the guest's RAM and the
 * dma_entry_limit), and raw u64 values at the edges — zero, unaligned, near 2^64, wrapping — so
 * every refusal of the reference is exercised.
 */
import fc from 'fast-check';
import type { VfioCommand, VfioCommandKind } from '../../models/vfio/commands.js';
import { mapDmaArgs, VFIO_DMA_MAP_MINSZ } from '../../models/vfio/map-dma.js';
import { unmapAllArgs, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import type { CommandSpace } from '../../src/design.js';
import { FRAME_COUNT, LAZY_VADDR_PAGE, OTHER_OWNER, RAM_PAGES, RAM_VADDR_PAGE } from './world.js';
import type { VfioStackKind } from './world.js';

/** IOVA pages of generated requests. */
export const IOVA_PAGES = 8;

/** Where the IOVA universe of generated requests starts (a stack with page tables puts it across a boundary). */
export interface VfioSpaceOptions {
  readonly iovaBasePage?: number;
}

/** u64 values at the edges: zero, unaligned, page-aligned small, near and at the top of 2^64. */
const edgeU64 = fc.constantFrom(
  '0',
  '1',
  '4095',
  '4096',
  '8192',
  '12288',
  '18446744073709547520',
  '18446744073709551615',
  '18446744073709543424',
  '9223372036854775808',
  '281474976710656',
);

const flags = fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 0xff);

/** Vaddr pages: mostly the guest's RAM, sometimes the lazily faulted region or unmapped addresses. */
export const vaddrPage = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + RAM_PAGES - 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(LAZY_VADDR_PAGE, LAZY_VADDR_PAGE + 1, 0, 100) },
);
const npages = fc.integer({ min: 1, max: 3 });

function mapDmaFor(iovaPage: fc.Arbitrary<number>): fc.Arbitrary<VfioCommand> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ vaddrPage, iovaPage, npages, read: fc.constant(true), write: fc.boolean() })
        .map((request): VfioCommand => ({ kind: 'mapDma', ...mapDmaArgs(request) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          argsz: fc.constantFrom(VFIO_DMA_MAP_MINSZ, 0, 64),
          flags,
          vaddr: edgeU64,
          iova: edgeU64,
          sizeBytes: edgeU64,
        })
        .map((args): VfioCommand => ({ kind: 'mapDma', ...args })),
    },
  );
}

function unmapDmaFor(iovaPage: fc.Arbitrary<number>): fc.Arbitrary<VfioCommand> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ iovaPage, npages })
        .map((request): VfioCommand => ({ kind: 'unmapDma', ...unmapDmaArgs(request) })),
    },
    { weight: 1, arbitrary: fc.constant<VfioCommand>({ kind: 'unmapDma', ...unmapAllArgs() }) },
    {
      weight: 1,
      arbitrary: fc
        .record({
          argsz: fc.constantFrom(16, 0),
          flags: fc.constantFrom(0, 1, 2, 4, 0xff),
          iova: edgeU64,
          sizeBytes: edgeU64,
        })
        .map((args): VfioCommand => ({ kind: 'unmapDma', ...args })),
    },
  );
}

const ramRange = fc.record({ vaddrPage, npages: fc.integer({ min: 1, max: 2 }) });
function arbitraries(
  devices: {
    pci: number | null;
    mdev: number | null;
    ccw: number | null;
  },
  iovaBasePage: number | undefined,
): Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommand>>> {
  const iovaPage =
    iovaBasePage === undefined
      ? fc.nat({ max: IOVA_PAGES - 1 })
      : fc.integer({ min: iovaBasePage, max: iovaBasePage + IOVA_PAGES - 1 });
  const program = fc.array(fc.record({ iovaPage, write: fc.boolean() }), { minLength: 1, maxLength: 2 });
  const mapDma = mapDmaFor(iovaPage);
  const unmapDma = unmapDmaFor(iovaPage);
  const all: Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommand>>> = {
    mapDma,
    unmapDma,
    munmap: ramRange.map((args): VfioCommand => ({ kind: 'munmap', ...args })),
    discard: ramRange.map((args): VfioCommand => ({ kind: 'discard', ...args })),
    mmap: fc
      .record({ vaddrPage, npages: fc.integer({ min: 1, max: 2 }), writable: fc.boolean() })
      .map((args): VfioCommand => ({ kind: 'mmap', ...args })),
    touch: fc.record({ vaddrPage, write: fc.boolean() }).map((args): VfioCommand => ({ kind: 'touch', ...args })),
    allocateToOther: fc.constant<VfioCommand>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
    releaseFromOther: fc.nat({ max: FRAME_COUNT - 1 }).map((mfn): VfioCommand => ({ kind: 'releaseFromOther', mfn })),
    injectFault: fc
      .record({ point: fc.constantFrom('pin' as const, 'alloc' as const), nth: fc.integer({ min: 1, max: 3 }) })
      .map((args): VfioCommand => ({ kind: 'injectFault', ...args })),
    clearFault: fc.constant<VfioCommand>({ kind: 'clearFault' }),
    closeDevice: fc.nat({ max: 1 }).map((deviceId): VfioCommand => ({ kind: 'closeDevice', deviceId })),
    openDevice: fc.nat({ max: 1 }).map((deviceId): VfioCommand => ({ kind: 'openDevice', deviceId })),
    groupUnsetContainer: fc.constant<VfioCommand>({ kind: 'groupUnsetContainer', groupId: 0 }),
    groupSetContainer: fc.constant<VfioCommand>({ kind: 'groupSetContainer', groupId: 0 }),
  };
  if (devices.pci !== null) {
    const deviceId = devices.pci;
    // iova pages for type1; bus address pages (frame numbers) under noiommu: one universe covers both,
    // unless the IOVA universe was moved.
    const addressPage = iovaBasePage === undefined ? fc.nat({ max: FRAME_COUNT - 1 }) : iovaPage;
    all.deviceDma = fc
      .record({ addressPage, write: fc.boolean() })
      .map((args): VfioCommand => ({ kind: 'deviceDma', deviceId, ...args }));
  }
  if (devices.mdev !== null) {
    const deviceId = devices.mdev;
    all.mdevPinPages = fc
      .record({ iovaPage, npage: fc.integer({ min: 1, max: 2 }), read: fc.constant(true), write: fc.boolean() })
      .map((args): VfioCommand => ({ kind: 'mdevPinPages', deviceId, ...args }));
    all.mdevUnpinPages = fc
      .record({ iovaPage, npage: fc.integer({ min: 1, max: 2 }) })
      .map((args): VfioCommand => ({ kind: 'mdevUnpinPages', deviceId, ...args }));
  }
  if (devices.ccw !== null) {
    const deviceId = devices.ccw;
    all.ccwStartIo = program.map((transfers): VfioCommand => ({ kind: 'ccwStartIo', deviceId, program: transfers }));
    all.ccwCompleteIo = fc.constant<VfioCommand>({ kind: 'ccwCompleteIo', deviceId });
    all.ccwRunIo = program.map((transfers): VfioCommand => ({ kind: 'ccwRunIo', deviceId, program: transfers }));
  }
  return all;
}

/** Teardown and fault injection are generated a quarter as often as the rest. */
const rare: readonly VfioCommandKind[] = [
  'closeDevice',
  'openDevice',
  'groupUnsetContainer',
  'groupSetContainer',
  'injectFault',
  'clearFault',
];

export function vfioArbitraries(
  kind: VfioStackKind,
  options: VfioSpaceOptions = {},
): Partial<Record<VfioCommandKind, fc.Arbitrary<VfioCommand>>> {
  const table = arbitraries(
    kind === 'mediated' ? { pci: null, mdev: 0, ccw: 1 } : { pci: 0, mdev: null, ccw: null },
    options.iovaBasePage,
  );
  if (kind === 'noiommu') {
    // A VFIO_NO_IOMMU container has no MAP/UNMAP_DMA (the model refuses them; its unit tests show
    // it): a VMM using one never issues them, so runs spend their steps on what it does do.
    delete table.mapDma;
    delete table.unmapDma;
  }
  return table;
}

/** Teardown and fault injection are a quarter as frequent as the rest. */
export function vfioKindWeight(commandKind: string): number {
  return rare.includes(commandKind as VfioCommandKind) ? 1 : 4;
}

/**
 * Mediated stack: the drivers' pins only matter over live mappings, so mapping and pinning come
 * often and the VMM's own memory changes (which make later pins fail) rarely.
 */
const mediatedWeights: Readonly<Record<string, number>> = {
  mapDma: 8,
  mdevPinPages: 8,
  unmapDma: 4,
  releaseFromOther: 2,
  allocateToOther: 2,
  munmap: 1,
  mmap: 1,
  discard: 2,
};

export function vfioCommandSpace(kind: VfioStackKind): CommandSpace<VfioCommand> {
  const table = vfioArbitraries(kind);
  const kinds = Object.keys(table);
  return {
    kinds,
    weight: (commandKind) =>
      (kind === 'mediated' ? mediatedWeights[commandKind] : undefined) ?? vfioKindWeight(commandKind),
    arbitrary(commandKind) {
      const arbitrary = table[commandKind as VfioCommandKind];
      if (arbitrary === undefined) throw new Error(`vfio ${kind}: no generator for command kind '${commandKind}'`);
      return arbitrary;
    },
  };
}
