import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createSecureServer, type IncomingHttpHeaders, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../../src/client/connect';
import { gatewayFor } from '../../src/config/gateway';
import { temporalSettings } from '../../src/config/temporal';
import { repoRoot } from '../../src/devstack/tools';
import { ProgradeError } from '../../src/errors';
import { MlflowClient } from '../../src/mlflow/client';
import type { Dataset } from '../../src/dataset/dataset';
import { buildLogisticModel } from '../../src/onnx/build';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import { v2InputOf } from '../../src/traffic/model-input';
import { runTraffic, type TrafficSummary } from '../../src/traffic/run';
import { connectWorker } from '../../src/worker';
import { stack } from '../support/stack';
import { makeTestCa, type TestCa } from '../support/test-ca';
import { startTlsProxy, type TlsProxy } from '../support/tls-proxy';
import { uniqueName } from './mlflow-fixtures';

/**
 * The CLI and the worker reach Temporal and MLflow over TLS with a CA the test generates: each
 * server sits behind a TLS-terminating proxy with a certificate from that CA, so the only way in is
 * to trust it. Without the CA (or with another one) the handshake fails, with a message naming the
 * variable that fixes it.
 */

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let temporalProxy: TlsProxy;
let mlflowProxy: TlsProxy;
let mtlsProxy: TlsProxy;
let clientIdentityPath: string;
let modelFile: string;

