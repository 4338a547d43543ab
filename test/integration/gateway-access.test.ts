import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sampleDataset } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle, type GatewayOptions } from '../../src/serving/server';
import { makeTestCa, type TestCa } from '../support/test-ca';

/**
 * Who may use the gateway, over real sockets: inference keys (and their rotation), per-actor admin
 * tokens landing in the audit log, the force-variant header, request ids, the log of refused
 * access, and HTTPS with a CA the test generates.
 */

const ROW = Array.from(sampleDataset({ rows: 1, seed: 5 }).features.subarray(0, 12));
const SINGLE_TOKEN = 'single-admin-token-0123456789';
const ALICE = 'alice-admin-token-0123456789abcdef';
const BOB = 'bob-admin-token-0123456789abcdef';
const KEY_A = 'inference-key-a-0123456789abcdef';
const KEY_B = 'inference-key-b-0123456789abcdef';

let dir: string;
let models: string;
let keysFile: string;
let tokensFile: string;
let gw: GatewayHandle;
const logLines: string[] = [];

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Replaces a file the way a deploy tool does: write aside, rename over. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

function logged(): Record<string, unknown>[] {
  return logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

function options(extra: Partial<GatewayOptions> = {}): GatewayOptions {
  return {
    source: new DirectoryModelSource(models),
    stateDir: mkdtempSync(path.join(dir, 'state-')),
    token: SINGLE_TOKEN,
    logger: pino({ level: 'silent' }),
    ...extra,
  };
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function infer(headers: Record<string, string> = {}, on: GatewayHandle = gw): Promise<Response> {
  return fetch(`${on.url}/v2/models/credit/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 12], datatype: 'FP32', data: ROW }] }),
  });
}

async function putRouting(
  token: string,
  body: unknown,
  headers: Record<string, string> = {},
  on: GatewayHandle = gw,
): Promise<Response> {
  return fetch(`${on.url}/admin/models/credit/routing`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...bearer(token), ...headers },
    body: JSON.stringify(body),
  });
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-access-'));
  models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good', { seed: 1 }));
  await writeModelVersion(models, 'credit', '2', sampleModel('good', { seed: 2 }));
  keysFile = path.join(dir, 'inference-keys');
  tokensFile = path.join(dir, 'admin-tokens');
  writeFileSync(keysFile, `# name key\nservice-a ${KEY_A}\n`);
  // Bob's token is given by its digest only: the gateway's host need not hold the secret.
  writeFileSync(tokensFile, `alice ${ALICE}\nbob sha256:${sha256(BOB)}\n`);
  gw = await startGateway(
    options({
      access: {
        inferenceKeysFile: keysFile,
        adminTokensFile: tokensFile,
        protectMetrics: true,
        allowForceVariant: true,
        reloadIntervalMs: 100,
      },
      predictionLog: { file: path.join(dir, 'predictions.jsonl'), sampleRate: 1 },
      refusalLog: { perAddressBurst: 3, perAddressPerSec: 0.001, summaryEveryMs: 60_000 },
      logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
    }),
  );
  await gw.whenReady();
  const routed = await putRouting(ALICE, {
    generation: 1,
    stable: { version: '1' },
    canary: { version: '2', weight: 50 },
  });
  expect(routed.status).toBe(200);
});

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway access – inference keys', () => {
  it('answers 401 with WWW-Authenticate to a missing or wrong key, and serves a right one', async () => {
    const missing = await infer();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="prograde-inference"');
    expect(await codeOf(missing)).toBe('SERVING_UNAUTHORIZED');

    const wrong = await infer(bearer(`${KEY_A}x`));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe(
      'Bearer realm="prograde-inference", error="invalid_token"',
    );
    expect(await codeOf(wrong)).toBe('SERVING_UNAUTHORIZED');
    // A prefix of the key, or the key in another scheme, is no key either.
    expect((await infer(bearer(KEY_A.slice(0, -1)))).status).toBe(401);
    expect((await infer({ authorization: `Basic ${KEY_A}` })).status).toBe(401);

    expect((await infer(bearer(KEY_A))).status).toBe(200);
    // An admin token is accepted wherever an inference key is.
    expect((await infer(bearer(ALICE))).status).toBe(200);
  });

  it('protects model metadata and /metrics, and leaves health checks open', async () => {
    expect((await fetch(`${gw.url}/v2/models/credit`)).status).toBe(401);
    // Unknown models are hidden too: the 401 comes before any lookup.
    expect((await fetch(`${gw.url}/v2/models/nosuch`)).status).toBe(401);
    expect((await fetch(`${gw.url}/v2/models/credit`, { headers: bearer(KEY_A) })).status).toBe(200);
    const metrics = await fetch(`${gw.url}/metrics`);
    expect(metrics.status).toBe(401);
    expect(metrics.headers.get('www-authenticate')).toBe('Bearer realm="prograde-metrics"');
    const allowed = await fetch(`${gw.url}/metrics`, { headers: bearer(KEY_A) });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain(
      'prograde_gateway_refused_total{status="401",code="SERVING_UNAUTHORIZED"}',
    );
    for (const open of ['/v2/health/live', '/v2/health/ready', '/ping', '/health', '/v2'])
      expect((await fetch(`${gw.url}${open}`)).status).toBe(200);
  });

  it('rotates keys from the file without a restart, and keeps the old ones when the new file is broken', async () => {
    replaceFile(keysFile, `service-b ${KEY_B}\n`);
    await vi.waitFor(async () => expect((await infer(bearer(KEY_B))).status).toBe(200), {
      timeout: 15_000,
      interval: 100,
    });
    expect((await infer(bearer(KEY_A))).status).toBe(401);

    // A broken file (a short key on line 2) is refused: the keys in force stay, the error is logged.
    replaceFile(keysFile, `service-c inference-key-c-0123456789abcdef\nservice-d short\n`);
    await vi.waitFor(
      () => expect(logged().some((l) => String(l.msg).startsWith('inference keys not reloaded'))).toBe(true),
      { timeout: 15_000, interval: 100 },
    );
    const refusal = logged().find((l) => String(l.msg).startsWith('inference keys not reloaded'));
    expect(refusal?.error).toBe(`${keysFile}:2: a token has at least 16 characters`);
    expect((await infer(bearer(KEY_B))).status).toBe(200);
    expect((await infer(bearer('inference-key-c-0123456789abcdef'))).status).toBe(401);
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: bearer(KEY_B) })).text();
    expect(metrics).toContain(
      'prograde_gateway_credential_reloads_total{file="inference_keys",outcome="refused"} 1',
    );
    // No secret ever reaches the log.
    for (const secret of [KEY_A, KEY_B, ALICE, BOB]) expect(logLines.join('\n')).not.toContain(secret);
  });
});

