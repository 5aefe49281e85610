// A tiny schema language mapping camelCase TS objects to Go's wire structs:
// field order, omitempty vs pointer vs always-written (protocol §3), exact
// integers, case-insensitive key matching on input.

import { InvalidSpecError } from '../api/errors.js';
import { JsonNumber, type JsonObject, type JsonValue, integer, quote, sortKeys, stringify } from './json.js';

export type Scalar = 'string' | 'bool' | 'u8' | 'u16' | 'u32' | 'u64' | 'int' | 'i64' | 'duration';
export type Kind =
  | Scalar
  | { list: Kind }
  | { map: Kind }
  | { struct: Schema };

/**
 * o: omitempty (left out when zero); p: pointer (left out only when unset);
 * a: always written; n: always written, `null` when unset (nullable struct).
 */
export type Mark = 'o' | 'p' | 'a' | 'n';

export interface Field {
  wire: string;
  ts: string;
  kind: Kind;
  mark: Mark;
  /** Decode an absent/null value as the zero value (TS field is required). */
  required?: boolean;
}

export interface Schema { name: string; fields: Field[] }

export function struct(name: string, fields: Field[]): Schema {
  return { name, fields };
}

export function field(wire: string, ts: string, kind: Kind, mark: Mark = 'o', required = false): Field {
  return { wire, ts, kind, mark, required };
}

/** Thrown for a value of the wrong shape; a generic 500 on the wire. */
export class WireDecodeError extends InvalidSpecError {}

// ---- encode ----

function isZero(kind: Kind, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof kind === 'string') {
    if (kind === 'string') return v === '';
    if (kind === 'bool') return v === false;
    return v === 0 || v === 0n;
  }
  if ('list' in kind) return (v as unknown[]).length === 0;
  if ('map' in kind) return Object.keys(v as object).length === 0;
  return false; // Go never omits a struct value
}

