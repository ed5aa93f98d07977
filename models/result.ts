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
}

export function succeed(detail?: ResultDetail): OpResult {
  return detail === undefined ? { ok: true } : { ok: true, detail };
}

export function fail(error: string, detail?: ResultDetail): OpResult {
  return detail === undefined ? { ok: false, error } : { ok: false, error, detail };
}