/** The parent's environment without any Temporal, MLflow or gateway setting that could leak in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TEMPORAL_|MLFLOW_|PROGRADE_|NODE_EXTRA_CA_CERTS)/.test(k)) continue;
    env[k] = v;
  }
  // No local stack either: the data folder is an empty one.
  return { ...env, CI: 'true', PROGRADE_DATA_DIR: join(dir, 'data'), ...extra };
}

interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

function prograde(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/prograde.js', ...args],
      { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prograde-tls-'));
  ca = makeTestCa(join(dir, 'ca'));
  otherCa = makeTestCa(join(dir, 'other-ca'), 'some-other-ca');
  const client = ca.issue('client', { usage: 'clientAuth', sans: ['DNS:prograde-client'] });
  clientIdentityPath = join(dir, 'client-identity.pem');
  const { readFileSync } = await import('node:fs');
  writeFileSync(
    clientIdentityPath,
    readFileSync(client.certPath, 'utf8') + readFileSync(client.keyPath, 'utf8'),
  );
  modelFile = join(dir, 'model.onnx');
  writeFileSync(modelFile, buildLogisticModel({ weights: [1, 2], bias: 0 }));
  const server = { cert: ca.serverCertPem, key: ca.serverKeyPem };
  temporalProxy = await startTlsProxy({ target: stack.temporalAddress(), ...server, alpn: ['h2'] });
  mlflowProxy = await startTlsProxy({ target: stack.mlflowUri(), ...server });
  mtlsProxy = await startTlsProxy({ target: stack.mlflowUri(), ...server, clientCa: ca.caPem });
});

afterAll(async () => {
  await Promise.all([temporalProxy?.close(), mlflowProxy?.close(), mtlsProxy?.close()]);
});

describe('Temporal over TLS (envconfig TEMPORAL_TLS_* variables)', () => {
  const tlsEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    cleanEnv({
      TEMPORAL_ADDRESS: temporalProxy.address,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.caCertPath,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
      ...extra,
    });

  it('the CLI lists promotions through the TLS proxy when it trusts the test CA', async () => {
    const before = temporalProxy.accepted();
    const r = await prograde(['list', '--json'], tlsEnv());
    expect(r.stderr).not.toMatch(/TEMPORAL_/);
    expect(r.status).toBe(0);
    expect(() => JSON.parse(r.stdout) as unknown).not.toThrow();
    expect(temporalProxy.accepted()).toBeGreaterThan(before);
  });

  it('the worker connection (NativeConnection) goes through the TLS proxy', async () => {
    const before = temporalProxy.accepted();
    const connection = await connectWorker(temporalSettings(tlsEnv()));
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
    } finally {
      await connection.close();
    }
    expect(temporalProxy.accepted()).toBeGreaterThan(before);
  });

  it('without the CA the CLI fails with "certificate not trusted" naming the variable (exit 3)', async () => {
    const r = await prograde(
      ['list'],
      cleanEnv({
        TEMPORAL_ADDRESS: temporalProxy.address,
        TEMPORAL_TLS: 'true',
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      }),
    );
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('TEMPORAL_TLS_FAILED');
    expect(r.stderr).toContain('certificate not trusted');
    expect(r.stderr).toContain('set TEMPORAL_TLS_SERVER_CA_CERT_PATH');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('a plain client pointed at the TLS port is told to turn TLS on', async () => {
    const r = await prograde(['list'], cleanEnv({ TEMPORAL_ADDRESS: temporalProxy.address }));
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('the server speaks TLS but the client does not. Set TEMPORAL_TLS=true');
  });

  it('the worker without the CA fails with TEMPORAL_TLS_FAILED, not a raw core error', async () => {
    const env = cleanEnv({
      TEMPORAL_ADDRESS: temporalProxy.address,
      TEMPORAL_TLS: 'true',
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    const e = await connectWorker(temporalSettings(env)).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProgradeError);
    expect((e as ProgradeError).code).toBe('TEMPORAL_TLS_FAILED');
    expect((e as ProgradeError).message).toContain('certificate not trusted');
  });

  it('a CA that did not sign the server certificate is refused, and the message names the bundle', async () => {
    const r = await prograde(['list'], tlsEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCa.caCertPath }));
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('TEMPORAL_TLS_FAILED');
    expect(r.stderr).toContain(otherCa.caCertPath);
  });

  it('a missing or non-PEM CA file is an input error naming the variable and the file (exit 2)', async () => {
    const missing = join(dir, 'nope.pem');
    const r1 = await prograde(['list'], tlsEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing }));
    expect(r1.status).toBe(2);
    expect(r1.stderr).toContain(`TEMPORAL_TLS_SERVER_CA_CERT_PATH=${missing}: no such file`);
    const notPem = join(dir, 'not-a-cert.pem');
    writeFileSync(notPem, 'hello, I am not a certificate\n');
    const r2 = await prograde(['list'], tlsEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem }));
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain('TLS_CONFIG_INVALID');
    expect(r2.stderr).toContain(`TEMPORAL_TLS_SERVER_CA_CERT_PATH=${notPem}: holds no PEM certificate`);
  });
});

describe('TEMPORAL_API_KEY reaches the server', () => {
  // The dev server has no API-key auth, and the TLS proxy cannot see inside HTTP/2. This stand-in
  // Temporal frontend terminates TLS and HTTP/2, records the request headers and answers every call
  // UNAUTHENTICATED, so the test sees exactly what a real frontend would be sent.
  let seen: IncomingHttpHeaders[];
  let address: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    seen = [];
    const server = createSecureServer({
      cert: ca.serverCertPem,
      key: ca.serverKeyPem,
      ALPNProtocols: ['h2'],
    });
    const sessions = new Set<ServerHttp2Session>();
    server.on('session', (session) => {
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
    server.on('stream', (stream, headers) => {
      seen.push(headers);
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'no' },
        { endStream: true },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () =>
      new Promise<void>((resolve) => {
        // Clients keep their HTTP/2 sessions open to retry; close() alone would wait for them.
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      });
  });

  afterAll(async () => {
    await close?.();
  });

  const env = (): NodeJS.ProcessEnv =>
    cleanEnv({
      TEMPORAL_ADDRESS: address,
      TEMPORAL_API_KEY: 'test-api-key-123',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.caCertPath,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });

  it('the CLI client sends it as a bearer token over TLS', async () => {
    seen.length = 0;
    await expect(connectClient(env())).rejects.toThrow(ProgradeError);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]?.['authorization']).toBe('Bearer test-api-key-123');
  });

  it('the worker connection sends it as a bearer token over TLS', async () => {
    seen.length = 0;
    await connectWorker(temporalSettings(env())).then(
      (c) => c.close(),
      () => undefined,
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]?.['authorization']).toBe('Bearer test-api-key-123');
  });
});

describe('MLflow over TLS (MLflow client variables)', () => {
  const mlflowEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    cleanEnv({
      MLFLOW_TRACKING_URI: `https://localhost:${mlflowProxy.port}`,
      MLFLOW_TRACKING_SERVER_CERT_PATH: ca.caCertPath,
      ...extra,
    });

  it('`prograde register` registers a model through the TLS proxy with MLFLOW_TRACKING_SERVER_CERT_PATH', async () => {
    const before = mlflowProxy.accepted();
    const name = uniqueName('tls');
    const r = await prograde(['register', modelFile, '--name', name], mlflowEnv());
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('1');
    expect(mlflowProxy.accepted()).toBeGreaterThan(before);
    // Read back over plain http: it really is on the server behind the proxy.
    const direct = new MlflowClient({ baseUrl: stack.mlflowUri(), timeoutMs: 30_000 });
    expect((await direct.getModelVersion(name, '1')).version).toBe('1');
  });

  it('without the CA: "certificate not trusted; set MLFLOW_TRACKING_SERVER_CERT_PATH", exit 3, no stack', async () => {
    const r = await prograde(
      ['register', modelFile, '--name', uniqueName('tls-no-ca')],
      cleanEnv({ MLFLOW_TRACKING_URI: `https://localhost:${mlflowProxy.port}` }),
    );
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('MLFLOW_TLS_FAILED');
    expect(r.stderr).toContain('certificate not trusted');
    expect(r.stderr).toContain('set MLFLOW_TRACKING_SERVER_CERT_PATH');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(mlflowProxy.handshakeErrors().length).toBeGreaterThan(0);
  });

  it('an unreadable or non-PEM bundle is exit 2 naming the variable and the file', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const r1 = await prograde(
      ['register', modelFile, '--name', uniqueName('tls-bad')],
      mlflowEnv({ MLFLOW_TRACKING_SERVER_CERT_PATH: missing }),
    );
    expect(r1.status).toBe(2);
    expect(r1.stderr).toContain(`MLFLOW_TRACKING_SERVER_CERT_PATH=${missing}: no such file`);
    const r2 = await prograde(
      ['register', modelFile, '--name', uniqueName('tls-bad')],
      mlflowEnv({ MLFLOW_TRACKING_SERVER_CERT_PATH: dir }),
    );
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain(`MLFLOW_TRACKING_SERVER_CERT_PATH=${dir}: is not a regular file`);
  });

  it('MLFLOW_TRACKING_INSECURE_TLS=true is refused (exit 2), pointing at the CA variable', async () => {
    const r = await prograde(
      ['register', modelFile, '--name', uniqueName('tls-insecure')],
      mlflowEnv({ MLFLOW_TRACKING_INSECURE_TLS: 'true' }),
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('MLFLOW_TRACKING_INSECURE_TLS');
    expect(r.stderr).toContain('MLFLOW_TRACKING_SERVER_CERT_PATH');
  });

  it('mutual TLS: MLFLOW_TRACKING_CLIENT_CERT_PATH (cert and key in one file) is presented', async () => {
    const uri = `https://localhost:${mtlsProxy.port}`;
    const withCert = MlflowClient.fromEnv(
      cleanEnv({
        MLFLOW_TRACKING_URI: uri,
        MLFLOW_TRACKING_SERVER_CERT_PATH: ca.caCertPath,
        MLFLOW_TRACKING_CLIENT_CERT_PATH: clientIdentityPath,
      }),
    );
    const name = uniqueName('tls-mtls');
    await withCert.createRegisteredModel(name);
    expect((await withCert.getRegisteredModel(name)).name).toBe(name);

    const without = MlflowClient.fromEnv(
      cleanEnv({ MLFLOW_TRACKING_URI: uri, MLFLOW_TRACKING_SERVER_CERT_PATH: ca.caCertPath }),
    );
    const e = await without.getRegisteredModel(name).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProgradeError);
    // TLS 1.3 reports a refused client certificate after the handshake: an alert or a reset.
    expect(['MLFLOW_TLS_FAILED', 'MLFLOW_UNREACHABLE']).toContain((e as ProgradeError).code);
  });
});

describe('the gateway admin client over https (PROGRADE_GATEWAY_CA_BUNDLE)', () => {
  let server: HttpsServer;
  let url: string;

  beforeAll(async () => {
    // A stand-in for the gateway's HTTPS admin API; the gateway's own TLS is tested with the gateway.
    server = createHttpsServer({ cert: ca.serverCertPem, key: ca.serverKeyPem }, (req, res) => {
      if (req.url === '/v2/models/m') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }] }));
        return;
      }
      if (req.url === '/v2/models/m/infer') {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'x-prograde-variant': 'stable' });
        res.end(JSON.stringify({ outputs: [] }));
        return;
      }
      const ok = req.url?.startsWith('/admin/audit') && req.headers.authorization === 'Bearer t0k3n';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { entries: [] } : { error: 'no', code: 'SERVING_UNAUTHORIZED' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('trusts the bundle and calls the admin API', async () => {
    const client = gatewayFor(
      { url },
      { PROGRADE_GATEWAY_TOKEN: 't0k3n', PROGRADE_GATEWAY_CA_BUNDLE: ca.caCertPath },
    );
    expect(await client.audit()).toEqual([]);
  });

  it('without the bundle: GATEWAY_TLS_FAILED naming PROGRADE_GATEWAY_CA_BUNDLE', async () => {
    const client = gatewayFor({ url }, { PROGRADE_GATEWAY_TOKEN: 't0k3n' });
    const e = await client.audit().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((e as ProgradeError).code).toBe('GATEWAY_TLS_FAILED');
    expect((e as ProgradeError).message).toContain('set PROGRADE_GATEWAY_CA_BUNDLE');
  });

  it('the traffic tool trusts the same bundle, and names it when a request fails on the certificate', async () => {
    const dataset: Dataset = {
      featureNames: ['a', 'b'],
      rows: 1,
      features: new Float32Array([0.5, 1.5]),
      labelName: 'y',
      labels: new Float64Array([1]),
      sensitive: {},
    };
    const env = { PROGRADE_GATEWAY_CA_BUNDLE: ca.caCertPath };
    expect(await v2InputOf({ gatewayUrl: url, model: 'm', env })).toMatchObject({ name: 'x', width: 2 });
    const run = (e: NodeJS.ProcessEnv): Promise<TrafficSummary> =>
      runTraffic({ gatewayUrl: url, model: 'm', inputName: 'x', rps: 20, durationMs: 200, dataset, env: e });
    const trusted = await run(env);
    expect(trusted.errors).toBe(0);
    expect(trusted.sent).toBeGreaterThan(0);

    const errors: string[] = [];
    await runTraffic({
      gatewayUrl: url,
      model: 'm',
      inputName: 'x',
      rps: 20,
      durationMs: 200,
      dataset,
      env: {},
      onResponse: (r) => void (r.error !== undefined && errors.push(r.error)),
    });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toContain('set PROGRADE_GATEWAY_CA_BUNDLE');
    await expect(v2InputOf({ gatewayUrl: url, model: 'm', env: {} })).rejects.toThrow(
      /certificate not trusted.*PROGRADE_GATEWAY_CA_BUNDLE/,
    );
  });

  it('a bundle that is not PEM is TLS_CONFIG_INVALID before any request', () => {
    const notPem = join(dir, 'gateway-not-pem.pem');
    writeFileSync(notPem, 'x');
    expect(() =>
      gatewayFor({ url }, { PROGRADE_GATEWAY_TOKEN: 't0k3n', PROGRADE_GATEWAY_CA_BUNDLE: notPem }),
    ).toThrow(/PROGRADE_GATEWAY_CA_BUNDLE=.*holds no PEM certificate/);
  });
});

describe("the worker's admin client against the real gateway serving HTTPS (--tls-cert/--tls-key)", () => {
  const token = 'tls-admin-token-0123456789abcdef';
  let gateway: GatewayHandle;

  beforeAll(async () => {
    const models = mkdtempSync(join(dir, 'models-'));
    gateway = await startGateway({
      source: new DirectoryModelSource(models),
      stateDir: mkdtempSync(join(dir, 'state-')),
      token,
      tls: { certFile: ca.serverCertPath, keyFile: ca.serverKeyPath },
      logger: pino({ level: 'silent' }),
    });
    await gateway.whenReady();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('reads routing and the audit log with PROGRADE_GATEWAY_CA_BUNDLE, and is refused the handshake without it', async () => {
    const url = `https://localhost:${gateway.port}`;
    const trusted = gatewayFor(
      { url },
      { PROGRADE_GATEWAY_TOKEN: token, PROGRADE_GATEWAY_CA_BUNDLE: ca.caCertPath },
    );
    expect(await trusted.getRouting('no-such-model')).toBeUndefined();
    expect(await trusted.audit()).toEqual([]);
    const untrusted = gatewayFor(
      { url },
      { PROGRADE_GATEWAY_TOKEN: token, PROGRADE_GATEWAY_CA_BUNDLE: otherCa.caCertPath },
    );
    await expect(untrusted.audit()).rejects.toMatchObject({ code: 'GATEWAY_TLS_FAILED' });
  });
});
