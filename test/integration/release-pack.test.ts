import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followPromotion, startPromotion } from '../../src/client/promotions';
import { repoRoot } from '../../src/devstack/tools';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { stack } from '../support/stack';

/**
 * The release as a user gets it: `npm pack` of this checkout (prepack compiles to dist/ and prebuilds
 * the workflow bundle), installed into an empty folder, run from there with no TypeScript and no tsx.
 */
describe('the packed tarball', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prograde-release-'));
  const app = join(dir, 'app');
  const installed = join(app, 'node_modules', 'prograde');
  let h: Harness;
  let worker: ChildProcess | undefined;

  // onnxruntime-node's postinstall would fetch CUDA binaries from nuget; the CPU build it ships is enough.
  const npmEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };

  function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
    const r = spawnSync('npm', args, { cwd, env: npmEnv, encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`npm ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** The installed `prograde` bin, as `npx prograde` in the user's project runs it. */
  function installedCli(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
    return spawnSync('npx', ['--no-install', 'prograde', ...args], {
      cwd: app,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 120_000,
    });
  }

  beforeAll(async () => {
    npm(['pack', '--pack-destination', dir], repoRoot);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack wrote no tarball into ${dir}`);
    // An empty project of its own, so npm installs here and not into an enclosing one.
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tgz)], app);
    h = await createHarness();
  }, 1_200_000);

  afterAll(() => {
    // npx runs the worker through a shell: kill the whole group, or the worker outlives the test.
    if (worker?.pid !== undefined) {
      try {
        process.kill(-worker.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('ships compiled JavaScript and a prebuilt workflow bundle, no TypeScript sources', () => {
    expect(existsSync(join(installed, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'workflow-bundle.js'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
  });

  it('prograde --version prints the package version, with no npm warning', () => {
    const r = installedCli(['--version']);
    expect(r.status, r.stderr).toBe(0);
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(r.stdout.trim()).toBe(version);
    expect(r.stderr).not.toMatch(/npm warn/i);
  });

  it('npx prograde in the checkout prints no npm warning either (no unknown keys in .npmrc)', () => {
    const r = spawnSync('npx', ['prograde', '--version'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/npm warn/i);
  });

  it('prograde validate checks the example spec from compiled code', () => {
    const r = installedCli(['validate', join(installed, 'examples', 'promotion.yaml')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid/);
  });

  it('the installed worker loads the prebuilt bundle and completes a promotion on the test stack', async () => {
    const started = Date.now();
    worker = spawn('npx', ['--no-install', 'prograde', 'worker'], {
      cwd: app,
      detached: true,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: stack.temporalAddress(),
        TEMPORAL_NAMESPACE: stack.temporalNamespace(),
        PROGRADE_TASK_QUEUE: h.taskQueue,
        MLFLOW_TRACKING_URI: stack.mlflowUri(),
        PROGRADE_WORK_DIR: join(dir, 'work'),
      },
    });
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        log += d.toString();
        if (log.includes('worker started')) resolve();
      };
      worker?.stdout?.on('data', onData);
      worker?.stderr?.on('data', onData);
      worker?.once('exit', (code) => reject(new Error(`worker exited ${code}:\n${log}`)));
    });
    await ready;
    console.log(`[release] installed worker ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // A worker that bundled at start would have logged webpack's work; this one loaded dist/workflow-bundle.js.
    expect(log).not.toMatch(/webpack|Workflow bundle created/i);

    const model = uniqueModel('release');
    const v = await h.register(model, 'good');
    const { handle } = await startPromotion(h.client, h.input(sampleSpec(model), v), h.taskQueue);
    const final = await followPromotion(handle, () => undefined, 500);
    expect(final.outcome, final.reason).toBe('promoted');
    await handle.terminate('test over').catch(() => undefined);
  }, 600_000);
});
