import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/register';
import { runCli } from '../../src/cli/run';
import { startMlflowServer, type MlflowServer } from '../../src/devstack/mlflow-server';
import { freePort } from './mlflow-fixtures';
import { goodModel, hostileModels } from '../support/hostile-models';

/**
 * `prograde register` with hostile input, against a real MLflow server of its own: every case must
 * exit 2 and leave the server exactly as it was. The server is this file's alone, so the counts of
 * experiments, registered models, model versions and logged models — read through the REST API
 * before and after — are exact, whatever other test files do at the same time.
 */

const ROOT = join(__dirname, '../..');
let server: MlflowServer;
let dir: string;
let modelFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prograde-hostile-register-'));
  mkdirSync(join(dir, 'mlflow'));
  server = await startMlflowServer({ dataDir: join(dir, 'mlflow') });
  process.env['MLFLOW_TRACKING_URI'] = server.url;
  modelFile = join(dir, 'model.onnx');
  writeFileSync(modelFile, goodModel());
}, 180_000);

afterAll(async () => {
  await server?.process.stop();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function rest<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const send = () =>
    fetch(`${server.url}/api/2.0/mlflow/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  // The server closes keep-alive connections idle for a few seconds (a child process ran meanwhile);
  // a request that met such a closed connection is sent once more on a new one.
  const res = await send().catch(send);
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Every page of a search, for exact counts. */
async function all<T>(fetchPage: (token: string | undefined) => Promise<{ items: T[]; next?: string }>) {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    out.push(...page.items);
    token = page.next;
  } while (token);
  return out;
}

interface Inventory {
  experiments: number;
  registeredModels: number;
  modelVersions: number;
  loggedModels: number;
}

/** What the server holds, counted through the REST API. */
async function inventory(): Promise<Inventory> {
  const experiments = await all(async (token) => {
    const r = await rest<{ experiments?: { experiment_id: string }[]; next_page_token?: string }>(
      'POST',
      'experiments/search',
      { max_results: 1000, view_type: 'ALL', ...(token ? { page_token: token } : {}) },
    );
    return { items: r.experiments ?? [], ...(r.next_page_token ? { next: r.next_page_token } : {}) };
  });
  const registeredModels = await all(async (token) => {
    const r = await rest<{ registered_models?: unknown[]; next_page_token?: string }>(
      'GET',
      `registered-models/search?max_results=1000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
    );
    return { items: r.registered_models ?? [], ...(r.next_page_token ? { next: r.next_page_token } : {}) };
  });
  const modelVersions = await all(async (token) => {
    const r = await rest<{ model_versions?: unknown[]; next_page_token?: string }>(
      'GET',
      `model-versions/search?max_results=1000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
    );
    return { items: r.model_versions ?? [], ...(r.next_page_token ? { next: r.next_page_token } : {}) };
  });
  const loggedModels = await all(async (token) => {
    const r = await rest<{ models?: unknown[]; next_page_token?: string }>('POST', 'logged-models/search', {
      experiment_ids: experiments.map((e) => e.experiment_id),
      max_results: 100,
      ...(token ? { page_token: token } : {}),
    });
    return { items: r.models ?? [], ...(r.next_page_token ? { next: r.next_page_token } : {}) };
  });
  return {
    experiments: experiments.length,
    registeredModels: registeredModels.length,
    modelVersions: modelVersions.length,
    loggedModels: loggedModels.length,
  };
}

/** Runs `prograde register …` in this process; returns what it printed and the exit code. */
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

/** Runs the real `bin/prograde.js` in a child process, with a deadline so a hang fails the test. */
function binary(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/prograde.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, MLFLOW_TRACKING_URI: server.url, ...env },
  });
  return { stdout: run.stdout, stderr: run.stderr, exitCode: run.status, signal: run.signal };
}

let counter = 0;
/** A fresh, valid model name and experiment, so a case that wrote anything could not hide it. */
function fresh(): { name: string; experiment: string } {
  counter += 1;
  return { name: `hostile-${counter}`, experiment: `hostile-exp-${counter}` };
}

/** Asserts a refused registration: exit 2, every expected fragment on stderr, and the server unchanged. */
async function refused(
  run: () => Promise<{ stderr: string; exitCode: number | null }>,
  ...expected: string[]
): Promise<string> {
  const before = await inventory();
  const r = await run();
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stderr).toContain('nothing was written to MLflow');
  for (const fragment of expected) expect(r.stderr).toContain(fragment);
  expect(await inventory()).toEqual(before);
  return r.stderr;
}

describe('hostile register – the counting itself', () => {
  it('sees a good registration as one more experiment, logged model, registered model and version', async () => {
    const { name, experiment } = fresh();
    const before = await inventory();
    const r = await prograde('register', modelFile, '--name', name, '--experiment', experiment);
    expect(r).toMatchObject({ exitCode: 0, stdout: '1' });
    expect(await inventory()).toEqual({
      experiments: before.experiments + 1,
      registeredModels: before.registeredModels + 1,
      modelVersions: before.modelVersions + 1,
      loggedModels: before.loggedModels + 1,
    });
  });
});

describe('hostile register – names, aliases, tags and experiments are refused before any write', () => {
  const nameCases: [string, string, string][] = [
    ['an empty --name', '', 'must not be empty'],
    ['a --name of spaces', '   ', 'must not be empty'],
    ["a --name with '/'", 'team/model', "may not contain '/' or ':'"],
    ["a --name with ':'", 'team:model', "may not contain '/' or ':'"],
    ["a --name of '..'", '..', 'resolve to'],
    ["a --name starting with '..'", '..model', 'resolve to'],
    ['a --name with a newline', 'model\nname', 'control characters'],
    ['a --name of 300 characters', 'm'.repeat(300), 'at most 256 characters'],
  ];
  for (const [title, name, message] of nameCases) {
    it(`refuses ${title}`, async () => {
      const { experiment } = fresh();
      await refused(
        () => prograde('register', modelFile, '--name', name, '--experiment', experiment),
        message,
        'MODEL_NAME_INVALID',
      );
    });
  }

  const aliasCases: [string, string, string][] = [
    ['an alias with a space', 'bad alias', 'only letters, digits, _ and -'],
    ["the reserved alias 'latest' in any case", 'LaTeSt', 'reserved by MLflow'],
    ['a version-like alias', 'V7', 'reserved by MLflow'],
    ['an empty alias', '', 'must not be empty'],
    ['an alias of 256 characters', 'a'.repeat(256), 'at most 255 characters'],
    ['an alias with a dot', 'champion.v2', 'only letters, digits, _ and -'],
  ];
  for (const [title, alias, message] of aliasCases) {
    it(`refuses ${title}`, async () => {
      const { name, experiment } = fresh();
      await refused(
        () => prograde('register', modelFile, '--name', name, '--experiment', experiment, '--alias', alias),
        message,
        'ALIAS_INVALID',
      );
    });
  }

  const tagCases: [string, string[], string][] = [
    ['a tag without =', ['novalue'], 'key=value'],
    ['a tag without a key', ['=value'], 'key=value'],
    ['a tag key with a character MLflow refuses', ['bad*key=1'], 'may contain only'],
    ['a tag key that reads as another path', ['team//owner=1'], 'as paths'],
    ["a tag posing as prograde's own evidence", ['prograde.outcome=promoted'], "prograde's own evidence"],
    ['a tag key of 251 characters', [`${'k'.repeat(251)}=1`], 'at most 250 characters'],
    ['a tag value of 100,001 characters', [`note=${'v'.repeat(100_001)}`], 'at most 100000 characters'],
    ['the same tag key twice', ['team=a', 'team=b'], 'more than once'],
  ];
  for (const [title, tags, message] of tagCases) {
    it(`refuses ${title}`, async () => {
      const { name, experiment } = fresh();
      const flags = tags.flatMap((t) => ['--tag', t]);
      await refused(
        () => prograde('register', modelFile, '--name', name, '--experiment', experiment, ...flags),
        message,
        'TAG_INVALID',
      );
    });
  }

  it('refuses an empty and an overlong experiment name', async () => {
    const { name } = fresh();
    await refused(
      () => prograde('register', modelFile, '--name', name, '--experiment', ''),
      'must not be empty',
      'EXPERIMENT_NAME_INVALID',
    );
    await refused(
      () => prograde('register', modelFile, '--name', name, '--experiment', 'e'.repeat(501)),
      'at most 500 characters',
    );
  });

  it('refuses an experiment that is deleted in MLflow, before creating anything in it', async () => {
    const { name, experiment } = fresh();
    const { experiment_id } = await rest<{ experiment_id: string }>('POST', 'experiments/create', {
      name: experiment,
    });
    await rest('POST', 'experiments/delete', { experiment_id });
    await refused(
      () => prograde('register', modelFile, '--name', name, '--experiment', experiment),
      'deleted',
      'EXPERIMENT_DELETED',
    );
  });

  it('lists every problem at once: name, alias, tag and model', async () => {
    const { experiment } = fresh();
    const corrupt = join(dir, 'combined.onnx');
    writeFileSync(corrupt, hostileModels['garbage']?.() ?? new Uint8Array());
    const stderr = await refused(
      () =>
        prograde(
          'register',
          corrupt,
          '--name',
          'a/b',
          '--alias',
          'latest',
          '--tag',
          'x',
          '--experiment',
          experiment,
        ),
      'MODEL_NAME_INVALID',
      'ALIAS_INVALID',
      'TAG_INVALID',
      'ONNX_CORRUPT',
    );
    expect(stderr).toContain(corrupt);
  });

  it('refuses bad input with exit 2 even when MLflow cannot be reached, since it is never contacted', async () => {
    const port = await freePort();
    const before = await inventory();
    const r = binary(['register', modelFile, '--name', 'a/b'], {
      MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
    });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('MODEL_NAME_INVALID');
    expect(await inventory()).toEqual(before);
  }, 90_000);
});

describe('hostile register – model files are refused before any write', () => {
  for (const [title, make] of Object.entries(hostileModels)) {
    it(`refuses a model with ${title}`, async () => {
      const { name, experiment } = fresh();
      const file = join(dir, `${title.replace(/\W+/g, '-')}.onnx`);
      writeFileSync(file, make());
      await refused(
        () => prograde('register', file, '--name', name, '--experiment', experiment, '--alias', 'challenger'),
        file,
      );
    });
  }

  it('says which check refused each kind of model', async () => {
    const expectations: Record<string, string> = {
      'unknown operator': 'ONNX_LOAD_FAILED',
      'opset too new': 'ONNX_LOAD_FAILED',
      'IR version too new': 'ONNX_LOAD_FAILED',
      'output produced by no node': 'ONNX_LOAD_FAILED',
      'type mismatch': 'ONNX_LOAD_FAILED',
      'no inputs': 'declares no inputs',
      'no outputs': 'declares no outputs',
      'sequence input': 'seq(tensor(float))',
      'external weights': 'ONNX_EXTERNAL_DATA',
      'negative dimension': 'the dimension -5',
      truncated: 'ONNX_CORRUPT',
      garbage: 'ONNX_CORRUPT',
    };
    expect(Object.keys(expectations).sort()).toEqual(Object.keys(hostileModels).sort());
    for (const [title, fragment] of Object.entries(expectations)) {
      const { name, experiment } = fresh();
      const file = join(dir, `which-${title.replace(/\W+/g, '-')}.onnx`);
      writeFileSync(file, hostileModels[title]?.() ?? new Uint8Array());
      const r = await prograde('register', file, '--name', name, '--experiment', experiment);
      expect(r.stderr, title).toContain(fragment);
    }
  });

  it('refuses an empty file', async () => {
    const { name, experiment } = fresh();
    const file = join(dir, 'empty.onnx');
    writeFileSync(file, '');
    await refused(
      () => prograde('register', file, '--name', name, '--experiment', experiment),
      'the file is empty',
    );
  });

  it('refuses a missing file and a directory', async () => {
    const { name, experiment } = fresh();
    await refused(
      () => prograde('register', join(dir, 'nope.onnx'), '--name', name, '--experiment', experiment),
      'does not exist',
    );
    await refused(
      () => prograde('register', dir, '--name', name, '--experiment', experiment),
      'is a directory, not a regular file',
    );
  });

  it('refuses a FIFO without waiting for a writer (real process)', async () => {
    const { name, experiment } = fresh();
    const fifo = join(dir, 'model.fifo');
    spawnSync('mkfifo', [fifo]);
    const started = Date.now();
    await refused(
      () => Promise.resolve(binary(['register', fifo, '--name', name, '--experiment', experiment])),
      'is a named pipe (FIFO), not a regular file',
    );
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);

  it('refuses /dev/zero and a symbolic link to it without reading it (real process)', async () => {
    const { name, experiment } = fresh();
    const link = join(dir, 'zero.onnx');
    symlinkSync('/dev/zero', link);
    for (const file of ['/dev/zero', link]) {
      await refused(
        () => Promise.resolve(binary(['register', file, '--name', name, '--experiment', experiment])),
        'is a character device, not a regular file',
      );
    }
  }, 120_000);
});