describe('gateway access – force-variant header', () => {
  it('refuses an anonymous caller or an inference key with 403, before routing', async () => {
    const before = (await (
      await fetch(`${gw.url}/admin/models/credit/stats?sinceMs=0`, { headers: bearer(ALICE) })
    ).json()) as {
      variants: Record<string, { requests: number }>;
    };
    const canaryBefore = before.variants.canary?.requests ?? 0;
    // Inference is protected here, so an anonymous caller is stopped at 401 first; with a key, 403.
    const anonymous = await infer({ 'x-prograde-force-variant': 'canary' });
    expect(anonymous.status).toBe(401);
    const keyHolder = await infer({ 'x-prograde-force-variant': 'canary', ...bearer(KEY_B) });
    expect(keyHolder.status).toBe(403);
    expect(await codeOf(keyHolder)).toBe('SERVING_FORCE_VARIANT_FORBIDDEN');
    expect(keyHolder.headers.get('x-prograde-variant')).toBeNull();
    const after = (await (
      await fetch(`${gw.url}/admin/models/credit/stats?sinceMs=0`, { headers: bearer(ALICE) })
    ).json()) as {
      variants: Record<string, { requests: number }>;
    };
    expect(after.variants.canary?.requests ?? 0).toBe(canaryBefore);

    const admin = await infer({ 'x-prograde-force-variant': 'canary', ...bearer(BOB) });
    expect(admin.status).toBe(200);
    expect(admin.headers.get('x-prograde-variant')).toBe('canary');
  });

  it('is off by default: refused for everyone, an admin included, on an open gateway', async () => {
    const plain = await startGateway(options());
    try {
      await plain.whenReady();
      expect(
        (
          await putRouting(
            SINGLE_TOKEN,
            { generation: 1, stable: { version: '1' }, canary: { version: '2', weight: 50 } },
            {},
            plain,
          )
        ).status,
      ).toBe(200);
      expect((await infer({}, plain)).status).toBe(200);
      const anonymous = await infer({ 'x-prograde-force-variant': 'canary' }, plain);
      expect(anonymous.status).toBe(403);
      expect(await codeOf(anonymous)).toBe('SERVING_FORCE_VARIANT_DISABLED');
      const admin = await infer({ 'x-prograde-force-variant': 'canary', ...bearer(SINGLE_TOKEN) }, plain);
      expect(admin.status).toBe(403);
      expect(await codeOf(admin)).toBe('SERVING_FORCE_VARIANT_DISABLED');
    } finally {
      await plain.close();
    }
  });

  it('on an open gateway with forcing on, refuses an anonymous caller with 403', async () => {
    const open = await startGateway(options({ access: { allowForceVariant: true } }));
    try {
      await open.whenReady();
      expect(
        (
          await putRouting(
            SINGLE_TOKEN,
            { generation: 1, stable: { version: '1' }, canary: { version: '2', weight: 1 } },
            {},
            open,
          )
        ).status,
      ).toBe(200);
      const anonymous = await infer({ 'x-prograde-force-variant': 'canary' }, open);
      expect(anonymous.status).toBe(403);
      expect(await codeOf(anonymous)).toBe('SERVING_FORCE_VARIANT_FORBIDDEN');
      const admin = await infer({ 'x-prograde-force-variant': 'canary', ...bearer(SINGLE_TOKEN) }, open);
      expect(admin.headers.get('x-prograde-variant')).toBe('canary');
    } finally {
      await open.close();
    }
  });
});

