/**
 * The shape of a stack's commands: the fields each kind has and what each may hold. Commands read
 * from files (the corpus) and commands handed to a design through the library (`guard.ts`) are
 * checked against it. A value may be an invalid request — a gfn nobody populated, an unmapped
 * IOVA — since the model answers those with the real system's error; what the schema refuses is
 * what no real caller could pass: a value of the wrong type, one wider than the real field (a domid
 * above 16 bits), a count beyond what the world can hold, or a number JSON cannot carry (-0, NaN).
 *
 * The check runs before every step a design is handed, so it is compiled once per schema into a
 * table by kind of plain `typeof` tests.
 */
import { PAGE_LIMIT } from '../../models/vfio/u64.js';
import { xenFaultPoints } from '../../models/xen/fault.js';
import type { CommandProblem } from '../../src/design.js';

/** A whole number up to `max`: the real field's width, or what the world can hold (`why` says which). */
export interface BoundedNumber {
  readonly type: 'whole number';
  readonly max: number;
  readonly why: string;
  /** `null` is accepted too (an optional address). */
  readonly orNull?: boolean;
  /** The field may be absent (a vCPU number that defaults to 0). */
  readonly optional?: boolean;
}

export type FieldType =
  /** Any whole number a JS number holds exactly (a 64-bit field: the model answers every value). */
  | 'whole number'
  | 'whole number or null'
  | BoundedNumber
  | 'boolean'
  /** A flag that may be absent: `phased: true` on a command that starts an operation left in flight. */
  | 'optional boolean'
  /** An unsigned 64-bit ioctl argument as a decimal string, at most 2^64 − 1. */
  | 'u64 string'
  /** A vfio-ccw channel program: a list of `{ iovaPage, write }`, each page below 2^52. */
  | 'transfer list'
  /** A fault injection point. */
  | '"pin" or "alloc"'
  | '"pin", "alloc" or "map"'
  /** A fault injection point of the KVMGT stack (its pin, its DMA map, its DMA cache insert, its page track). */
  | '"pin", "dmaMap", "cacheAdd" or "trackAdd"'
  /** A fault injection point of Xen's hypercalls (the XenGT stack: `models/xen/fault.ts`). */
  | '"maptrack", "pageRef", "hostMapping", "iommuMap", "alloc", "p2mRemove", "foreignMap" or "domainCreate"'
  /** A batch-buffer command of the GVT-g stacks. */
  | '"store", "forbidden" or "end"'
  /** A vIOMMU invalidation's granularity. */
  | '"page", "domain" or "global"'
  /** A vIOMMU context-cache invalidation's granularity. */
  | '"device" or "global"'
  /** A vIOMMU PASID-cache invalidation's granularity. */
  | '"domain", "pasid" or "global"'
  /** A vIOMMU PASID-based IOTLB invalidation's granularity. */
  | '"pasid" or "page"';

export type CommandSchema = Readonly<Record<string, Readonly<Record<string, FieldType>>>>;

/** A whole number no larger than `max`, bounded for the reason `why`. */
export function upTo(max: number, why: string): BoundedNumber {
  return { type: 'whole number', max, why };
}

/** The same bound, on a field that may be absent. */
export function optionalUpTo(max: number, why: string): BoundedNumber {
  return { type: 'whole number', max, why, optional: true };
}

/** The same bound, or `null`. */
export function upToOrNull(max: number, why: string): BoundedNumber {
  return { type: 'whole number', max, why, orNull: true };
}

/** A page or frame number of a 64-bit address: below 2^64 / 4096. */
export const pageNumber = upTo(PAGE_LIMIT - 1, 'a page of a 64-bit address');
/** A count of pages: at most a whole 64-bit address space. */
export const pageCount = upTo(PAGE_LIMIT, 'a 64-bit address space holds 2^52 pages');
/** Another owner of frames: another VM, named as the models name domains. */
export const frameOwner = upTo(0xffff, 'an owner is a 16-bit domain id');
/** `domid_t` is 16 bits. */
export const domid = upTo(0xffff, 'domid_t is 16 bits');
export const u32 = (what: string): BoundedNumber => upTo(0xffff_ffff, `${what} is 32 bits`);
/** A file descriptor (VFIO group and device fds) is a non-negative `int`. */
export const fd = upTo(0x7fff_ffff, 'a file descriptor is an int');

/** The largest u64, in decimal: a 20-digit string compares with it as text. */
const U64_MAX_DECIMAL = '18446744073709551615';

function isWhole(value: unknown, max = Number.MAX_SAFE_INTEGER): boolean {
  // -0 is refused: JSON writes it as 0, so a trace holding it would not replay the same.
  return (
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max && !Object.is(value, -0)
  );
}

function isU64String(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    /^[0-9]{1,20}$/.test(value) &&
    (value.length < U64_MAX_DECIMAL.length || value <= U64_MAX_DECIMAL)
  );
}

function isTransfer(item: unknown): boolean {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  const transfer = item as Record<string, unknown>;
  return (
    Object.hasOwn(transfer, 'iovaPage') &&
    isWhole(transfer['iovaPage'], pageNumber.max) &&
    Object.hasOwn(transfer, 'write') &&
    typeof transfer['write'] === 'boolean' &&
    Object.keys(transfer).length === 2
  );
}

const xenFaultPointNames: ReadonlySet<string> = new Set<string>(xenFaultPoints);

