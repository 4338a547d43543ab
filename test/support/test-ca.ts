import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throwaway certificate authority and a server certificate it signed, as files and PEM text. */
export interface TestCa {
  /** The folder everything was written to. */
  dir: string;
  caCertPath: string;
  caKeyPath: string;
  caPem: string;
  /** A server certificate for `localhost` and `127.0.0.1` (and `::1`), signed by the CA. */
  serverCertPath: string;
  serverKeyPath: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Signs another leaf (server or client) with this CA; returns its cert and key paths. */
  issue(name: string, options?: IssueOptions): { certPath: string; keyPath: string };
}

export interface IssueOptions {
  /** Subject alternative names; defaults to the loopback names. */
  sans?: string[];
  /** `serverAuth` (default) or `clientAuth`. */
  usage?: 'serverAuth' | 'clientAuth';
}

const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';
const LOOPBACK_SANS = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'];

function openssl(args: string[], cwd: string): void {
  // stdio ignored on success; on failure execFileSync throws with stderr in the message.
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Generates a fresh CA (EC P-256, valid for 2 days) and a loopback server certificate under `dir`,
 * with /usr/bin/openssl. Each call makes a different CA, so a second CA is an "unknown issuer" to
 * a client trusting only the first: that is how tests prove the trust check is real.
 */
export function makeTestCa(dir: string, name = 'prograde-test-ca'): TestCa {
  mkdirSync(dir, { recursive: true });
  const caKeyPath = join(dir, 'ca.key');
  const caCertPath = join(dir, 'ca.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKeyPath], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      caKeyPath,
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      caCertPath,
    ],
    dir,
  );
  let serial = 1;
  const issue = (leaf: string, options: IssueOptions = {}): { certPath: string; keyPath: string } => {
    const keyPath = join(dir, `${leaf}.key`);
    const csrPath = join(dir, `${leaf}.csr`);
    const certPath = join(dir, `${leaf}.pem`);
    const extPath = join(dir, `${leaf}.ext`);
    const sans = options.sans ?? LOOPBACK_SANS;
    writeFileSync(
      extPath,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${options.usage ?? 'serverAuth'}`,
        `subjectAltName=${sans.join(',')}`,
        '',
      ].join('\n'),
    );
    const ecKeyPath = join(dir, `${leaf}.ec.key`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ecKeyPath], dir);
    // PKCS#8 so every consumer (Node, rustls in Temporal's core, Python's ssl) reads the key.
    openssl(['pkcs8', '-topk8', '-nocrypt', '-in', ecKeyPath, '-out', keyPath], dir);
    openssl(['req', '-new', '-key', keyPath, '-subj', `/CN=${leaf}`, '-out', csrPath], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csrPath,
        '-CA',
        caCertPath,
        '-CAkey',
        caKeyPath,
        '-set_serial',
        String(++serial),
        '-days',
        '2',
        '-sha256',
        '-extfile',
        extPath,
        '-out',
        certPath,
      ],
      dir,
    );
    return { certPath, keyPath };
  };
  const server = issue('server');
  return {
    dir,
    caCertPath,
    caKeyPath,
    caPem: readFileSync(caCertPath, 'utf8'),
    serverCertPath: server.certPath,
    serverKeyPath: server.keyPath,
    serverCertPem: readFileSync(server.certPath, 'utf8'),
    serverKeyPem: readFileSync(server.keyPath, 'utf8'),
    issue,
  };
}
