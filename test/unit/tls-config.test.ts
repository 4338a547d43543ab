import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { temporalSettings } from '../../src/config/temporal';
import { ProgradeError } from '../../src/errors';
import { mlflowConfigFromEnv } from '../../src/mlflow/config';
import { certificateProblem, describeCertificateProblem } from '../../src/mlflow/tls-fetch';
import { readCaBundle, readClientIdentity } from '../../src/mlflow/tls-pem';
import { makeTestCa, type TestCa } from '../support/test-ca';

let dir: string;
let ca: TestCa;
let other: TestCa;
let clientCert: string;
let clientKey: string;
let identity: string;

function thrown(fn: () => unknown): ProgradeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProgradeError) return e;
    throw e;
  }
  throw new Error('expected a ProgradeError');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'prograde-tls-unit-'));
  ca = makeTestCa(join(dir, 'ca'));
  other = makeTestCa(join(dir, 'other'), 'other-ca');
  const c = ca.issue('client', { usage: 'clientAuth', sans: ['DNS:client'] });
  clientCert = c.certPath;
  clientKey = c.keyPath;
  identity = join(dir, 'identity.pem');
  writeFileSync(identity, readFileSync(clientCert, 'utf8') + readFileSync(clientKey, 'utf8'));
});

describe('PEM files named by environment variables', () => {
  it('reads a bundle of several CAs', () => {
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, `# comment lines are fine\n${ca.caPem}\n${other.caPem}`);
    const read = readCaBundle('X_CA', bundle);
    expect(read.subjects).toEqual(['CN=prograde-test-ca', 'CN=other-ca']);
    expect(read.pem).not.toContain('comment');
  });

  it('refuses a missing file, a folder, text that is not PEM and a corrupt certificate, naming variable and path', () => {
    expect(thrown(() => readCaBundle('X_CA', join(dir, 'none.pem'))).message).toBe(
      `X_CA=${join(dir, 'none.pem')}: no such file`,
    );
    expect(thrown(() => readCaBundle('X_CA', dir)).message).toBe(`X_CA=${dir}: is not a regular file`);
    const text = join(dir, 'text.pem');
    writeFileSync(text, 'not a certificate');
    const e = thrown(() => readCaBundle('X_CA', text));
    expect(e.code).toBe('TLS_CONFIG_INVALID');
    expect(e.exitClass).toBe('invalid-input');
    expect(e.message).toContain('holds no PEM certificate');
    const corrupt = join(dir, 'corrupt.pem');
    writeFileSync(corrupt, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(thrown(() => readCaBundle('X_CA', corrupt)).message).toContain(
      'certificate 1 is not a valid X.509 certificate',
    );
    expect(thrown(() => readCaBundle('X_CA', '/dev/null')).message).toContain('not a regular file');
  });

  it('reads a client identity from one file or two, and refuses a key that belongs to another certificate', () => {
    expect(readClientIdentity('C', identity).key).toContain('PRIVATE KEY');
    expect(readClientIdentity('C', clientCert, { variable: 'K', path: clientKey }).cert).toContain(
      'BEGIN CERTIFICATE',
    );
    expect(thrown(() => readClientIdentity('C', clientCert)).message).toContain(
      'put the client certificate and its unencrypted private key in this one file',
    );
    const mismatched = thrown(() =>
      readClientIdentity('C', clientCert, { variable: 'K', path: ca.serverKeyPath }),
    );
    expect(mismatched.message).toBe(
      `K=${ca.serverKeyPath}: the private key does not belong to the certificate in ${clientCert}`,
    );
  });
});

describe('MLflow TLS variables', () => {
  const base = { MLFLOW_TRACKING_URI: 'https://mlflow.example:5000' };

  it('MLFLOW_TRACKING_SERVER_CERT_PATH and MLFLOW_TRACKING_CLIENT_CERT_PATH become the client trust', () => {
    const config = mlflowConfigFromEnv({
      ...base,
      MLFLOW_TRACKING_SERVER_CERT_PATH: ca.caCertPath,
      MLFLOW_TRACKING_CLIENT_CERT_PATH: identity,
    });
    expect(config.tls?.trust.ca).toContain('BEGIN CERTIFICATE');
    expect(config.tls?.trust.key).toContain('PRIVATE KEY');
    expect(config.tls?.caPath).toBe(ca.caCertPath);
    expect(mlflowConfigFromEnv(base).tls).toBeUndefined();
  });

  it('MLFLOW_TRACKING_INSECURE_TLS=true is refused; false is accepted; anything else is an error', () => {
    for (const value of ['true', 'TRUE', '1']) {
      const e = thrown(() => mlflowConfigFromEnv({ ...base, MLFLOW_TRACKING_INSECURE_TLS: value }));
      expect(e.code).toBe('MLFLOW_CONFIG_INVALID');
      expect(e.message).toContain('Set MLFLOW_TRACKING_SERVER_CERT_PATH');
    }
    expect(mlflowConfigFromEnv({ ...base, MLFLOW_TRACKING_INSECURE_TLS: 'false' }).baseUrl).toBe(
      'https://mlflow.example:5000',
    );
    expect(
      thrown(() => mlflowConfigFromEnv({ ...base, MLFLOW_TRACKING_INSECURE_TLS: 'yes' })).message,
    ).toContain('must be true or false');
  });

  it('a bad bundle path fails at configuration, before any request', () => {
    const e = thrown(() =>
      mlflowConfigFromEnv({ ...base, MLFLOW_TRACKING_SERVER_CERT_PATH: '/nonexistent/ca.pem' }),
    );
    expect(e.code).toBe('TLS_CONFIG_INVALID');
    expect(e.message).toBe('MLFLOW_TRACKING_SERVER_CERT_PATH=/nonexistent/ca.pem: no such file');
  });
});

