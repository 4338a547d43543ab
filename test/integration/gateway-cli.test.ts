import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/tools';
import { sampleModel } from '../../src/samples/models';
import { writeModelVersion } from '../../src/serving/model-directory';
import { until } from '../support/replica-gateways';

let dir: string;
let child: ChildProcess | undefined;

/** Runs `prograde gateway …` in its own process (commander + the command's register, as main.ts wires it). */
function runGateway(
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; url: Promise<string>; exit: Promise<number | null> } {
  const script = [
    "require('tsx/cjs');",
    "const { Command } = require('commander');",
    "const { runCli } = require('./src/cli/run.ts');",
    "const { register } = require('./src/cli/commands/gateway.ts');",
    "const program = new Command('prograde'); register(program);",
    // `node -e` has no script path in argv; put one back for commander.
    "void runCli(program, [process.argv[0], 'prograde', ...process.argv.slice(1)]);",
  ].join('\n');
  const proc = spawn(process.execPath, ['-e', script, '--', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = new Promise<string>((resolve, reject) => {
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) resolve(m[1]);
    });
    proc.on('exit', () => reject(new Error(`gateway exited before listening:\n${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { child: proc, url, exit };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'prograde-gw-cli-'));
  await writeModelVersion(path.join(dir, 'models'), 'credit', '1', sampleModel('good'));
});

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('prograde gateway (CLI)', () => {
  it('serves from --models-dir, takes the token from the environment and stops cleanly on SIGTERM', async () => {
    const run = runGateway(
      [
        'gateway',
        '--port',
        '0',
        '--models-dir',
        path.join(dir, 'models'),
        '--state-dir',
        path.join(dir, 'state'),
        '--log-level',
        'silent',
      ],
      {
        PROGRADE_GATEWAY_TOKEN: 'cli-token',
        MLFLOW_TRACKING_URI: '',
      },
    );
    child = run.child;
    const url = await run.url;
    // It listens before restoring its saved routing and answers the admin API 503 until then.
    await until(async () => (await fetch(`${url}/v2/health/ready`)).ok, 'the gateway to restore');
    const put = await fetch(`${url}/admin/models/credit/routing`, {
      method: 'PUT',
      headers: { authorization: 'Bearer cli-token' },
      body: JSON.stringify({ generation: 1, stable: { version: '1' } }),
    });
    expect(put.status).toBe(200);
    const scored = await fetch(`${url}/invocations`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] }),
    });
    expect(scored.status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    const state = JSON.parse(readFileSync(path.join(dir, 'state', 'routing.json'), 'utf8')) as {
      models: Record<string, { generation: number }>;
    };
    expect(state.models.credit?.generation).toBe(1);
  });

  it('exits with the invalid-input code when no model source is configured', async () => {
    const run = runGateway(['gateway', '--port', '0', '--state-dir', path.join(dir, 'state2')], {
      MLFLOW_TRACKING_URI: '',
    });
    run.url.catch(() => undefined);
    expect(await run.exit).toBe(2);
  });
});
