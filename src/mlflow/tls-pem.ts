import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ProgradeError, messageOf } from '../errors';

/**
 * Reads the PEM files a person points prograde at through an environment variable (a CA bundle, a
 * client certificate and key) and checks them before any connection is tried: a wrong path or a
 * file that is not PEM is the caller's mistake (exit 2) and must name the variable and the file,
 * not surface later as an opaque handshake failure.
 *
 * It lives with the MLflow client because that is the lowest layer that makes HTTPS calls; the
 * gateway admin client, the traffic tool and the Temporal settings reuse it.
 */

/** PEM text that has been parsed: every certificate is a valid X.509 certificate. */
export interface PemCertificates {
  readonly pem: string;
  /** Subjects, for messages and logs. */
  readonly subjects: readonly string[];
}

export interface PemClientIdentity {
  readonly cert: string;
  readonly key: string;
}

// Large enough for any real bundle (the Mozilla root store is ~220 KB), small enough to refuse /dev/zero.
const MAX_PEM_BYTES = 4 * 1024 * 1024;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK =
  /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function invalid(variable: string, path: string, why: string, cause?: unknown): ProgradeError {
  return new ProgradeError(
    'TLS_CONFIG_INVALID',
    `${variable}=${path}: ${why}`,
    'terminal',
    { variable, path },
    cause === undefined ? undefined : { cause },
  );
}

function readText(variable: string, path: string): string {
  if (path.trim() === '') throw invalid(variable, path, 'is empty; set it to the path of a PEM file');
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw invalid(variable, path, 'is not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof ProgradeError) throw e;
    const code = (e as { code?: unknown }).code;
    throw invalid(variable, path, code === 'ENOENT' ? 'no such file' : `cannot be read (${messageOf(e)})`, e);
  }
  if (size > MAX_PEM_BYTES) throw invalid(variable, path, `is ${size} bytes; a PEM bundle is far smaller`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw invalid(variable, path, `cannot be read (${messageOf(e)})`, e);
  }
}

function parseCertificates(variable: string, path: string, text: string): PemCertificates {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0)
    throw invalid(variable, path, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  const subjects = blocks.map((block, i) => {
    try {
      return new X509Certificate(block).subject.replace(/\n/g, ', ');
    } catch (e) {
      throw invalid(variable, path, `certificate ${i + 1} is not a valid X.509 certificate`, e);
    }
  });
  return { pem: blocks.join('\n') + '\n', subjects };
}

/** A CA bundle: one or more PEM certificates the server's chain must lead to. */
export function readCaBundle(variable: string, path: string): PemCertificates {
  return parseCertificates(variable, path, readText(variable, path));
}

/** A client certificate and its private key, in one PEM file (as MLflow's Python client takes it) or two. */
export function readClientIdentity(
  certVariable: string,
  certPath: string,
  key?: { variable: string; path: string },
): PemClientIdentity {
  const certText = readText(certVariable, certPath);
  const cert = parseCertificates(certVariable, certPath, certText).pem;
  const keyVariable = key?.variable ?? certVariable;
  const keyPath = key?.path ?? certPath;
  const keyText = key ? readText(key.variable, key.path) : certText;
  const block = KEY_BLOCK.exec(keyText)?.[0];
  if (!block) {
    throw invalid(
      keyVariable,
      keyPath,
      key
        ? 'holds no PEM private key'
        : 'holds no PEM private key; put the client certificate and its unencrypted private key in this one file',
    );
  }
  if (block.includes('ENCRYPTED'))
    throw invalid(keyVariable, keyPath, 'holds an encrypted private key; prograde needs it unencrypted');
  let parsedKey;
  try {
    parsedKey = createPrivateKey(block);
  } catch (e) {
    throw invalid(keyVariable, keyPath, 'holds a private key that does not parse', e);
  }
  // The first certificate is the client's own; a key for another certificate fails every handshake.
  if (!new X509Certificate(cert).checkPrivateKey(parsedKey))
    throw invalid(keyVariable, keyPath, `the private key does not belong to the certificate in ${certPath}`);
  return { cert, key: block + '\n' };
}
