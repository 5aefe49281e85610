// JSON as Go's encoding/json reads and writes it (protocol §3): numbers are
// kept as their source text so 64-bit integers survive, strings are escaped
// the way Go escapes them, and output is compact.

/** A JSON number, kept as text; the schema layer decides what it becomes. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly offset: number, readonly incomplete = false) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

const MAX_DEPTH = 1000;

/**
 * Parses the first JSON value in `text` (after optional whitespace).
 * Returns the value and the offset just past it; what follows is not read.
 * Throws JsonSyntaxError (`incomplete` set when the text ends too early).
 */
export function parseJsonPrefix(text: string, start = 0): { value: JsonValue; end: number } {
  let i = start;
  const n = text.length;

  const fail = (msg: string): never => {
    if (i >= n) throw new JsonSyntaxError('unexpected end of JSON input', i, true);
    throw new JsonSyntaxError(msg, i);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const describe = () => `invalid character ${quoteChar(text[i] ?? '')}`;

  const str = (): string => {
    // i is at the opening quote
    const begin = i;
    i++;
    let escaped = false;
    for (;;) {
      if (i >= n) fail('');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail(`${describe()} in string literal`);
      if (c === 0x5c) {
        escaped = true;
        i++;
        if (i >= n) fail('');
        const e = text[i];
        if (e === 'u') {
          if (i + 4 >= n) { i = n; fail(''); }
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail(`invalid character in \\u hexadecimal character escape`);
          i += 4;
        } else if (!'"\\/bfnrt'.includes(e)) {
          fail(`${describe()} in string escape code`);
        }
      }
      i++;
    }
    i++;
    if (!escaped) return text.slice(begin + 1, i - 1);
    return unescapeLoneSurrogates(JSON.parse(text.slice(begin, i)) as string);
  };

  const num = (): JsonNumber => {
    const begin = i;
    if (text[i] === '-') i++;
    if (i >= n) fail('');
    if (text[i] === '0') i++;
    else if (text[i] >= '1' && text[i] <= '9') while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    else fail(`${describe()} in numeric literal`);
    if (text[i] === '.') {
      i++;
      if (!(text[i] >= '0' && text[i] <= '9')) fail(`${describe()} after decimal point in numeric literal`);
      while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!(text[i] >= '0' && text[i] <= '9')) fail(`${describe()} in exponent of numeric literal`);
      while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    }
    // A number at the very end of a stream may still be growing.
    if (i >= n) throw new JsonSyntaxError('unexpected end of JSON input', i, true);
    return new JsonNumber(text.slice(begin, i));
  };

  const lit = (word: string, v: JsonValue): JsonValue => {
    for (let k = 0; k < word.length; k++, i++) {
      if (i >= n) fail('');
      if (text[i] !== word[k]) fail(`${describe()} in literal ${word} (expecting ${JSON.stringify(word[k])})`);
    }
    return v;
  };

  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) throw new JsonSyntaxError('exceeded max depth', i);
    ws();
    if (i >= n) fail('');
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = Object.create(null) as JsonObject;
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`${describe()} looking for beginning of object key string`);
        const key = str();
        ws();
        if (text[i] !== ':') fail(`${describe()} after object key`);
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail(`${describe()} after object key:value pair`);
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail(`${describe()} after array element`);
      }
    }
    if (c === '"') return str();
    if (c === 't') return lit('true', true);
    if (c === 'f') return lit('false', false);
    if (c === 'n') return lit('null', null);
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    return fail(`${describe()} looking for beginning of value`);
  };

  const v = value(0);
  return { value: v, end: i };
}

/** Parses a complete document: one value, then only whitespace. */
export function parseJson(text: string): JsonValue {
  // A bare number at the end is complete here, so pad with a newline.
  const { value, end } = parseJsonPrefix(text + '\n');
  const rest = text.slice(end).trim();
  if (rest !== '') throw new JsonSyntaxError(`invalid character ${quoteChar(rest[0])} after top-level value`, end);
  return value;
}

/** Go's decoder reads one value from a body and ignores what follows. */
export function parseFirstJson(text: string): JsonValue {
  if (text.trim() === '') throw new JsonSyntaxError('EOF', 0);
  return parseJsonPrefix(text + '\n').value;
}

// Go's decoder quotes the offending character in single quotes.
function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return `'"'`;
  const q = JSON.stringify(c);
  return `'${q.slice(1, -1)}'`;
}

// JSON.parse turns "\ud800" into a lone surrogate; Go turns it into U+FFFD.
function unescapeLoneSurrogates(s: string): string {
  return wellFormed(s);
}

interface Es2024String { isWellFormed(): boolean; toWellFormed(): string }
/** Lone surrogates -> U+FFFD, as Go does for invalid UTF-8. */
export function wellFormed(s: string): string {
  const w = s as unknown as Es2024String;
  return w.isWellFormed() ? s : w.toWellFormed();
}

// ---- encoding ----

const ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x3c: '\\u003c', 0x3e: '\\u003e', 0x26: '\\u0026' };
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\<>&\u0000-\u001f\u2028\u2029]/;

/** A JSON string literal exactly as Go's encoder writes it. */
export function quote(s: string): string {
  s = wellFormed(s);
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x80) {
      rep = ESCAPES[c];
      if (rep === undefined && c < 0x20) rep = '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
    } else if (c === 0x2028 || c === 0x2029) {
      rep = '\\u' + c.toString(16);
    }
    if (rep !== undefined) {
      out += s.slice(last, i) + rep;
      last = i + 1;
    }
  }
  return out + s.slice(last) + '"';
}

/** An integer as JSON text; refuses fractions and non-finite values. */
export function integer(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (!Number.isInteger(v)) throw new TypeError(`not an integer: ${v}`);
  return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
}

/**
 * Encodes plain JS data the Go way: object keys sorted by UTF-8 bytes
 * (Go sorts map keys; structs go through the schema layer instead),
 * integers exact, no trailing newline.
 */
export function stringify(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string': return quote(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'number': case 'bigint': return integer(v);
    case 'object': {
      if (v instanceof JsonNumber) return v.text;
      if (Array.isArray(v)) return '[' + v.map(stringify).join(',') + ']';
      const keys = sortKeys(Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined));
      return '{' + keys.map((k) => quote(k) + ':' + stringify((v as Record<string, unknown>)[k])).join(',') + '}';
    }
    default: throw new TypeError(`cannot encode ${typeof v}`);
  }
}

/** Sorts strings by their UTF-8 bytes (what Go does), not UTF-16 units. */
export function sortKeys(keys: string[]): string[] {
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
