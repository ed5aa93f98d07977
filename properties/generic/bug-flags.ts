/**
 * Refusing bug flags a design cannot show. A factory (`vfioDesign`, `passthroughDesign`,
 * `kvmgtDesign`, …) takes deliberate bugs by name; a name that is not one of the model's bugs, or a
 * bug whose code path the design's world never takes, would give a design that holds by omission.
 * Each model declares, next to its bug list, what each bug needs of a world
 * (`models/vfio/config.ts`, `models/iommu/config.ts`); the factory says what its world has, and
 * this refuses the rest with an Error that says why.
 */

/** A model's bugs and what each needs, as declared next to its bug list. */
export interface BugCatalogue<B extends string, F extends string> {
  /** The model, for messages: "the VFIO model". */
  readonly model: string;
  readonly bugs: readonly B[];
  readonly needs: Readonly<Record<B, { readonly needs: readonly F[]; readonly otherwise: string }>>;
  /** How "the <world> …" lacks each feature. */
  readonly missing: Readonly<Record<F, string>>;
}

/** What a design's world has, and its name in messages ("the KVMGT container"). */
export interface WorldFeatures<F extends string> {
  readonly name: string;
  readonly has: ReadonlySet<F>;
}

/**
 * Throws when `requested` (the factory option `option`) names a bug the catalogue does not know,
 * or one whose needs `world` lacks; returns the bugs otherwise. Messages read
 * "vfioBugs: 'unmap-skips-unpin' cannot take effect: the KVMGT container has no IOMMU-backed
 * group, so vfio_unmap_unpin never unpins through the IOMMU path".
 */
export function refuseIneffectiveBugs<B extends string, F extends string>(
  option: string,
  requested: readonly unknown[] | undefined,
  catalogue: BugCatalogue<B, F>,
  world: WorldFeatures<F>,
): readonly B[] {
  if (requested === undefined) return [];
  if (!Array.isArray(requested)) throw new Error(`${option}: expected a list of bug names, got ${String(requested)}`);
  for (const bug of requested) {
    if (typeof bug !== 'string' || !(catalogue.bugs as readonly string[]).includes(bug)) {
      throw new Error(
        `${option}: ${JSON.stringify(bug)} is not a bug of ${catalogue.model} (known: ${catalogue.bugs.join(', ')})`,
      );
    }
    const { needs, otherwise } = catalogue.needs[bug as B];
    const lacking = needs.find((feature) => !world.has.has(feature));
    if (lacking !== undefined) {
      throw new Error(
        `${option}: '${bug}' cannot take effect: ${world.name} ${catalogue.missing[lacking]}, so ${otherwise}`,
      );
    }
  }
  return requested as readonly B[];
}
