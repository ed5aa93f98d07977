/**
 * Liveness, for any stack with operations in flight (`src/waits.ts`): every wait ends. A request
 * that must wait (its result says what for and what it holds: `OpResult.blocked`) waits for an
 * operation that can go on; and no operations in flight wait on each other in a cycle. A wait
 * that can never end — a self-deadlock (a callback taking the lock its caller holds) or a cycle of
 * holders — is reported here as a violation naming the operation, what it waits for and who holds
 * it, never as a refusal to retry later.
 */
import type { Command, Invariant } from '../../src/design.js';
import { deadlocks, describeCycle, waitsForever } from '../../src/waits.js';
import type { Holding, WaitCycle } from '../../src/waits.js';

/** What the invariant needs of a stack: its operations' holdings, and who runs a command. */
export interface WaitsView<S, C> {
  holdings(state: S): readonly Holding[];
  actorOf?(state: S, command: C): string;
}

export const NO_OPERATION_WAITS_FOREVER = 'no-operation-waits-forever';

function violation(cycle: WaitCycle): { message: string; actual: string; expected: string } {
  const [waiter] = cycle.chain;
  const holder = cycle.chain[1] ?? cycle.chain[cycle.closesAt];
  const who = (holding: Holding | undefined): string =>
    holding === undefined ? 'nobody' : `${holding.actor} (${holding.kind})`;
  return {
    message: `waits forever: ${describeCycle(cycle)}`,
    actual: `${who(waiter)} waits for ${waiter?.needs ?? 'nothing'} held by ${holder === waiter ? 'itself' : who(holder)}, which can never release it`,
    expected: 'every wait ends: what it waits for is held by an operation that can go on',
  };
}

export function noOperationWaitsForever<S, C extends Command>(view: WaitsView<S, C>): Invariant<S, C> {
  return {
    name: NO_OPERATION_WAITS_FOREVER,
    class: 'liveness',
    description:
      'a request that must wait, and every operation in flight, waits only for what an operation that can go on holds (no self-deadlock, no cycle of holders)',
    check({ before, command, result, after }) {
      const holdings = view.holdings(after);
      const blocked = result?.blocked;
      if (blocked !== undefined && before !== null && command !== null) {
        const waiter: Holding = {
          actor: view.actorOf?.(before, command) ?? 'the request',
          kind: command.kind,
          holds: blocked.holds,
          needs: blocked.waitsFor,
        };
        const cycle = waitsForever(waiter, holdings);
        if (cycle !== null) return violation(cycle);
      }
      const [cycle] = deadlocks(holdings);
      return cycle === undefined ? null : violation(cycle);
    },
  };
}
