import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { register as registerSchema } from '../../src/cli/commands/schema';
import { register as registerValidate } from '../../src/cli/commands/validate';
import { runCli } from '../../src/cli/run';
import { MINIMAL_SPEC_YAML } from '../support/specs';

const ROOT = path.join(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/promotion.yaml');
const INVALID = path.join(ROOT, 'examples/invalid-promotion.yaml');

/** Runs the commands in this process, as `prograde` would, and captures what they print. */
async function cli(...args: string[]): Promise<{ stdout: string; exitCode: number }> {
  const program = new Command('prograde');
  registerValidate(program);
  registerSchema(program);
  let stdout = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const before = process.exitCode;
  try {
    process.exitCode = 0;
    await runCli(program, ['node', 'prograde', ...args]);
    return { stdout, exitCode: Number(process.exitCode ?? 0) };
  } finally {
    write.mockRestore();
    process.exitCode = before;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('prograde validate', () => {
  it('prints a one-line summary of a valid spec and exits 0', async () => {
    const { stdout, exitCode } = await cli('validate', EXAMPLE);
    expect(exitCode).toBe(0);
    expect(stdout).toBe(
      `✓ ${EXAMPLE}: valid (model fraud-detector, 3 performance checks, 2 fairness checks, latency gate, no approval, shadow 100%, canary 10% → 50%)\n`,
    );
  });

  it('prints every problem as file:line:column path: message and exits 2', async () => {
    const { stdout, exitCode } = await cli('validate', INVALID);
    expect(exitCode).toBe(2);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(9);
    expect(lines).toContain(`${INVALID}:33:18 canary.steps[2].setWeight: must be between 0 and 100`);
  });

  it('checks several files and fails if any is invalid, naming a missing one', async () => {
    const missing = path.join(ROOT, 'examples/no-such-spec.yaml');
    const { stdout, exitCode } = await cli('validate', EXAMPLE, missing);
    expect(exitCode).toBe(2);
    expect(stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^✓ .*promotion\.yaml: valid/),
      `${missing}: file not found`,
    ]);
  });

  it('prints the parsed spec as JSON with --json', async () => {
    const { stdout, exitCode } = await cli('validate', '--json', EXAMPLE);
    expect(exitCode).toBe(0);
    const result = JSON.parse(stdout) as {
      valid: boolean;
      spec: { canary: { analysis: { interval: number } } };
      sha256: string;
    };
    expect(result.valid).toBe(true);
    expect(result.spec.canary.analysis.interval).toBe(1000);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('prints the problems as JSON with --json', async () => {
    const { stdout, exitCode } = await cli('validate', '--json', INVALID);
    expect(exitCode).toBe(2);
    const result = JSON.parse(stdout) as { valid: boolean; problems: unknown[] };
    expect(result.valid).toBe(false);
    expect(result.problems).toContainEqual({
      file: INVALID,
      line: 27,
      column: 16,
      path: 'shadow.minDuration',
      message: "'5x' is not a duration; write e.g. 250ms, 30s, 5m, 1h30m, 2d",
    });
  });
});

describe('prograde validate – warnings', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'prograde-validate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = MINIMAL_SPEC_YAML;
  function spec(name: string, text: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  it('says "no checks configured" for a spec without performance checks, and still exits 0', async () => {
    const file = spec('no-gates.yaml', base);
    const { stdout, exitCode } = await cli('validate', file);
    expect(exitCode).toBe(0);
    expect(stdout.trimEnd().split('\n')).toEqual([
      `✓ ${file}: valid (model fraud-detector, 0 performance checks, no approval)`,
      `warning: ${file}:1:1 gates.performance: no checks configured; the performance gate will pass without judging the model`,
    ]);
  });

  it('points at an empty performance list and a latency gate without thresholds', async () => {
    const file = spec(
      'empty-gates.yaml',
      `${base}gates:\n  performance: []\n  latency: { iterations: 50 }\n`,
    );
    const { stdout, exitCode } = await cli('validate', file);
    expect(exitCode).toBe(0);
    expect(stdout).toContain(
      `warning: ${file}:13:3 gates.performance: no checks configured; the performance gate will pass without judging the model`,
    );
    expect(stdout).toContain(
      `warning: ${file}:14:3 gates.latency: no checks configured (p50, p95, p99 or maxRatioVsChampion); the latency gate will measure but judge nothing`,
    );
  });

  it('gives no warning when every gate has checks', async () => {
    const { stdout } = await cli('validate', EXAMPLE);
    expect(stdout).not.toContain('warning');
  });

  it('lists the warnings in --json', async () => {
    const file = spec('json-warnings.yaml', base);
    const { stdout } = await cli('validate', '--json', file);
    const result = JSON.parse(stdout) as { valid: boolean; warnings: { path: string; message: string }[] };
    expect(result.valid).toBe(true);
    expect(result.warnings.map((w) => w.path)).toEqual(['gates.performance']);
    expect(result.warnings[0]?.message).toContain('no checks configured');
  });
});

describe('prograde validate – files that are not specs', () => {
  it('names a directory as one, not as a missing file', async () => {
    const { stdout, exitCode } = await cli('validate', ROOT);
    expect(exitCode).toBe(2);
    expect(stdout).toBe(
      `${ROOT}: is a directory, not a regular file; a spec is read only from a regular file\n`,
    );
  });

  it('refuses a character device without reading it', async () => {
    const { stdout, exitCode } = await cli('validate', '/dev/zero');
    expect(exitCode).toBe(2);
    expect(stdout).toBe(
      '/dev/zero: is a character device, not a regular file; a spec is read only from a regular file\n',
    );
  });
});

describe('prograde schema', () => {
  it('prints the JSON Schema of promotion.yaml', async () => {
    const { stdout, exitCode } = await cli('schema');
    expect(exitCode).toBe(0);
    const schema = JSON.parse(stdout) as { title: string; properties: Record<string, unknown> };
    expect(schema.title).toBe('prograde promotion spec');
    expect(Object.keys(schema.properties)).toContain('gates');
  });
});

describe('prograde binary', () => {
  // Needs validate wired into src/cli/commands/index.ts.
  it('validates a spec end to end in a real process', () => {
    const run = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/prograde.js'), 'validate', 'examples/invalid-promotion.yaml'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(run.stdout).toContain(
      "examples/invalid-promotion.yaml:20:17 gates.performance[1].metric: 'acuracy' is not one of: accuracy, precision, recall, f1, auc, log_loss, brier, rmse, mae",
    );
    expect(run.status).toBe(2);
  }, 60_000);
});
