import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register as registerSchema } from '../../src/cli/commands/schema';
import { register as registerValidate } from '../../src/cli/commands/validate';
import { runCli } from '../../src/cli/run';

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
