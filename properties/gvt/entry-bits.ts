/**
 * The size bits of a guest page-table entry as both GVT-g stacks' generators draw them
 * (`models/gvt/commands.ts` `guestWritePte`): stored into a page directory, the IPS bit makes the
 * table the entry names a 64K table (`models/gvt/ips64k.ts`), the PS bit makes the entry a 2M page
 * (`models/gvt/huge2m.ts`), shadowed whole where the host maps it at 2M, else split into 4K maps.
 */
import fc from 'fast-check';

/** The IPS bit: every other store. */
export const ipsBit: fc.Arbitrary<boolean> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);

/** The PS bit: one store in three. */
export const pseBit: fc.Arbitrary<boolean> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);

/** The bits as a command carries them: a clear one left out. */
export function setBits(bits: { readonly ips?: boolean; readonly pse?: boolean }): {
  readonly ips?: true;
  readonly pse?: true;
} {
  return { ...(bits.ips === true ? { ips: true } : {}), ...(bits.pse === true ? { pse: true } : {}) };
}
