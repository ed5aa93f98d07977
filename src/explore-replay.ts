/**
 * Rebuilding a search's states from their records (`explore.ts`, `explore-worker.ts`): no state is
 * stored, each is replayed from the initial state along its parent records. The replay keeps the
 * states along the last path it took (records from the initial state's down, at most one per
 * level), so the next record asked for, a sibling or cousin in breadth-first order, is replayed
 * from the nearest ancestor both share: a few steps rather than its whole depth.
 */

/**
 * The state of a record, replayed. `parents[r]` is record r's parent (record 0: the initial state)
 * and `via[r]` the command from it; both may grow between calls, as the search adds records.
 */
export function pathReplay(
  initial: unknown,
  parents: readonly number[],
  via: readonly unknown[],
  step: (state: unknown, command: unknown) => unknown,
): (record: number) => unknown {
  const pathRecords: number[] = [0];
  const pathStates: unknown[] = [initial];
  const ancestry: number[] = [];
  return (record) => {
    ancestry.length = 0;
    for (let at = record; at > 0; at = parents[at] ?? 0) ancestry.push(at);
    // ancestry holds record, its parent, ... down to a child of the initial state.
    let shared = 1;
    while (
      shared < pathRecords.length &&
      shared <= ancestry.length &&
      pathRecords[shared] === ancestry[ancestry.length - shared]
    )
      shared += 1;
    pathRecords.length = shared;
    pathStates.length = shared;
    let state = pathStates[shared - 1];
    for (let index = ancestry.length - shared; index >= 0; index--) {
      const at = ancestry[index] ?? 0;
      state = step(state, via[at]);
      pathRecords.push(at);
      pathStates.push(state);
    }
    return state;
  };
}