const LIMITS: Record<string, [bigint, bigint]> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  u64: [0n, 0xffffffffffffffffn],
  int: [-(2n ** 63n), 2n ** 63n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  duration: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** Milliseconds (TS) to nanoseconds (wire), exactly for whole and sub-ms values. */
export function msToNs(ms: number | bigint): bigint {
  if (typeof ms === 'bigint') return ms * 1_000_000n;
  if (Number.isInteger(ms)) return BigInt(ms) * 1_000_000n;
  if (!Number.isFinite(ms)) throw new TypeError(`not a duration: ${ms}`);
  return BigInt(Math.round(ms * 1e6));
}

/** Nanoseconds (wire) to milliseconds (TS). */
export function nsToMs(ns: bigint): number {
  if (ns % 1_000_000n === 0n) return Number(ns / 1_000_000n);
  return Number(ns) / 1e6;
}

function encodeValue(kind: Kind, v: unknown, path: string): string {
  if (typeof kind === 'string') {
    switch (kind) {
      case 'string':
        if (v === undefined || v === null) return '""';
        if (typeof v !== 'string') throw new InvalidSpecError(`${path}: expected a string`);
        return quote(v);
      case 'bool':
        return v ? 'true' : 'false';
      case 'duration':
        return msToNs((v ?? 0) as number).toString();
      default: {
        if (v === undefined || v === null) return '0';
        if (typeof v !== 'number' && typeof v !== 'bigint') throw new InvalidSpecError(`${path}: expected an integer`);
        let text: string;
        try { text = integer(v); } catch { throw new InvalidSpecError(`${path}: expected an integer, got ${v}`); }
        const [lo, hi] = LIMITS[kind];
        const b = BigInt(text);
        if (b < lo || b > hi) throw new InvalidSpecError(`${path}: ${text} out of range for ${kind}`);
        return text;
      }
    }
  }
  if ('list' in kind) {
    if (v === undefined || v === null) return 'null';
    if (!Array.isArray(v)) throw new InvalidSpecError(`${path}: expected a list`);
    return '[' + v.map((x, i) => encodeValue(kind.list, x, `${path}[${i}]`)).join(',') + ']';
  }
  if ('map' in kind) {
    if (v === undefined || v === null) return 'null';
    const o = v as Record<string, unknown>;
    return '{' + sortKeys(Object.keys(o)).map((k) => quote(k) + ':' + encodeValue(kind.map, o[k], `${path}.${k}`)).join(',') + '}';
  }
  return encodeStruct(kind.struct, (v ?? {}) as Record<string, unknown>, path);
}

export function encodeStruct(schema: Schema, obj: Record<string, unknown>, path = schema.name): string {
  const parts: string[] = [];
  for (const f of schema.fields) {
    const v = obj[f.ts];
    if (f.mark === 'o' && isZero(f.kind, v)) continue;
    if (f.mark === 'p' && (v === undefined || v === null)) continue;
    if (f.mark === 'n' && (v === undefined || v === null)) { parts.push(quote(f.wire) + ':null'); continue; }
    parts.push(quote(f.wire) + ':' + encodeValue(f.kind, v, `${path}.${f.ts}`));
  }
  return '{' + parts.join(',') + '}';
}

/** One wire document: the encoded value plus Go's trailing newline. */
export function encode(schema: Schema, obj: object): string {
  return encodeStruct(schema, obj as Record<string, unknown>) + '\n';
}

export { stringify };

// ---- decode ----

const typeName = (v: JsonValue): string =>
  v === null ? 'null' : v instanceof JsonNumber ? 'number' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v;

function zeroOf(kind: Kind): unknown {
  if (typeof kind === 'string') {
    if (kind === 'string') return '';
    if (kind === 'bool') return false;
    return 0;
  }
  if ('list' in kind) return [];
  if ('map' in kind) return {};
  return decodeStruct(kind.struct, Object.create(null) as JsonObject, '');
}

function decodeInteger(kind: Scalar, v: JsonNumber, path: string): bigint {
  if (!/^-?\d+$/.test(v.text)) {
    throw new WireDecodeError(`json: cannot unmarshal number ${v.text} into Go struct field ${path} of type ${goType(kind)}`);
  }
  const b = BigInt(v.text);
  const [lo, hi] = LIMITS[kind];
  if (b < lo || b > hi) {
    throw new WireDecodeError(`json: cannot unmarshal number ${v.text} into Go struct field ${path} of type ${goType(kind)}`);
  }
  return b;
}

function goType(kind: Scalar): string {
  return ({ u8: 'uint8', u16: 'uint16', u32: 'uint32', u64: 'uint64', int: 'int', i64: 'int64', duration: 'time.Duration', string: 'string', bool: 'bool' } as const)[kind];
}

/** U64 in the TS API: a number when it fits 2^53, else a bigint. */
export function toU64(b: bigint): number | bigint {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

export function decodeValue(kind: Kind, v: JsonValue, path: string): unknown {
  const mismatch = (want: string) =>
    new WireDecodeError(`json: cannot unmarshal ${typeName(v)} into Go struct field ${path} of type ${want}`);
  if (typeof kind === 'string') {
    if (v === null) return zeroOf(kind); // Go leaves the field as is
    switch (kind) {
      case 'string':
        if (typeof v !== 'string') throw mismatch('string');
        return v;
      case 'bool':
        if (typeof v !== 'boolean') throw mismatch('bool');
        return v;
      default: {
        if (!(v instanceof JsonNumber)) throw mismatch(goType(kind));
        const b = decodeInteger(kind, v, path);
        if (kind === 'duration') return nsToMs(b);
        if (kind === 'u64' || kind === 'i64') return toU64(b);
        return Number(b);
      }
    }
  }
  if ('list' in kind) {
    if (v === null) return [];
    if (!Array.isArray(v)) throw mismatch('list');
    return v.map((x) => decodeValue(kind.list, x, path));
  }
  if ('map' in kind) {
    if (v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) throw mismatch('map');
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = decodeValue(kind.map, v[k], `${path}.${k}`);
    return out;
  }
  if (v === null) return zeroOf(kind);
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) throw mismatch(kind.struct.name);
  return decodeStruct(kind.struct, v, path);
}

/** Finds a key the way Go does: exact match first, then case-insensitively. */
function lookupKey(obj: JsonObject, key: string): JsonValue | undefined {
  if (Object.prototype.hasOwnProperty.call(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  let found: JsonValue | undefined;
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) found = obj[k];
  return found;
}

export function decodeStruct(schema: Schema, obj: JsonObject, path = schema.name): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of schema.fields) {
    const raw = lookupKey(obj, f.wire);
    const fpath = path ? `${path}.${f.wire}` : f.wire;
    if (raw === undefined || (raw === null && f.mark !== 'n' && typeof f.kind === 'object' && 'struct' in f.kind && !f.required)) {
      if (f.required) out[f.ts] = f.mark === 'n' ? null : zeroOf(f.kind);
      continue;
    }
    if (raw === null && f.mark === 'n') { out[f.ts] = null; continue; }
    if (raw === null && f.mark === 'p') continue; // unset pointer
    out[f.ts] = decodeValue(f.kind, raw, fpath);
  }
  return out;
}

/** Decodes a top-level JSON value that must be an object of `schema`. */
export function decode<T>(schema: Schema, v: JsonValue): T {
  if (v === null) return decodeStruct(schema, Object.create(null) as JsonObject) as T;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) {
    throw new WireDecodeError(`json: cannot unmarshal ${typeName(v)} into Go value of type ${schema.name}`);
  }
  return decodeStruct(schema, v) as T;
}
