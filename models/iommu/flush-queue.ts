/**
 * Lazy (deferred flush queue) DMA mode, docs/reference/vtd.md §3.5: an unmap of a `dma-fq` domain clears
 * its PTEs but does not invalidate; it appends (IOVA range, removed leaves, cleared table pages)
 * to the domain's flush queue. A flush is a domain-wide invalidation (`flush_iotlb_all`, a DSI),
 * after which the queued entries are released: their table pages are freed, and their frames may
 * be released by whoever holds them (the IOMMU holds no frame reference; `pendingFlushFrames` and
 * `flushQueueEntriesReleased` in views.ts tell a caller such as VFIO which frames wait for a flush
 * and when they stop waiting).
 *
 * The 10 ms timer is the `drainFlushQueue` command; a full queue is flushed by the unmap that finds
 * it full, before appending (`queue_iova` → `fq_full` → `fq_flush_iotlb` + `fq_ring_free`).
 *
 * Left out: per-CPU queues (one queue per domain), flush counters (every queued entry is older
 * than any flush that drains it), the single-queue variant's sizes, IOVA allocation (the DMA API's
 * allocator, which does not hand a queued IOVA out again — the model does not refuse maps into a
 * queued range; stale IOTLB entries there stay covered by the queue until the flush).
 */
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { flushAllTags } from './invalidate.js';
import type { Flush } from './invalidate.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { freeTables, getDomain } from './state.js';
import type { FlushQueueEntry, IommuDomain, IommuState, Translation } from './types.js';

/**
 * Flushes a domain's queue: the whole domain (`flush_iotlb_all` → `cache_tag_flush_all`: a DSI, or a
 * first-level domain's PASID-based flush per tag), then releases every entry. Returns the released
 * entries.
 */
export function flushQueueFlush(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
): { flush: Flush | null; released: FlushQueueEntry[] } {
  const flush = hasIommuBug(config, 'flush-queue-skips-iotlb') ? null : flushAllTags(state, domain.domainId);
  const released = domain.flushQueue;
  for (const entry of released) freeTables(state, entry.freedTableIds);
  domain.flushQueue = [];
  return { flush, released };
}

/** Appends an unmap to the domain's queue, flushing it first when full. Returns entries released. */
export function queueUnmap(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  unmapped: { iovaPage: number; pages: number; leaves: readonly Translation[]; freedTableIds: readonly number[] },
): FlushQueueEntry[] {
  let released: FlushQueueEntry[] = [];
  if (domain.flushQueue.length >= Math.max(1, state.caps.flushQueueEntries)) {
    released = flushQueueFlush(state, config, domain).released;
  }
  domain.flushQueue.push({ seq: state.nextFlushSeq, ...unmapped });
  state.nextFlushSeq += 1;
  return released;
}

/**
 * The flush-queue timer for one domain: a domain-wide invalidation, then every queued entry is
 * released. Runs (and flushes) even when the queue is empty, as the timer does. ENOENT for an
 * unknown domain; EINVAL for a domain that has no flush queue (not `dma-fq`).
 */
export function drainFlushQueue(state: IommuState, config: IommuConfig, args: { readonly domainId: number }): OpResult {
  const domain = getDomain(state, args.domainId);
  if (domain === undefined) return fail('ENOENT');
  if (domain.type !== 'dma-fq') return fail('EINVAL');
  const { flush, released } = flushQueueFlush(state, config, domain);
  return succeed({
    invalidation: flush === null ? 'none' : flush.granularity,
    releasedEntries: released.length,
    releasedPages: released.reduce(
      (sum, entry) => sum + entry.leaves.reduce((pages, leaf) => pages + leaf.pages, 0),
      0,
    ),
  });
}
