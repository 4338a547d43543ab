import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset } from '../../src/dataset/dataset';
import { freePort } from '../../src/devstack/ports';
import { repoRoot } from '../../src/devstack/tools';
import { buildLogisticModel } from '../../src/onnx/build';
import {
  SAMPLE_LABEL,
  TRUE_BIAS,
  TRUE_WEIGHTS,
  sampleDataset,
  writeDatasetCsv,
} from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

const TOKEN = 'traffic-cli-token';
let dir: string;
let gw: GatewayHandle;
let admin: GatewayAdminClient;

/**
 * Runs `prograde traffic …` in its own process, wired the way main.ts wires commands. The tests count
 * requests exactly, so a request may take 45 s (answers took seconds on a loaded 2-core machine).
 */
function prograde(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = [
    "require('tsx/cjs');",
    "const { Command } = require('commander');",
    "const { runCli } = require('./src/cli/run.ts');",
    "const { register } = require('./src/cli/commands/traffic.ts');",
    "const program = new Command('prograde'); register(program);",
    "void runCli(program, [process.argv[0], 'prograde', ...process.argv.slice(1)]);",
  ].join('\n');
  const patient = args.includes('--request-timeout') ? [] : ['--request-timeout', '45s'];
  const proc = spawn(process.execPath, ['-e', script, '--', 'traffic', ...patient, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** 30 feature columns f0..f29 and a 0/1 label, as a scikit-learn export of a wider model would take. */
function wideRows(rows: number): Dataset {
  const width = 30;
  return {
    featureNames: Array.from({ length: width }, (_, i) => `f${i}`),
    rows,
    features: Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i) * 2),
    labelName: SAMPLE_LABEL,
    labels: Float64Array.from({ length: rows }, (_, i) => i % 2),
    sensitive: {},
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-traffic-cli-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good'));
  await writeModelVersion(models, 'credit', '2', sampleModel('nan'));
  // The model: the sample features, but an input named X (as skl2onnx names it).
  await writeModelVersion(
    models,
    'named-x',
    '1',
    buildLogisticModel({ weights: TRUE_WEIGHTS, bias: TRUE_BIAS, inputName: 'X' }),
  );
  // 30 float64 features under X: the input's name, datatype and width all come from the metadata.
  await writeModelVersion(
    models,
    'wide',
    '1',
    buildLogisticModel({
      weights: Array.from({ length: 30 }, (_, i) => (i % 3) / 10),
      bias: 0,
      inputName: 'X',
      dtype: 'float64',
    }),
  );
  // A canary that fails on every row shifted far enough (f0 above 2.5), taking 75 % of the requests.
  await writeModelVersion(models, 'mostly-broken', '1', sampleModel('good'));
  await writeModelVersion(models, 'mostly-broken', '2', sampleModel('nan'));
  await writeDatasetCsv(sampleDataset({ rows: 200, seed: 41 }), path.join(dir, 'rows.csv'));
  await writeDatasetCsv(wideRows(100), path.join(dir, 'wide.csv'));
  gw = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token: TOKEN,
    logger: pino({ level: 'silent' }),
  });
  await gw.whenReady();
  admin = new GatewayAdminClient({ baseUrl: gw.url, token: TOKEN });
  await admin.putRouting('credit', {
    generation: 1,
    stable: { version: '1' },
    canary: { version: '2', weight: 50 },
  });
  await admin.putRouting('named-x', { generation: 1, stable: { version: '1' } });
  await admin.putRouting('wide', { generation: 1, stable: { version: '1' } });
  await admin.putRouting('mostly-broken', {
    generation: 1,
    stable: { version: '1' },
    canary: { version: '2', weight: 75 },
  });
});