describe('Temporal TLS and API key reach the connection options', () => {
  const base = {
    TEMPORAL_ADDRESS: 'temporal.example:7233',
    TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml',
  };

  it('a server CA, a server name and an API key are all in the options the client and worker connect with', () => {
    const s = temporalSettings({
      ...base,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.caCertPath,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
      TEMPORAL_API_KEY: 'k-123',
    });
    expect(s.connection.address).toBe('temporal.example:7233');
    expect(s.connection.apiKey).toBe('k-123');
    const tls = s.connection.tls;
    expect(tls && typeof tls === 'object').toBe(true);
    if (!tls || typeof tls !== 'object') return;
    expect(Buffer.from(tls.serverRootCACertificate ?? []).toString('utf8')).toBe(ca.caPem);
    expect(tls.serverNameOverride).toBe('localhost');
  });

  it('an API key alone turns TLS on (system roots)', () => {
    const s = temporalSettings({ ...base, TEMPORAL_API_KEY: 'k' });
    expect(s.connection.tls).toBe(true);
    expect(s.connection.apiKey).toBe('k');
  });

  it('a client certificate and key reach the options as a pair; one without the other is refused', () => {
    const s = temporalSettings({
      ...base,
      TEMPORAL_TLS_CLIENT_CERT_PATH: clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: clientKey,
    });
    const tls = s.connection.tls;
    if (!tls || typeof tls !== 'object') throw new Error('no TLS options');
    expect(Buffer.from(tls.clientCertPair?.crt ?? []).toString('utf8')).toContain('BEGIN CERTIFICATE');
    const e = thrown(() => temporalSettings({ ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: clientCert }));
    expect(e.code).toBe('TLS_CONFIG_INVALID');
    expect(e.message).toContain('TEMPORAL_TLS_CLIENT_KEY_PATH is not set');
  });

  it('refuses TEMPORAL_TLS_DISABLE_HOST_VERIFICATION (envconfig would ignore it silently)', () => {
    const e = thrown(() => temporalSettings({ ...base, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }));
    expect(e.code).toBe('TLS_CONFIG_INVALID');
    expect(e.message).toContain('TEMPORAL_TLS_SERVER_NAME');
  });

  it('a missing CA file names the variable (not a bare ENOENT)', () => {
    const e = thrown(() => temporalSettings({ ...base, TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nope.pem' }));
    expect(e.message).toBe('TEMPORAL_TLS_SERVER_CA_CERT_PATH=/nope.pem: no such file');
  });
});

describe('naming a failed handshake', () => {
  const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

  it('reads Node error codes through fetch-style cause chains', () => {
    const fetchError = new TypeError('fetch failed', {
      cause: withCode('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    });
    expect(certificateProblem(fetchError)?.problem).toBe('untrusted');
    expect(certificateProblem(withCode('x', 'ERR_TLS_CERT_ALTNAME_INVALID'))?.problem).toBe('wrong-host');
    expect(certificateProblem(withCode('x', 'CERT_HAS_EXPIRED'))?.problem).toBe('expired');
    expect(certificateProblem(withCode('x', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'))?.problem).toBe(
      'client-refused',
    );
    expect(certificateProblem(withCode('connect ECONNREFUSED', 'ECONNREFUSED'))).toBeUndefined();
  });

  it("reads Temporal core's (rustls) words", () => {
    const core = new Error('Failed to connect: transport error: invalid peer certificate: UnknownIssuer');
    expect(certificateProblem(new Error('wrapped', { cause: core }))).toEqual({
      problem: 'untrusted',
      detail: 'UnknownIssuer',
    });
    expect(certificateProblem(new Error('invalid peer certificate: NotValidForName'))?.problem).toBe(
      'wrong-host',
    );
    expect(
      certificateProblem(new Error('invalid peer certificate: InvalidCertificate(Expired)'))?.problem,
    ).toBe('expired');
    // A message that merely mentions expiry is not a certificate problem.
    expect(certificateProblem(new Error('16 UNAUTHENTICATED: API key expired'))).toBeUndefined();
  });

  it('says which variable fixes it, and which bundle did not cover the server', () => {
    expect(describeCertificateProblem('untrusted', 'X', 'h:1', { ca: 'THE_CA' })).toContain(
      'certificate not trusted',
    );
    expect(describeCertificateProblem('untrusted', 'X', 'h:1', { ca: 'THE_CA' })).toContain('set THE_CA');
    expect(describeCertificateProblem('untrusted', 'X', 'h:1', { ca: 'THE_CA', caPath: '/b.pem' })).toContain(
      'THE_CA=/b.pem',
    );
  });
});
