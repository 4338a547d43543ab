import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ProgradeError, messageOf } from '../errors';
import { ReloadingFile } from './reloading-file';

/**
 * The gateway's certificate and key (PEM files), checked before they are used: a certificate that
 * does not parse, a key that does not parse or does not belong to the certificate is refused with
 * the file named, at startup (the gateway does not start) and on every reload (the old pair stays).
 */

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export class TlsFilesError extends ProgradeError {
  override readonly name = 'TlsFilesError';
  constructor(files: TlsFiles, reason: string) {
    super(
      'GATEWAY_TLS_INVALID',
      `TLS certificate ${files.certFile} and key ${files.keyFile} cannot be used: ${reason}`,
      'terminal',
      { certFile: files.certFile, keyFile: files.keyFile },
    );
  }
}

export function checkTlsPair(files: TlsFiles, cert: Buffer, key: Buffer): TlsPair {
  if (!cert.toString('latin1').includes('-----BEGIN CERTIFICATE-----'))
    throw new TlsFilesError(files, `${files.certFile} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1')))
    throw new TlsFilesError(files, `${files.keyFile} holds no PEM private key`);
  try {
    // Parses both and checks that the key is the certificate's (OpenSSL: "key values mismatch").
    createSecureContext({ cert, key });
  } catch (e) {
    throw new TlsFilesError(files, messageOf(e));
  }
  return { cert, key };
}

/** The pair, checked, and re-read when either file changes (renewed certificates need no restart). */
export function openTls(
  files: TlsFiles,
  options: { intervalMs: number; logger: Logger; onReload: (pair: TlsPair) => void },
): Promise<ReloadingFile<TlsPair>> {
  return ReloadingFile.open({
    files: [files.certFile, files.keyFile],
    parse: ([cert, key]) => checkTlsPair(files, cert ?? Buffer.alloc(0), key ?? Buffer.alloc(0)),
    what: 'TLS certificate and key',
    intervalMs: options.intervalMs,
    logger: options.logger,
    onReload: options.onReload,
  });
}
