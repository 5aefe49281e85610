// Splits a byte stream into JSON values: newline-delimited as Go writes it,
// but tolerant of any whitespace, several values per read, or one value
// spread over many reads (protocol §6.3).

import { StringDecoder } from 'node:string_decoder';
import { type JsonValue, JsonSyntaxError, parseJsonPrefix } from './json.js';

export class JsonStreamReader {
  private decoder = new StringDecoder('utf8');
  private text = '';

  constructor(private readonly maxPending = 16 * 1024 * 1024) {}

  /** Feeds bytes; returns the complete values. Throws on malformed input. */
  push(chunk: Buffer | string): JsonValue[] {
    const added = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.text += added;
    const out: JsonValue[] = [];
    // Only a closing brace/bracket or whitespace can complete a value.
    if (!/[}\]\s"el]/.test(added) && this.text.length < this.maxPending) return out;
    let pos = 0;
    for (;;) {
      while (pos < this.text.length && /\s/.test(this.text[pos])) pos++;
      if (pos >= this.text.length) break;
      try {
        const { value, end } = parseJsonPrefix(this.text, pos);
        out.push(value);
        pos = end;
      } catch (e) {
        if (e instanceof JsonSyntaxError && e.incomplete) break;
        throw e;
      }
    }
    this.text = this.text.slice(pos);
    if (this.text.length > this.maxPending) throw new JsonSyntaxError('message too large', 0);
    return out;
  }
}
