import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/register';
import { runCli } from '../../src/cli/run';
import { MlflowClient } from '../../src/mlflow/client';
import { isMlflowNotFound } from '../../src/mlflow/errors';
import { registerOnnxModel } from '../../src/mlflow/register';
import { buildLogisticModel } from '../../src/onnx/build';
import { hostileModels } from '../support/hostile-models';
import { stack } from '../support/stack';
import { uniqueName } from './mlflow-fixtures';

let client: MlflowClient;
let dir: string;
let modelFile: string;
beforeAll(() => {
  process.env['MLFLOW_TRACKING_URI'] = stack.mlflowUri();
  client = MlflowClient.fromEnv();
  dir = mkdtempSync(join(tmpdir(), 'prograde-register-'));
  modelFile = join(dir, 'model.onnx');
  writeFileSync(modelFile, buildLogisticModel({ weights: [1, 2], bias: 0 }));
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs `prograde register …` in-process; returns what it printed and the exit code. */
async function prograde(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const program = new Command('prograde');
  program.configureOutput({ writeErr: (s) => void err.push(s), writeOut: (s) => void out.push(s) });
  register(program);
  process.exitCode = undefined;
  await runCli(program, ['node', 'prograde', ...args]);
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { stdout: out.join('\n'), stderr: err.join('\n'), exitCode };
}

async function modelExists(name: string): Promise<boolean> {
  try {
    await client.getRegisteredModel(name);
    return true;
  } catch (e) {
    if (isMlflowNotFound(e)) return false;
    throw e;
  }
}

describe('prograde register', () => {
  it('prints the new version number, and the next one on a second run', async () => {
    const name = uniqueName('cli');
    expect(await prograde('register', modelFile, '--name', name)).toEqual({
      stdout: '1',
      stderr: '',
      exitCode: 0,
    });
    expect((await prograde('register', modelFile, '--name', name)).stdout).toBe('2');
    expect((await client.getModelVersion(name, '2')).status).toBe('READY');
  });

  it('sets the alias and tags and prints JSON with --json', async () => {
    const name = uniqueName('cli');
    const r = await prograde(
      'register',
      modelFile,
      '--name',
      name,
      '--alias',
      'challenger',
      '--tag',
      'team=risk',
      '--tag',
      'expr=a=b',
      '--json',
    );
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      name,
      version: '1',
      uri: `models:/${name}/1`,
      alias: 'challenger',
      tags: { team: 'risk', expr: 'a=b' },
    });
    expect(out['modelId']).toMatch(/^m-/);
    const mv = await client.getModelVersionByAlias(name, 'challenger');
    expect(mv).toMatchObject({ version: '1', tags: { team: 'risk', expr: 'a=b' } });
  });

  it('names the missing file and exits 2 without touching MLflow', async () => {
    const name = uniqueName('cli');
    const missing = join(dir, 'nope.onnx');
    const r = await prograde('register', missing, '--name', name);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toContain('does not exist');
    expect(await modelExists(name)).toBe(false);
  });

  it('refuses a corrupt ONNX file with ONNX_CORRUPT before anything is written to MLflow', async () => {
    const name = uniqueName('cli');
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, Buffer.from('this is not a protobuf \x00\xff\xfe'));
    const r = await prograde('register', corrupt, '--name', name);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('ONNX_CORRUPT');
    expect(r.stderr).toContain(corrupt);
    expect(await modelExists(name)).toBe(false);
  });

  it('refuses a bad --alias before the logged model and the version exist', async () => {
    const name = uniqueName('cli');
    const experiment = uniqueName('exp');
    const r = await prograde(
      'register',
      modelFile,
      '--name',
      name,
      '--alias',
      'bad alias',
      '--experiment',
      experiment,
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('ALIAS_INVALID');
    expect(await modelExists(name)).toBe(false);
    await expect(client.getExperimentByName(experiment)).rejects.toSatisfy(isMlflowNotFound);
  });

  it('registerOnnxModel itself refuses a model onnxruntime cannot load, before writing anything', async () => {
    const name = uniqueName('lib');
    const experiment = uniqueName('exp');
    const onnxBytes = hostileModels['unknown operator']?.() ?? new Uint8Array();
    await expect(
      registerOnnxModel(client, { name, onnxBytes, experimentName: experiment }),
    ).rejects.toMatchObject({
      code: 'REGISTRATION_INVALID',
      problems: [expect.objectContaining({ code: 'ONNX_LOAD_FAILED' })],
    });
    expect(await modelExists(name)).toBe(false);
    await expect(client.getExperimentByName(experiment)).rejects.toSatisfy(isMlflowNotFound);
  });

  it('refuses a malformed --tag and a reserved alias', async () => {
    const name = uniqueName('cli');
    expect((await prograde('register', modelFile, '--name', name, '--tag', 'novalue')).stderr).toContain(
      'key=value',
    );
    const reserved = await prograde('register', modelFile, '--name', name, '--alias', 'latest');
    expect(reserved.exitCode).toBe(2);
    expect(reserved.stderr).toContain('reserved');
    expect(await modelExists(name)).toBe(false);
  });
});
