import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { sampleDataset, writeDatasetCsv } from '../../src/samples/datasets';
import { sampleModel } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

const TOKEN = 'traffic-cli-token';
let dir: string;
let gw: GatewayHandle;
let admin: GatewayAdminClient;

/** Runs `prograde traffic …` in its own process, wired the way main.ts wires commands. */
function prograde(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = [
    "require('tsx/cjs');",
    "const { Command } = require('commander');",
    "const { runCli } = require('./src/cli/run.ts');",
    "const { register } = require('./src/cli/commands/traffic.ts');",
    "const program = new Command('prograde'); register(program);",
    "void runCli(program, [process.argv[0], 'prograde', ...process.argv.slice(1)]);",
  ].join('\n');
  const proc = spawn(process.execPath, ['-e', script, '--', 'traffic', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-traffic-cli-'));
  const models = path.join(dir, 'models');
  await writeModelVersion(models, 'credit', '1', sampleModel('good'));
  await writeModelVersion(models, 'credit', '2', sampleModel('nan'));
  await writeDatasetCsv(sampleDataset({ rows: 200, seed: 41 }), path.join(dir, 'rows.csv'));
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
});

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
});
