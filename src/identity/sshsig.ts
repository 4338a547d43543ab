import { ed25519 } from '@noble/curves/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2';
import { ascii, base64Decode, concat, hex, sshString, utf8, WireError, WireReader } from './bytes';
import { ED25519, parseKeyBlob, type Ed25519PublicKey } from './ssh-key';

/**
 * OpenSSH's signature format (`ssh-keygen -Y sign`, PROTOCOL.sshsig in the OpenSSH sources): an
 * armored blob holding the signer's public key, a namespace, a hash algorithm and the signature over
 * a wrapper of H(message). Only ed25519 keys are accepted. Parsing the wire format is written here;
 * the hash and the signature check are @noble/hashes and @noble/curves (audited, pure JS, so the
 * workflow sandbox can run them in an update validator).
 */

export const DECISION_NAMESPACE = 'prograde-decision';
const MAGIC = utf8('SSHSIG');
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** An ed25519 SSHSIG is ~300 characters armored; anything far larger is not one. */
export const MAX_ARMORED = 2_000;
const HASHES = { sha512, sha256 } as const;

export interface SshSignature {
  readonly signer: Ed25519PublicKey;
  readonly namespace: string;
  readonly hashAlgorithm: keyof typeof HASHES;
  /** The 64 raw ed25519 signature bytes. */
  readonly signature: Uint8Array;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Parses an armored SSHSIG; every malformed input gets one sentence, never an exception. */
export function parseArmored(armored: string): Parsed<SshSignature> {
  if (armored.length > MAX_ARMORED) return { ok: false, problem: 'the signature is too long' };
  const text = armored.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) {
    return { ok: false, problem: `the signature is not an armored SSH signature (${BEGIN} … ${END})` };
  }
  const body = text.slice(BEGIN.length, text.length - END.length).replace(/\s+/g, '');
  const blob = base64Decode(body);
  if (!blob) return { ok: false, problem: 'the signature is not valid base64' };
  try {
    const r = new WireReader(blob);
    if (ascii(r.raw(6)) !== 'SSHSIG') throw new WireError('not an SSHSIG blob');
    const version = r.uint32();
    if (version !== 1) throw new WireError(`unsupported SSHSIG version ${version}`);
    const signer = parseKeyBlob(r.string());
    const namespace = ascii(r.string());
    r.string(); // reserved
    const hashAlgorithm = ascii(r.string());
    if (hashAlgorithm !== 'sha512' && hashAlgorithm !== 'sha256') {
      throw new WireError(`unsupported hash algorithm '${hashAlgorithm.slice(0, 20)}'`);
    }
    const sig = new WireReader(r.string());
    const sigType = ascii(sig.string());
    if (sigType !== ED25519)
      throw new WireError(`signature type '${sigType.slice(0, 40)}' is not ${ED25519}`);
    const signature = sig.string();
    if (signature.length !== 64 || !sig.done || !r.done) throw new WireError('malformed ed25519 signature');
    return { ok: true, value: { signer, namespace, hashAlgorithm, signature: signature.slice() } };
  } catch (e) {
    return {
      ok: false,
      problem: `malformed SSH signature: ${e instanceof WireError ? e.message : 'unreadable'}`,
    };
  }
}

/** The bytes an SSHSIG signature covers: MAGIC, namespace, reserved, hash algorithm, H(message). */
function signedData(namespace: string, hashAlgorithm: keyof typeof HASHES, message: Uint8Array): Uint8Array {
  return concat(
    MAGIC,
    sshString(utf8(namespace)),
    sshString(new Uint8Array(0)),
    sshString(utf8(hashAlgorithm)),
    sshString(HASHES[hashAlgorithm](message)),
  );
}

/**
 * Checks an armored signature over `message` in `namespace` and returns the signer's key. Which
 * signers are acceptable is the caller's question (a trust list); this only answers "did the holder
 * of this key sign exactly these bytes for this purpose". Strict RFC 8032 verification (zip215 off):
 * non-canonical encodings are refused, so a valid signature cannot be re-encoded into a second one.
 */
export function verifySshSignature(
  armored: string,
  message: string,
  namespace = DECISION_NAMESPACE,
): Parsed<Ed25519PublicKey> {
  const parsed = parseArmored(armored);
  if (!parsed.ok) return parsed;
  const sig = parsed.value;
  if (sig.namespace !== namespace) {
    return {
      ok: false,
      problem: `the signature is for namespace '${sig.namespace.slice(0, 40)}', not '${namespace}'`,
    };
  }
  let valid = false;
  try {
    valid = ed25519.verify(
      sig.signature,
      signedData(namespace, sig.hashAlgorithm, utf8(message)),
      sig.signer.key,
      {
        zip215: false,
      },
    );
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, problem: `bad signature (key ${sig.signer.fingerprint})` };
  return { ok: true, value: sig.signer };
}

/** A stable id of one signed statement by one key: what "the same statement twice" means. */
export function statementDigest(fingerprint: string, statement: string): string {
  return hex(sha256(utf8(`${fingerprint}\n${statement}`)));
}