describe('gateway access – per-actor admin tokens', () => {
  it("audits a change under the token's actor, whatever x-prograde-actor claims", async () => {
    const spoof = { 'x-prograde-actor': 'risk-officer' };
    expect((await putRouting(ALICE, { generation: 2, stable: { version: '2' } }, spoof)).status).toBe(200);
    expect(
      (
        await putRouting(BOB, {
          generation: 3,
          stable: { version: '1' },
          canary: { version: '2', weight: 50 },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await putRouting(SINGLE_TOKEN, {
          generation: 4,
          stable: { version: '1' },
          canary: { version: '2', weight: 50 },
        })
      ).status,
    ).toBe(200);
    const audit = (await (
      await fetch(`${gw.url}/admin/audit?model=credit`, { headers: bearer(BOB) })
    ).json()) as {
      entries: { generation: number; actor?: string; note?: string }[];
    };
    expect(audit.entries.map((e) => [e.generation, e.actor, e.note])).toEqual([
      [1, 'alice', undefined],
      [2, 'alice', 'risk-officer'],
      [3, 'bob', undefined],
      [4, 'admin', undefined],
    ]);
  });

  it('rotates admin tokens without a restart', async () => {
    replaceFile(tokensFile, `alice ${ALICE}\n`);
    await vi.waitFor(
      async () => expect((await fetch(`${gw.url}/admin/models`, { headers: bearer(BOB) })).status).toBe(401),
      { timeout: 15_000, interval: 100 },
    );
    expect((await fetch(`${gw.url}/admin/models`, { headers: bearer(ALICE) })).status).toBe(200);
    expect((await fetch(`${gw.url}/admin/models`, { headers: bearer(SINGLE_TOKEN) })).status).toBe(200);
    // An inference key is not an admin token.
    expect((await fetch(`${gw.url}/admin/models`, { headers: bearer(KEY_B) })).status).toBe(401);
  });
});

describe('gateway access – request ids', () => {
  it('echoes a safe x-request-id, replaces an unsafe one, and generates one when absent, errors included', async () => {
    const given = await infer({ 'x-request-id': 'trace-42.abc', ...bearer(KEY_B) });
    expect(given.status).toBe(200);
    expect(given.headers.get('x-request-id')).toBe('trace-42.abc');

    const unsafe = await infer({ 'x-request-id': 'evil"<script>', ...bearer(KEY_B) });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const tooLong = await infer({ 'x-request-id': 'a'.repeat(200), ...bearer(KEY_B) });
    expect(tooLong.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const refusedRes = await infer({ 'x-request-id': 'refused-1' });
    expect(refusedRes.status).toBe(401);
    expect(refusedRes.headers.get('x-request-id')).toBe('refused-1');
    const notFound = await fetch(`${gw.url}/nope`, { headers: { 'x-request-id': 'missing-route' } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('x-request-id')).toBe('missing-route');
    const generated = await fetch(`${gw.url}/v2/health/live`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // Answers that are not JSON carry it too: OPTIONS (no body) and the Prometheus text.
    const options = await fetch(`${gw.url}/v2/health/live`, {
      method: 'OPTIONS',
      headers: { 'x-request-id': 'options-1' },
    });
    expect(options.status).toBe(204);
    expect(options.headers.get('x-request-id')).toBe('options-1');
    const metrics = await fetch(`${gw.url}/metrics`, {
      headers: { 'x-request-id': 'metrics-1', ...bearer(KEY_B) },
    });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('x-request-id')).toBe('metrics-1');
  });

  it('writes the request id into the prediction log', async () => {
    expect((await infer({ 'x-request-id': 'predict-7', ...bearer(KEY_B) })).status).toBe(200);
    await vi.waitFor(
      () => {
        const records = readFileSync(path.join(dir, 'predictions.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { requestId?: string; model: string });
        expect(records.find((r) => r.requestId === 'predict-7')).toMatchObject({ model: 'credit' });
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});

describe('gateway access – refused requests are logged, rate-limited', () => {
  it('logs the remote address, path and code of a refusal, then suppresses a flood and summarises it', async () => {
    const own: string[] = [];
    const noisy = await startGateway(
      options({
        access: { allowForceVariant: true },
        logger: pino({ level: 'info' }, { write: (line: string) => void own.push(line) }),
        refusalLog: { perAddressBurst: 3, perAddressPerSec: 0.001, globalBurst: 100, summaryEveryMs: 300 },
      }),
    );
    try {
      await noisy.whenReady();
      const first = await fetch(`${noisy.url}/admin/audit?secret=x`, {
        headers: { ...bearer('wrong-token'), 'x-request-id': 'probe-1' },
      });
      expect(first.status).toBe(401);
      for (let i = 0; i < 24; i++) expect((await fetch(`${noisy.url}/admin/models`)).status).toBe(401);
      const parsed = (): Record<string, unknown>[] =>
        own.map((l) => JSON.parse(l) as Record<string, unknown>);
      const refusals = parsed().filter((l) => String(l.msg).startsWith('refused '));
      expect(refusals).toHaveLength(3);
      expect(refusals[0]).toMatchObject({
        level: 40,
        remote: '127.0.0.1',
        method: 'GET',
        path: '/admin/audit',
        status: 401,
        code: 'SERVING_UNAUTHORIZED',
        requestId: 'probe-1',
        caller: 'unknown',
      });
      // Neither the query string nor the token reaches the log.
      expect(own.join('\n')).not.toContain('secret=x');
      expect(own.join('\n')).not.toContain('wrong-token');
      // The summary may come in more than one line if an interval ends mid-flood: they add up.
      const summaries = (): Record<string, unknown>[] =>
        parsed().filter((l) => String(l.msg).endsWith('more refused requests suppressed'));
      await vi.waitFor(() => expect(summaries().reduce((n, l) => n + Number(l.suppressed), 0)).toBe(22), {
        timeout: 10_000,
        interval: 100,
      });
      expect(summaries()[0]).toMatchObject({ addresses: 1, top: [{ remote: '127.0.0.1' }] });
    } finally {
      await noisy.close();
    }
  });
});

describe('gateway access – HTTPS', () => {
  let ca: TestCa;
  let other: TestCa;
  let secure: GatewayHandle;
  let certFile: string;
  let keyFile: string;

  function get(url: string, trust: string | undefined): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        // A new connection each time: a kept-alive one would keep the certificate it started with.
        { ...(trust !== undefined ? { ca: trust } : {}), timeout: 20_000, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    ca = makeTestCa(path.join(dir, 'ca'));
    other = makeTestCa(path.join(dir, 'other-ca'), 'another-ca');
    // Copies, so the rotation test can replace them.
    certFile = path.join(dir, 'gateway.pem');
    keyFile = path.join(dir, 'gateway.key');
    copyFileSync(ca.serverCertPath, certFile);
    copyFileSync(ca.serverKeyPath, keyFile);
    secure = await startGateway(options({ tls: { certFile, keyFile }, access: { reloadIntervalMs: 100 } }));
    await secure.whenReady();
  });

  afterAll(async () => {
    await secure?.close();
  });

  it('serves HTTPS to a client that trusts the CA, and is refused by one that does not', async () => {
    expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await get(`${secure.url}/v2/health/live`, ca.caPem);
    expect(ok).toEqual({ status: 200, body: '{"live":true}' });
    const byName = await get(`https://localhost:${secure.port}/v2/health/live`, ca.caPem);
    expect(byName.status).toBe(200);
    await expect(get(`${secure.url}/v2/health/live`, undefined)).rejects.toMatchObject({
      code: expect.stringMatching(
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/,
      ) as unknown,
    });
    await expect(get(`${secure.url}/v2/health/live`, other.caPem)).rejects.toMatchObject({
      code: expect.stringMatching(
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/,
      ) as unknown,
    });
    // Plain HTTP to the HTTPS port gets no answer from the gateway's API.
    await expect(fetch(`http://127.0.0.1:${secure.port}/v2/health/live`)).rejects.toThrow();
  });

  it('puts a renewed certificate in force without a restart', async () => {
    // The key first: until the certificate follows, the pair does not match and the old one stays.
    replaceFile(keyFile, readFileSync(other.serverKeyPath, 'utf8'));
    replaceFile(certFile, readFileSync(other.serverCertPath, 'utf8'));
    await vi.waitFor(
      async () => expect((await get(`${secure.url}/v2/health/live`, other.caPem)).status).toBe(200),
      { timeout: 15_000, interval: 100 },
    );
    await expect(get(`${secure.url}/v2/health/live`, ca.caPem)).rejects.toThrow();
  });

  it('refuses to start with a key that is not the certificate’s, naming the files', async () => {
    const stranger = ca.issue('stranger');
    await expect(
      startGateway(options({ tls: { certFile: ca.serverCertPath, keyFile: stranger.keyPath } })),
    ).rejects.toMatchObject({
      code: 'GATEWAY_TLS_INVALID',
      message: expect.stringContaining(stranger.keyPath) as unknown,
    });
    await expect(
      startGateway(options({ tls: { certFile: path.join(dir, 'nope.pem'), keyFile: ca.serverKeyPath } })),
    ).rejects.toMatchObject({ code: 'INPUT_FILE_INVALID' });
  });
});

describe('gateway access – start-up refusals', () => {
  it('refuses a broken keys file, naming the file and line', async () => {
    const broken = path.join(dir, 'broken-keys');
    writeFileSync(broken, `ok ${KEY_A}\nok ${KEY_B}\n`);
    await expect(startGateway(options({ access: { inferenceKeysFile: broken } }))).rejects.toMatchObject({
      code: 'GATEWAY_CREDENTIALS_INVALID',
      message: `${broken}:2: name 'ok' is already used on line 1`,
    });
  });
});
