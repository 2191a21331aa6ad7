/**
 * Bounds on JSON received from outside (bus payloads, /api/publish bodies, client frames),
 * checked on the raw text BEFORE it is parsed: a value nested thousands deep parses fine but
 * overflows the stack later, wherever it is serialized or walked again.
 */

export type PayloadProblem = 'too_large' | 'too_deep';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/**
 * True when the JSON text nests objects/arrays deeper than `maxDepth` (`{}` is depth 1).
 * One pass, no allocation; brackets inside strings do not count. Works on UTF-8 bytes as
 * well as on a string: a multi-byte UTF-8 sequence never contains an ASCII byte. Text that
 * is not JSON is not judged here (the parser refuses it).
 */
export function jsonTooDeep(text: string | Uint8Array, maxDepth: number): boolean {
  const code = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = code(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}

/** What is wrong with a raw payload, or undefined when it is within both bounds. */
export function payloadProblem(text: string | Uint8Array, limits: { maxBytes: number; maxDepth: number }): PayloadProblem | undefined {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (bytes > limits.maxBytes) return 'too_large';
  if (jsonTooDeep(text, limits.maxDepth)) return 'too_deep';
  return undefined;
}