interface JsonSummary {
  sent: number;
  ok: number;
  errors: number;
  byStatus: Record<string, number>;
  topErrors: { status: string; message: string; count: number }[];
}

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('prograde traffic', () => {
  it('sends drifted rows from a CSV and prints a JSON summary with canary NaN errors', async () => {
    const r = await prograde([
      '--model',
      'credit',
      '--rps',
      '100',
      '--duration',
      '2s',
      '--dataset',
      path.join(dir, 'rows.csv'),
      '--shift',
      'f0=2',
      '--gateway',
      gw.url,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as {
      sent: number;
      byStatus: Record<string, number>;
      byVariant: Record<string, { requests: number; error: number }>;
    };
    expect(s.sent).toBe(200);
    // Only the `nan` canary fails, on the rows whose shifted f0 is above 2.5; stable never does.
    expect(s.byVariant.stable?.error).toBe(0);
    expect(s.byVariant.canary?.error).toBeGreaterThan(0);
    expect(s.byStatus['502']).toBe(s.byVariant.canary?.error);
  });

  it('prints a readable summary by default', async () => {
    const r = await prograde(['--model', 'credit', '--rps', '20', '--duration', '1s', '--gateway', gw.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sent 20\/20 requests to http:\/\/127\.0\.0\.1:\d+ \(credit, v2\)/);
    expect(r.stdout).toContain('latency:');
  });

  it('refuses a remote gateway with the invalid-input exit code', async () => {
    const r = await prograde([
      '--model',
      'credit',
      '--rps',
      '10',
      '--duration',
      '1s',
      '--gateway',
      'http://10.1.2.3:8080',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('only loopback gateways');
    expect(r.stdout).toBe('');
  });

  it('rejects a malformed --shift naming the flag', async () => {
    const r = await prograde([
      '--model',
      'credit',
      '--rps',
      '10',
      '--duration',
      '1s',
      '--gateway',
      gw.url,
      '--shift',
      'f99=1',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--shift');
  });

  it("names the v2 input as the gateway's model metadata does: a model whose input is X gets X", async () => {
    const r = await prograde([
      '--model',
      'named-x',
      '--rps',
      '50',
      '--duration',
      '1s',
      '--gateway',
      gw.url,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as JsonSummary;
    expect(s).toMatchObject({ sent: 50, ok: 50, errors: 0, byStatus: { '200': 50 }, topErrors: [] });
  });

  it('exits 1 and says why when every request fails (the input named wrongly by --input-name)', async () => {
    const r = await prograde([
      '--model',
      'named-x',
      '--rps',
      '30',
      '--duration',
      '1s',
      '--input-name',
      'features',
      '--gateway',
      gw.url,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^sent 30\/30 requests .*: 0 ok, 30 errors/);
    expect(r.stdout).toMatch(/errors: +30× 400 unknown input 'features'; the model takes 'X'/);
    expect(r.stderr).toMatch(/^prograde: all 30 requests failed \(30× 400: unknown input 'features'/);
  });

  it('takes f0..f29 for --features and the FP64 datatype from the metadata', async () => {
    const r = await prograde([
      '--model',
      'wide',
      '--rps',
      '40',
      '--duration',
      '1s',
      '--dataset',
      path.join(dir, 'wide.csv'),
      '--features',
      'f0..f29',
      '--gateway',
      gw.url,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 40, ok: 40, byStatus: { '200': 40 } });
  });

  it('refuses rows of the wrong width before sending anything, with the --features hint', async () => {
    const before = (await admin.stats('wide', { generation: 1 })).variants.stable?.requests ?? 0;
    const r = await prograde([
      '--model',
      'wide',
      '--rps',
      '40',
      '--duration',
      '1s',
      '--dataset',
      path.join(dir, 'wide.csv'),
      '--features',
      'f0..f11',
      '--gateway',
      gw.url,
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      "model 'wide' input 'X' takes 30 features per row, but the rows have 12 (f0, f1, …, f11); name the model's columns with --features, e.g. --features f0..f29",
    );
    const after = (await admin.stats('wide', { generation: 1 })).variants.stable?.requests ?? 0;
    expect(after).toBe(before);
  });

  it('refuses a bad --features range and a model the gateway does not serve with exit 2', async () => {
    const common = [
      '--rps',
      '10',
      '--duration',
      '1s',
      '--gateway',
      gw.url,
      '--dataset',
      path.join(dir, 'wide.csv'),
    ];
    const bad = await prograde(['--model', 'wide', ...common, '--features', 'f0..x29']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--features 'f0..x29' is not a range");
    const tooLong = await prograde(['--model', 'wide', ...common, '--request-timeout', '5m']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("--request-timeout: '5m' is not a duration between 1ms and 2m");
    const missing = await prograde(['--model', 'nobody', ...common, '--features', 'f0..f29']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`the gateway at ${gw.url} serves no model 'nobody'`);
  });

  it('warns on stderr, and still exits 0, when most requests failed', async () => {
    const r = await prograde([
      '--model',
      'mostly-broken',
      '--rps',
      '60',
      '--duration',
      '1s',
      '--shift',
      'f0=5',
      '--gateway',
      gw.url,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as JsonSummary;
    expect(s.ok).toBeGreaterThan(0);
    expect(s.errors).toBeGreaterThan(30);
    expect(s.topErrors[0]?.status).toBe('502');
    expect(r.stderr).toMatch(
      new RegExp(`^prograde: warning: ${s.errors} of 60 requests failed \\(\\d+× 502: `),
    );
  });

  it('exits 3 when nothing answers: the metadata lookup (v2) or every request (invocations)', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const common = ['--model', 'credit', '--rps', '5', '--duration', '1s', '--gateway', nobody];
    const v2 = await prograde(common);
    expect(v2.code).toBe(3);
    expect(v2.stdout).toBe('');
    expect(v2.stderr).toContain(
      `could not read the inputs of model 'credit' from GET ${nobody}/v2/models/credit`,
    );
    expect(v2.stderr).toContain('[TRAFFIC_METADATA_UNAVAILABLE]');
    const invocations = await prograde([...common, '--protocol', 'invocations']);
    expect(invocations.code).toBe(3);
    expect(invocations.stdout).toMatch(/: 0 ok, 5 errors/);
    expect(invocations.stderr).toMatch(
      new RegExp(`^prograde: no request got an answer from ${nobody} \\(5× network: `),
    );
  });
});
