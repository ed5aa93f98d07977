/**
 * Property: MAP_DMA and UNMAP_DMA with arbitrary u64 arguments (aligned or not, zero, overlapping,
 * wrapping near 2^64, not a u64 at all), arbitrary argsz and flags, in random sequences, always
 * answer success or an errno the reference lists for that ioctl; a refusal leaves the state
 * deep-equal to before; and after every step the §1.13 accounting holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../../models/vfio/container.js';
import { mapDma } from '../../../models/vfio/map-dma.js';
import type { MapDmaArgs } from '../../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import { cloneVfioState } from '../../../models/vfio/state.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { U64_MAX } from '../../../models/vfio/u64.js';
import { unmapDma } from '../../../models/vfio/unmap-dma.js';
import type { UnmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import {
  frameRefcountMismatches,
  lockedVmAccounting,
  overlappingMappings,
  slotAccounting,
  translationDisagreements,
} from '../../../models/vfio/views.js';
import { GROUP_A, GROUP_B, GROUP_MDEV, MDEV, RAM, config, setUp, world } from './world.js';
import { deepEqual } from '../../../models/deep-equal.js';

const MAP_ERRNOS = ['EINVAL', 'EEXIST', 'ENOSPC', 'ENOMEM', 'EFAULT', 'ENOENT'];
const UNMAP_ERRNOS = ['EINVAL', 'EBUSY'];
const TWO_64 = 1n << 64n;

/** u64 values biased to the edges: small pages, unaligned, near 2^64, anything, and non-u64 strings. */
const u64 = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 24 }).map((page) => (BigInt(page) * 4096n).toString()) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 24 * 4096 }).map(String) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }).map((k) => (TWO_64 - BigInt(k) * 4096n).toString()) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }).map((k) => (TWO_64 - BigInt(k)).toString()) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '-4096', TWO_64.toString(), '0x1000', '') },
);

/** Addresses of mapped RAM pages, so a good share of maps succeed. */
const vaddr = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: RAM, max: RAM + 7 }).map((page) => (BigInt(page) * 4096n).toString()) },
  { weight: 1, arbitrary: u64 },
);
const size = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => (BigInt(n) * 4096n).toString()) },
  { weight: 1, arbitrary: u64 },
);
const argsz = fc.constantFrom(0, 23, 24, 31, 32, 48, 4096);
const anyFlags = fc.integer({ min: 0, max: 255 });
const mapFlags = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(1, 2, 3) },
  { weight: 1, arbitrary: fc.constant(4) },
  { weight: 1, arbitrary: anyFlags },
);
const unmapFlags = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(2, 4) },
  { weight: 1, arbitrary: anyFlags },
);

type Request =
  | { readonly kind: 'map'; readonly args: MapDmaArgs }
  | { readonly kind: 'unmap'; readonly args: UnmapDmaArgs }
  | { readonly kind: 'pin'; readonly iovaPage: number; readonly npage: number };

const request: fc.Arbitrary<Request> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        argsz: fc.oneof({ weight: 8, arbitrary: fc.constant(32) }, { weight: 1, arbitrary: argsz }),
        flags: mapFlags,
        vaddr,
        iova: u64,
        sizeBytes: size,
      })
      .map((args) => ({ kind: 'map' as const, args })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        argsz: fc.oneof({ weight: 8, arbitrary: fc.constant(24) }, { weight: 1, arbitrary: argsz }),
        flags: unmapFlags,
        iova: u64,
        sizeBytes: fc.oneof({ weight: 8, arbitrary: size }, { weight: 1, arbitrary: fc.constant('0') }),
      })
      .map((args) => ({ kind: 'unmap' as const, args })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ iovaPage: fc.integer({ min: 0, max: 24 }), npage: fc.integer({ min: 1, max: 3 }) })
      .map((pin) => ({ kind: 'pin' as const, ...pin })),
  },
);

function makeWorld(kind: number, v2: boolean, dmaEntryLimit: number): VfioState {
  const type = v2 ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
  const base = world({ params: { dmaEntryLimit, allowUnsafeInterrupts: false } });
  if (kind === 0) return setUp(base, [GROUP_A], [], type);
  if (kind === 1) return setUp(base, [GROUP_A, GROUP_B], [], type);
  if (kind === 2) return setUp(base, [GROUP_MDEV], [MDEV], type);
  return setUp(base, [GROUP_A, GROUP_MDEV], [MDEV], type);
}

/** §1.13 accounting, checked cheaply; the first broken clause is reported with its values. */
function accountingProblem(state: VfioState): unknown {
  const overlaps = overlappingMappings(state);
  if (overlaps.length > 0) return { overlaps };
  const mismatches = frameRefcountMismatches(state);
  if (mismatches.length > 0) return { mismatches };
  const disagreements = translationDisagreements(state);
  if (disagreements.length > 0) return { disagreements };
  const slots = slotAccounting(state)!;
  if (slots.dmaAvail + slots.mappings !== slots.limit) return { slots };
  const locked = lockedVmAccounting(state);
  const lockedOk =
    locked.processPages === locked.expectedPages &&
    locked.perMappingPages === locked.expectedPages &&
    locked.processPages <= locked.limitPages;
  return lockedOk ? null : { locked };
}

describe('MAP_DMA / UNMAP_DMA with arbitrary u64 arguments', () => {
  it('answer success or a listed errno; a refusal changes nothing; accounting holds', () => {
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.array(request, { minLength: 1, maxLength: 10 }),
        (kind, v2, dmaEntryLimit, requests) => {
          const state = makeWorld(kind, v2, dmaEntryLimit);
          for (const req of requests) {
            const before = cloneVfioState(state);
            const result =
              req.kind === 'map'
                ? mapDma(state, config, req.args)
                : req.kind === 'unmap'
                  ? unmapDma(state, config, req.args)
                  : mdevPinPages(state, config, {
                      deviceId: MDEV,
                      iovaPage: req.iovaPage,
                      npage: req.npage,
                      read: true,
                      write: false,
                    });
            outcomes[result.ok ? 'ok' : String(result.error)] =
              (outcomes[result.ok ? 'ok' : String(result.error)] ?? 0) + 1;
            if (!result.ok) {
              if (req.kind === 'map' && !MAP_ERRNOS.includes(String(result.error)))
                expect(result.error).toBe('a MAP errno');
              if (req.kind === 'unmap' && !UNMAP_ERRNOS.includes(String(result.error))) {
                expect(result.error).toBe('an UNMAP errno');
              }
              if (!deepEqual(state, before)) expect(state).toEqual(before);
              if (result.effects.length > 0) expect(result.effects).toEqual([]);
            }
            const problem = accountingProblem(state);
            if (problem !== null) expect(problem).toBeNull();
          }
        },
      ),
      { numRuns: 2000, seed: 20250117 },
    );
    // Every class of answer occurs: the generators reach deep into the checks.
    for (const answer of ['ok', 'EINVAL', 'EEXIST', 'ENOSPC', 'ENOMEM', 'EFAULT', 'ENOENT', 'EPERM']) {
      expect(outcomes[answer] ?? 0, answer).toBeGreaterThan(0);
    }
  });
});
