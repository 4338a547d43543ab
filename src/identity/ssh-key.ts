import { sha256 } from '@noble/hashes/sha2';
import {
  ascii,
  base64Decode,
  base64EncodeUnpadded,
  equalBytes,
  sshString,
  utf8,
  WireError,
  WireReader,
} from './bytes';

export const ED25519 = 'ssh-ed25519';

/** An ed25519 public key as OpenSSH writes it, reduced to what verification needs. */
export interface Ed25519PublicKey {
  /** The 32 raw key bytes. */
  readonly key: Uint8Array;
  /** `SHA256:…`, exactly as `ssh-keygen -l -f key.pub` prints it. */
  readonly fingerprint: string;
}

/** The SSH wire blob of an ed25519 public key: string "ssh-ed25519", string key. */
export function keyBlob(key: Uint8Array): Uint8Array {
  const type = utf8(ED25519);
  const out = new Uint8Array(4 + type.length + 4 + key.length);
  out.set(sshString(type), 0);
  out.set(sshString(key), 4 + type.length);
  return out;
}

export function fingerprintOf(key: Uint8Array): string {
  return `SHA256:${base64EncodeUnpadded(sha256(keyBlob(key)))}`;
}

/** Parses a wire blob; only ed25519 keys of 32 bytes are accepted. */
export function parseKeyBlob(blob: Uint8Array): Ed25519PublicKey {
  const r = new WireReader(blob);
  const type = ascii(r.string());
  if (type !== ED25519) throw new WireError(`key type '${type.slice(0, 40)}' is not ${ED25519}`);
  const key = r.string();
  if (key.length !== 32 || !r.done) throw new WireError('malformed ed25519 key');
  return { key: key.slice(), fingerprint: fingerprintOf(key) };
}

export type KeyLineResult =
  { ok: true; value: Ed25519PublicKey & { comment: string } } | { ok: false; problem: string };

/**
 * One line of an `authorized_keys`-style list: `ssh-ed25519 AAAA… [comment]`. The type named in
 * front must match the type inside the blob (a blob of another type under an ed25519 label is refused).
 */
export function parseKeyLine(line: string): KeyLineResult {
  const parts = line.trim().split(/\s+/);
  const [type, b64, ...comment] = parts;
  if (type !== ED25519) {
    return { ok: false, problem: `only ${ED25519} keys are supported (got '${(type ?? '').slice(0, 40)}')` };
  }
  const blob = b64 === undefined ? undefined : base64Decode(b64);
  if (!blob) return { ok: false, problem: 'the key is not valid base64' };
  try {
    const parsed = parseKeyBlob(blob);
    if (!equalBytes(keyBlob(parsed.key), blob)) return { ok: false, problem: 'malformed ed25519 key' };
    return { ok: true, value: { ...parsed, comment: comment.join(' ') } };
  } catch (e) {
    return { ok: false, problem: e instanceof WireError ? e.message : 'malformed ed25519 key' };
  }
}
