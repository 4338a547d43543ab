import { HttpError } from './http-util';

/** Index of the quote that closes the string opened at `open`, or -1 if it never closes. */
function stringEnd(bytes: Buffer, open: number): number {
  let at = open;
  for (;;) {
    at = bytes.indexOf(0x22, at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * The deepest nesting of arrays and objects in JSON text, capped: scanning stops as soon as
 * `max` is exceeded, so a body of ten thousand `[` costs max + 1 steps. Strings are skipped whole,
 * so brackets inside them do not count. Linear in the bytes, about 4 ns a byte.
 */
export function jsonDepthExceeds(bytes: Buffer, max: number): boolean {
  let depth = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i] as number;
    if (c < 0x5b) {
      if (c === 0x22) {
        const end = stringEnd(bytes, i);
        if (end < 0) return false; // unterminated: JSON.parse refuses it
        i = end;
      }
      continue;
    }
    if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}

/**
 * Parses a request body as JSON within a nesting limit. The limit is checked on the bytes first:
 * V8's JSON.parse takes time superlinear in the depth (a second for a million levels), and the
 * walkers that read tensors recurse.
 */
export function parseJsonBody(bytes: Buffer, maxDepth: number): unknown {
  if (bytes.length === 0)
    throw new HttpError(400, 'SERVING_BODY_INVALID', 'request body is empty; expected JSON');
  if (jsonDepthExceeds(bytes, maxDepth))
    throw new HttpError(
      400,
      'SERVING_BODY_TOO_DEEP',
      `request body nests arrays/objects deeper than ${maxDepth} levels`,
      { maxDepth },
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new HttpError(400, 'SERVING_BODY_INVALID', 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new HttpError(
      400,
      'SERVING_BODY_INVALID',
      `request body is not valid JSON: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`,
    );
  }
}
