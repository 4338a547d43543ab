/**
 * The few byte conversions the SSH wire formats need, written out so this folder stays sandbox-safe:
 * Temporal's workflow sandbox has no Buffer, and these must give the same answer there as in the CLI.
 * This is parsing, not cryptography: hashing and signature checks come from @noble (verify.ts).
 */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Standard base64 (with or without padding). Undefined for anything else, never a partial result. */
export function base64Decode(text: string): Uint8Array | undefined {
  const s = text.replace(/=+$/, '');
  if (s.length % 4 === 1 || text.length - s.length > 2) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of s) {
    const v = B64_INDEX.get(c);
    if (v === undefined) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** Standard base64 without padding, as ssh-keygen prints key fingerprints. */
export function base64EncodeUnpadded(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < chars; k++) out += B64[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    let cp = ch.codePointAt(0) ?? 0xfffd;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(out);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An SSH wire `string`: a big-endian uint32 length, then the bytes. */
export function sshString(bytes: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length);
  return concat(len, bytes);
}

export function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Reads SSH wire fields in order; every read is bounds-checked and throws WireError past the end. */
export class WireReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  raw(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.bytes.length) throw new WireError('truncated');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  uint32(): number {
    return new DataView(this.raw(4).slice().buffer).getUint32(0);
  }

  string(): Uint8Array {
    return this.raw(this.uint32());
  }

  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

export class WireError extends Error {}
