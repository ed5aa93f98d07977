/**
 * How an operation of the iommufd model refuses: it throws a `Refusal` inside the step, which
 * catches it (step.ts) and answers with the errno name. The step works on a copy of the state, so
 * a refusal leaves the caller's state unchanged — except where the source itself leaves effects
 * behind (`keep`): IOMMU_IOAS_UNMAP unmaps area after area and stops at the first area that does
 * not fit (-ENOENT) or that its accesses still hold (-EDEADLOCK), with the earlier areas gone and
 * the access callbacks' unpins done (io_pagetable.c iopt_unmap_iova_range); and a device replace
 * refused by the driver drops the group's reserved regions from the new hwpt's IOAS even when it
 * is the IOAS the group stays on (device.c iommufd_device_do_replace, err_unresv).
 */
import type { ResultDetail } from '../result.js';

export class Refusal {
  readonly errno: string;
  readonly keep: boolean;
  /** What the ioctl still writes back on this error (IOVA_RANGES's count on -EMSGSIZE). */
  readonly detail: ResultDetail | undefined;
  /**
   * A kept refusal the source documents (answered with `detail.partial`). Only a flawed hook keeps
   * effects undocumented: an error path that forgets to unwind (`mapUnwindsOnError`).
   */
  readonly partial: boolean;

  constructor(errno: string, keep = false, detail?: ResultDetail, partial = keep) {
    this.errno = errno;
    this.keep = keep;
    this.detail = detail;
    this.partial = partial;
  }
}

/** Refuses with `errno` (never returns). */
export function refuse(errno: string, keep = false, detail?: ResultDetail): never {
  throw new Refusal(errno, keep, detail);
}