/** The test of one field type, made once per schema: the step's hot path calls it. */
function checkOf(type: FieldType): (value: unknown) => boolean {
  if (typeof type === 'object') {
    const { max } = type;
    return type.orNull === true ? (value) => value === null || isWhole(value, max) : (value) => isWhole(value, max);
  }
  switch (type) {
    case 'whole number':
      return (value) => isWhole(value);
    case 'whole number or null':
      return (value) => value === null || isWhole(value);
    case 'boolean':
    case 'optional boolean':
      return (value) => typeof value === 'boolean';
    case 'u64 string':
      return isU64String;
    case 'transfer list':
      return (value) => Array.isArray(value) && value.every(isTransfer);
    case '"pin" or "alloc"':
      return (value) => value === 'pin' || value === 'alloc';
    case '"pin", "alloc" or "map"':
      return (value) => value === 'pin' || value === 'alloc' || value === 'map';
    case '"pin", "dmaMap", "cacheAdd" or "trackAdd"':
      return (value) => value === 'pin' || value === 'dmaMap' || value === 'cacheAdd' || value === 'trackAdd';
    case '"maptrack", "pageRef", "hostMapping", "iommuMap", "alloc", "p2mRemove", "foreignMap" or "domainCreate"':
      return (value) => typeof value === 'string' && xenFaultPointNames.has(value);
    case '"store", "forbidden" or "end"':
      return (value) => value === 'store' || value === 'forbidden' || value === 'end';
    case '"page", "domain" or "global"':
      return (value) => value === 'page' || value === 'domain' || value === 'global';
    case '"device" or "global"':
      return (value) => value === 'device' || value === 'global';
    case '"domain", "pasid" or "global"':
      return (value) => value === 'domain' || value === 'pasid' || value === 'global';
    case '"pasid" or "page"':
      return (value) => value === 'pasid' || value === 'page';
  }
}

/** A value in a problem: short, and never throwing (cycles, bigints, deep nesting). */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
    case 'function':
    case 'symbol':
      return typeof value;
    case 'boolean':
      return String(value);
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'object':
      try {
        // A toJSON method may answer undefined.
        const text: string | undefined = JSON.stringify(value);
        if (text === undefined) return 'an object';
        return text.length > 80 ? `${text.slice(0, 80)}…` : text;
      } catch {
        return Array.isArray(value) ? 'an array' : 'an object';
      }
  }
}

function expectation(type: FieldType): string {
  if (typeof type === 'string') return type;
  return `whole number ≤ ${type.max} (${type.why})${type.orNull === true ? ' or null' : ''}`;
}

function problemOf(value: unknown, type: FieldType): string {
  // The wrong type reads as before bounds existed; a whole number out of range names the bound.
  const wrongType = typeof type === 'object' && !isWhole(value) && !(type.orNull === true && value === null);
  const expected = wrongType ? `whole number${type.orNull === true ? ' or null' : ''}` : expectation(type);
  return `expected a ${expected}, got ${describeValue(value)}`;
}

interface FieldCheck {
  readonly field: string;
  readonly type: FieldType;
  readonly fits: (value: unknown) => boolean;
}

/** A validator of commands against `schema`: the first bad field, or null. */
export function commandValidator(schema: CommandSchema): (command: unknown) => CommandProblem | null {
  return compile(schema, false);
}

/**
 * A validator of command templates: as `commandValidator`, but a whole-number field may hold a
 * pick (`{ pick: k }`, k a whole number) that the design's `resolve` turns into a value.
 */
export function templateValidator(schema: CommandSchema): (template: unknown) => CommandProblem | null {
  return compile(schema, true);
}

function isPickOf(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const pick = value as Record<string, unknown>;
  return Object.hasOwn(pick, 'pick') && isWhole(pick['pick']) && Object.keys(pick).length === 1;
}

function numeric(type: FieldType): boolean {
  return typeof type === 'object' || type === 'whole number' || type === 'whole number or null';
}

function quotedKind(kind: unknown): string {
  if (typeof kind !== 'string') return describeValue(kind);
  return `'${kind.length > 40 ? `${kind.slice(0, 40)}…` : kind}'`;
}

function compile(schema: CommandSchema, picks: boolean): (command: unknown) => CommandProblem | null {
  // A Map, so that a kind such as 'constructor' or '__proto__' finds nothing.
  const kinds = new Map<string, readonly FieldCheck[]>();
  for (const [kind, fields] of Object.entries(schema)) {
    kinds.set(
      kind,
      Object.entries(fields).map(([field, type]) => {
        const fits = checkOf(type);
        return { field, type, fits: picks && numeric(type) ? (value) => fits(value) || isPickOf(value) : fits };
      }),
    );
  }
  return (command) => {
    if (typeof command !== 'object' || command === null || Array.isArray(command)) {
      return { field: '(command)', problem: `expected an object with a kind, got ${describeValue(command)}` };
    }
    const record = command as Record<string, unknown>;
    const kind = Object.hasOwn(record, 'kind') ? record['kind'] : undefined;
    const fields = typeof kind === 'string' ? kinds.get(kind) : undefined;
    if (fields === undefined) {
      return kind === undefined
        ? { field: 'kind', problem: 'missing' }
        : { field: 'kind', problem: `unknown command kind ${quotedKind(kind)}` };
    }
    let present = 0;
    for (const { field, type, fits } of fields) {
      if (!Object.hasOwn(record, field)) {
        if (type === 'optional boolean' || (typeof type === 'object' && type.optional === true)) continue;
        return { field, problem: 'missing' };
      }
      present += 1;
      const value = record[field];
      if (!fits(value)) return { field, problem: problemOf(value, type) };
    }
    const keys = Object.keys(record);
    if (keys.length !== present + 1) {
      const extra = keys.find((field) => field !== 'kind' && !fields.some((known) => known.field === field));
      if (extra !== undefined) return { field: extra, problem: `not a field of ${String(kind)}` };
    }
    return null;
  };
}
