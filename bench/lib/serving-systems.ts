/**
 * The systems of the serving comparison, each started in processes of its own on 127.0.0.1 and
 * serving the same ONNX file: `mlflow models serve` (tools venv, `--env-manager local`), the prograde
 * gateway (bench/lib/gateway-child.ts) and the bare node:http + onnxruntime-node server
 * (bench/lib/bare-server.ts). Also the model itself, made by bench/lib/serving-model.py.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeModelVersion } from '../../src/serving/model-directory';
import type { BareServerConfig } from './bare-server';
import { TsChild } from './child';
import { ChildReady, type GatewayChildConfig } from './gateway-child';

const execFileAsync = promisify(execFile);

export const MODEL_NAME = 'gbm';

export const ServingModel = z.object({
  model_uri: z.string(),
  tracking_uri: z.string(),
  onnx_path: z.string(),
  input: z.string(),
  n_features: z.number().int(),
  sample: z.array(z.array(z.number())),
  probabilities: z.array(z.number()),
});
export type ServingModel = z.infer<typeof ServingModel>;

export type Protocol = 'invocations' | 'v2';

export interface RunningSystem {
  readonly name: string;
  readonly url: string;
  /** The process whose CPU is the server's (for mlflow: the process group leader). */
  readonly pid: number;
  readonly protocols: readonly Protocol[];
  stop(): Promise<void>;
}

/** Fits, converts and logs the model (bench/lib/serving-model.py) into `folder`. */
export async function prepareModel(python: string, folder: string): Promise<ServingModel> {
  const script = path.join(__dirname, 'serving-model.py');
  const { stdout } = await execFileAsync(python, [script, folder], { maxBuffer: 1 << 22 });
  const last = stdout.trim().split('\n').pop() ?? '';
  return ServingModel.parse(JSON.parse(last));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPing(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server for ${url} exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/ping`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url}/ping did not answer within ${timeoutMs} ms`);
}

/** Kills a detached child's whole process group (uvicorn's workers included). */
async function killGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export async function startMlflow(
  model: ServingModel,
  venvBin: string,
  workers: number,
): Promise<RunningSystem> {
  const port = await freePort();
  const child = spawn(
    path.join(venvBin, 'mlflow'),
    [
      'models',
      'serve',
      '-m',
      model.model_uri,
      '--env-manager',
      'local',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-w',
      String(workers),
    ],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      // uvicorn is started by name: the venv's bin must come first on PATH.
      env: {
        ...process.env,
        PATH: `${venvBin}:${process.env.PATH ?? ''}`,
        MLFLOW_TRACKING_URI: model.tracking_uri,
      },
    },
  );
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    stderr.push(c);
    if (stderr.length > 50) stderr.shift();
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPing(url, 180_000, child);
  } catch (e) {
    await killGroup(child, 5_000);
    throw new Error(`mlflow models serve did not start: ${String(e)}\n${stderr.join('')}`);
  }
  return {
    name: `mlflow-w${workers}`,
    url,
    pid: child.pid ?? 0,
    protocols: ['invocations'],
    stop: () => killGroup(child, 10_000),
  };
}

export async function startGateway(
  model: ServingModel,
  options: { readonly nodeFlags?: readonly string[]; readonly maxBatchSize?: number } = {},
): Promise<RunningSystem> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'prograde-serving-compare-gw-'));
  const modelsRoot = path.join(folder, 'models');
  await writeModelVersion(modelsRoot, MODEL_NAME, '1', await readFile(model.onnx_path));
  const token = randomBytes(16).toString('hex');
  const config: GatewayChildConfig = {
    modelsRoot,
    stateDir: path.join(folder, 'state'),
    token,
    maxBatchSize: options.maxBatchSize ?? 64,
    maxWaitMs: 2,
  };
  const child = new TsChild(
    path.join(__dirname, 'gateway-child.ts'),
    [JSON.stringify(config)],
    [...(options.nodeFlags ?? [])],
  );
  const cleanup = async (): Promise<void> => {
    if (child.process.exitCode === null) {
      child.send({ kind: 'stop' });
      await child.stop(20_000);
    }
    await rm(folder, { recursive: true, force: true });
  };
  try {
    const { url } = await child.next(ChildReady, 60_000);
    const admin = new GatewayAdminClient({ baseUrl: url, token });
    const view = await admin.putRouting(MODEL_NAME, { generation: 1, stable: { version: '1' } }, 'bench');
    if (Object.values(view.versions).some((v) => v.status !== 'ready'))
      throw new Error(`routing applied but the version is not ready: ${JSON.stringify(view)}`);
    return { name: 'gateway', url, pid: child.pid, protocols: ['invocations', 'v2'], stop: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export async function startBare(
  model: ServingModel,
  options: { readonly nodeFlags?: readonly string[] } = {},
): Promise<RunningSystem> {
  const config: BareServerConfig = { onnxPath: model.onnx_path, model: MODEL_NAME };
  const child = new TsChild(
    path.join(__dirname, 'bare-server.ts'),
    [JSON.stringify(config)],
    [...(options.nodeFlags ?? [])],
  );
  const stop = async (): Promise<void> => {
    if (child.process.exitCode !== null) return;
    child.send({ kind: 'stop' });
    await child.stop(10_000);
  };
  try {
    const { url } = await child.next(ChildReady, 60_000);
    return { name: 'bare', url, pid: child.pid, protocols: ['invocations', 'v2'], stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The path each protocol is served on. */
export function routeOf(protocol: Protocol): string {
  return protocol === 'v2' ? `/v2/models/${MODEL_NAME}/infer` : '/invocations';
}

/** The score for the first row of a body, as each system answers it. */
export async function firstScore(system: RunningSystem, protocol: Protocol, body: Buffer): Promise<number> {
  const res = await fetch(`${system.url}${routeOf(protocol)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${system.name} answered ${res.status}: ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as {
    predictions?: (number | { probability?: number })[];
    outputs?: { data?: number[] }[];
  };
  const first = protocol === 'v2' ? json.outputs?.[0]?.data?.[0] : json.predictions?.[0];
  const value = typeof first === 'object' && first !== null ? first.probability : first;
  if (typeof value !== 'number') throw new Error(`${system.name} answered ${text.slice(0, 300)}`);
  return value;
}
