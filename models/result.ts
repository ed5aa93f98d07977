/**
 * The answer of a model operation, as plain data: success with optional outputs, or the real
 * system's error (a `GNTST_*` name, an errno name, …). A failed operation must leave the state
 * exactly as it was; the atomicity invariant holds every model to that.
 */
export type ResultDetail = Readonly<Record<string, number | string | boolean | null>>;

export interface OpResult {
  readonly ok: boolean;
  /** The real system's error name when `ok` is false, e.g. `GNTST_bad_gntref` or `ENXIO`. */
  readonly error?: string;
  /** Outputs (handle, dev_bus_addr, nr_done, where a DMA landed, …). */
  readonly detail?: ResultDetail;
  /**
   * The request must wait (refused EBUSY, the scheduler runs it later): what it waits for and what
   * it holds meanwhile. Whether the wait ever ends is the engine's to say (`src/waits.ts`).
   */
  readonly blocked?: Blocked;
}

/** What a request that must wait waits for (a lock, a busy actor), and what it holds meanwhile. */
export interface Blocked {
  readonly waitsFor: string;
  readonly holds: readonly string[];
}

export function succeed(detail?: ResultDetail): OpResult {
  return detail === undefined ? { ok: true } : { ok: true, detail };
}

export function fail(error: string, detail?: ResultDetail): OpResult {
  return detail === undefined ? { ok: false, error } : { ok: false, error, detail };
}

/** An operation and the resources around it: held between its phases, needed by its next one. */
export interface Holding {
  /** Who runs it, in the real system's words ("VMM", "guest vCPU0"). */
  readonly actor: string;
  /** What it is ("unmapDma", "ggttWrite"). */
  readonly kind: string;
  /** What it holds while it waits or sits between phases. */
  readonly holds: readonly string[];
  /** What it must take to go on (its next phase, or the call it is inside); null: nothing. */
  readonly needs: string | null;
}
