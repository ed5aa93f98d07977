/**
 * Waits that never end (issue 18, "an operation that would wait forever in the real system is
 * reported as such"). A stack with operations in flight says, per operation, what it holds between
 * its phases (a lock, a reference the real code keeps) and what its next phase must take
 * (`Design.holdings`); a command that must wait says the same in its result (`OpResult.blocked`):
 * what it waits for and what it holds meanwhile. The stack's model refuses such a command (EBUSY,
 * the state unchanged) and the scheduler runs it later — right for a wait that ends, when whoever
 * holds what it needs can go on and release it. `waitsForever` follows the chain from the waiter
 * to the holder of what it needs, to the holder of what that one needs, and so on: the wait ends if
 * the chain reaches an operation that can go on (it needs nothing held), and never ends if the
 * chain comes back to an operation on it — itself (a self-deadlock: a callback taking the lock its
 * caller holds) or another (a cycle: two operations each holding what the other needs). The generic
 * invariant `no-operation-waits-forever` (properties/generic/waits.ts) reports the latter as a
 * violation naming the operation, what it waits for, and who holds it.
 *
 * Resources are the stack's own names ("iommu->lock", "the vGPU lock"), compared as strings: one
 * name is one exclusive resource, held by at most one operation.
 */

import type { Blocked, Holding } from '../models/result.js';

export type { Blocked, Holding };

/** A wait that never ends: the chain from the waiter, each waiting for what the next holds. */
export interface WaitCycle {
  /** The waiter first; each waits for its `needs`, held by the next; the last by `chain[closesAt]`. */
  readonly chain: readonly Holding[];
  /** Where the chain closes: 0 when the waiter is on the cycle (itself, for a self-deadlock). */
  readonly closesAt: number;
}

/**
 * Whether `waiter` waits forever among `others`: the cycle its chain of holders closes, or null
 * when the chain ends at an operation that can go on (or at a resource nobody holds). An operation
 * that needs what it holds itself is a cycle of one.
 */
export function waitsForever(waiter: Holding, others: readonly Holding[]): WaitCycle | null {
  const everyone = [waiter, ...others];
  const holderOf = (resource: string): Holding | undefined => {
    // The waiter first: a self-deadlock is found before another holder of the same name.
    for (const holding of everyone) if (holding.holds.includes(resource)) return holding;
    return undefined;
  };
  const chain: Holding[] = [];
  let current: Holding | undefined = waiter;
  while (current !== undefined && current.needs !== null) {
    // The chain closed: on the waiter (it is on the cycle), or further on (it waits on a cycle of
    // others, which never ends either).
    if (chain.includes(current)) return { chain, closesAt: chain.indexOf(current) };
    chain.push(current);
    current = holderOf(current.needs);
  }
  return null;
}

/** The cycles among operations in flight (each once, from its oldest operation). */
export function deadlocks(holdings: readonly Holding[]): WaitCycle[] {
  const found: WaitCycle[] = [];
  const seen = new Set<Holding>();
  holdings.forEach((holding, index) => {
    if (seen.has(holding)) return;
    const others = holdings.filter((_, other) => other !== index);
    const cycle = waitsForever(holding, others);
    if (cycle === null || cycle.closesAt !== 0) return;
    for (const member of cycle.chain) seen.add(member);
    found.push(cycle);
  });
  return found;
}

/** The chain in words: "A (kind) waits for R, held by B (kind); B (kind) waits for S, held by A (kind)". */
export function describeCycle(cycle: WaitCycle): string {
  const name = (holding: Holding): string => `${holding.actor} (${holding.kind})`;
  return cycle.chain
    .map((holding, index) => {
      const next = cycle.chain[index + 1] ?? cycle.chain[cycle.closesAt] ?? holding;
      const by = next === holding ? 'which it holds itself' : `held by ${name(next)}`;
      return `${name(holding)} waits for ${holding.needs ?? 'nothing'}, ${by}`;
    })
    .join('; ');
}
