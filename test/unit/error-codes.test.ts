import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { errorCodeIn, toFailure } from '../../src/activities/failures';
import { CliExit, exitCodeFor } from '../../src/cli/run';
import { EXIT_CODE_OF_CLASS, ExitCode } from '../../src/cli/exit-codes';
import {
  ERROR_CODES,
  MLFLOW_SERVER_CODES,
  exitClassOf,
  isErrorCode,
  mlflowServerCode,
  type ErrorCode,
} from '../../src/error-codes';
import { InvalidInputError, ProgradeError } from '../../src/errors';
import { RegistrationInvalidError, modelProblems } from '../../src/mlflow/register';
import { StatsInputError } from '../../src/stats/errors';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
const SRC = join(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

const CODE = String.raw`'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'`;
/** Where src/ names an error code: the first argument of an error constructor, `code: '…'`, comparisons. */
const RAISE_SITES = [
  // new ProgradeError('X', …), new HttpError(404, 'X', …), overloaded('X', …), super('X', …), …
  new RegExp(
    String.raw`(?:new\s+(?:ProgradeError|HttpError|SpecError|WorkerFailure)|\boverloaded|\bsuper|\bproblem)\(\s*(?:\d+\s*,\s*)?${CODE}`,
    'g',
  ),
  // a code chosen by a ternary as the first argument: new ProgradeError(cond ? 'X' : 'Y', …)
  new RegExp(String.raw`new\s+ProgradeError\(\s*[^,]*?\?\s*${CODE}\s*:\s*${CODE}`, 'g'),
  new RegExp(String.raw`\bcode:\s*${CODE}`, 'g'),
  new RegExp(String.raw`\.code\s*[!=]==\s*${CODE}`, 'g'),
  new RegExp(String.raw`\?\s*e\.code\s*:\s*${CODE}`, 'g'),
  // any literal of a family that only ever names error codes (tables, tuples, second arguments)
  /'((?:SERVING|SPEC|ONNX|GATEWAY)_[A-Z0-9_]+)'/g,
];

function codesIn(text: string): string[] {
  return RAISE_SITES.flatMap((re) =>
    [...text.matchAll(re)].flatMap((m) => m.slice(1).filter((c): c is string => c !== undefined)),
  );
}

function codesUsedInSource(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    if (file.endsWith('error-codes.ts')) continue;
    for (const code of codesIn(readFileSync(file, 'utf8'))) used.set(code, relative(SRC, file));
  }
  return used;
}

describe('the error-code catalogue', () => {
  it('maps every code to exactly one documented exit code, through its class', () => {
    const documented: number[] = [ExitCode.rejected, ExitCode.invalidInput, ExitCode.infrastructure];
    for (const code of CODES) {
      const exit = exitCodeFor(new ProgradeError(code, 'x'));
      expect(documented, code).toContain(exit);
      expect(exit, code).toBe(EXIT_CODE_OF_CLASS[exitClassOf(code)]);
      expect(ERROR_CODES[code].summary.length, code).toBeGreaterThan(0);
    }
    expect(EXIT_CODE_OF_CLASS).toEqual({ 'invalid-input': 2, rejected: 1, infrastructure: 3 });
    expect(CODES.length).toBeGreaterThan(100);
  });

  it('classes the codes that used to exit 3 by accident as invalid input (exit 2)', () => {
    expect(exitCodeFor(new StatsInputError('a has 3 rows but b has 2'))).toBe(2);
    expect(exitCodeFor(new ProgradeError('TRAFFIC_TARGET_REFUSED', 'not loopback'))).toBe(2);
    expect(exitCodeFor(new ProgradeError('NO_PREVIOUS_CHAMPION', 'nothing to roll back to'))).toBe(2);
  });

  it('keeps the classes the CLI documents', () => {
    expect(exitCodeFor(new InvalidInputError('bad flag'))).toBe(2);
    expect(exitCodeFor(new RegistrationInvalidError([]))).toBe(2);
    expect(exitCodeFor(new ProgradeError('SPEC_NOT_FOUND', 'x'))).toBe(2);
    expect(exitCodeFor(new ProgradeError('DECISION_REFUSED', 'x'))).toBe(2);
    expect(exitCodeFor(new ProgradeError('PROMOTION_NOT_FOUND', 'x'))).toBe(2);
    expect(exitCodeFor(new ProgradeError('MLFLOW_UNREACHABLE', 'x', 'retryable'))).toBe(3);
    expect(exitCodeFor(new ProgradeError('TEMPORAL_UNREACHABLE', 'x'))).toBe(3);
    expect(exitCodeFor(new CliExit(ExitCode.rejected))).toBe(1);
    // docs/models.md: a candidate logged without an ONNX flavour is rejected (exit 1), not failed.
    expect(exitCodeFor(new ProgradeError('MODEL_NOT_ONNX', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('surprise'))).toBe(3);
    expect(exitCodeFor('a string')).toBe(3);
  });

  it('finds a code in every form src/ raises one', () => {
    const snippet = `
      throw new ProgradeError(
        'NEW_A', 'x');
      throw new HttpError(404, 'NEW_B', 'x');
      return overloaded('NEW_C', m, 1);
      super('NEW_D', message, 'terminal', details);
      new ProgradeError(mv.status === 'FAILED_REGISTRATION' ? 'NEW_E' : 'NEW_F', m);
      problems.push({ subject, message, code: 'NEW_G' });
      if (e instanceof ProgradeError && e.code === 'NEW_H') return;
      const code = isProgradeError(e) ? e.code : 'NEW_I';
      const row = [431, 'Too Large', 'm', 'SERVING_NEW_J'];
      ctx.addIssue({ code: 'custom' });`;
    expect(codesIn(snippet).sort()).toEqual(
      [
        'NEW_A',
        'NEW_B',
        'NEW_C',
        'NEW_D',
        'NEW_E',
        'NEW_F',
        'NEW_G',
        'NEW_H',
        'NEW_I',
        'SERVING_NEW_J',
      ].sort(),
    );
  });

  it('lists every code string that src/ raises or compares against', () => {
    const used = codesUsedInSource();
    // The scan must keep finding the raise sites, or this test would pass by finding nothing.
    expect(used.size).toBeGreaterThan(100);
    const unlisted = [...used]
      .filter(([code]) => !isErrorCode(code))
      .map(([code, file]) => `${code} (${file})`);
    expect(unlisted).toEqual([]);
  });

  it('lists no code that src/ never raises (MLflow server codes arrive by name from the server)', () => {
    const text = sourceFiles(SRC)
      .filter((f) => !f.endsWith('error-codes.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const fromServer = new Set<string>([
      ...MLFLOW_SERVER_CODES.map((c) => `MLFLOW_${c}`),
      'MLFLOW_SERVER_ERROR',
    ]);
    const dead = CODES.filter((c) => !fromServer.has(c) && !text.includes(`'${c}'`));
    expect(dead).toEqual([]);
  });

  it("maps MLflow's error codes through a closed set with one fallback", () => {
    for (const c of MLFLOW_SERVER_CODES) expect(mlflowServerCode(c)).toBe(`MLFLOW_${c}`);
    expect(mlflowServerCode('RESOURCE_DOES_NOT_EXIST')).toBe('MLFLOW_RESOURCE_DOES_NOT_EXIST');
    expect(mlflowServerCode('SOMETHING_NEW_IN_MLFLOW_4')).toBe('MLFLOW_SERVER_ERROR');
    expect(mlflowServerCode('')).toBe('MLFLOW_SERVER_ERROR');
    expect(isErrorCode('MLFLOW_HTTP_503')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe('exit codes of failures that come back from Temporal', () => {
  const failed = (cause: Error): WorkflowFailedError =>
    new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);

  it('reads the code from the ApplicationFailure type under a WorkflowFailedError', () => {
    const app = ApplicationFailure.create({ type: 'NO_PREVIOUS_CHAMPION', message: 'x', nonRetryable: true });
    expect(exitCodeFor(failed(app))).toBe(2);
    const viaActivity = new ActivityFailure(
      'activity failed',
      'rollback',
      '1',
      RetryState.NON_RETRYABLE_FAILURE,
      'worker',
      ApplicationFailure.create({ type: 'SPEC_INVALID', message: 'x', nonRetryable: true }),
    );
    expect(errorCodeIn(failed(viaActivity))).toBe('SPEC_INVALID');
    expect(exitCodeFor(failed(viaActivity))).toBe(2);
    const infra = ApplicationFailure.create({ type: 'MLFLOW_UNREACHABLE', message: 'x' });
    expect(exitCodeFor(failed(infra))).toBe(3);
  });

  it('maps a ProgradeError turned into a failure by toFailure to the same exit code', () => {
    for (const code of ['STATS_INVALID_INPUT', 'TRAFFIC_TARGET_REFUSED', 'GATEWAY_UNREACHABLE'] as const) {
      const direct = exitCodeFor(new ProgradeError(code, 'x'));
      const viaTemporal = exitCodeFor(failed(toFailure(new ProgradeError(code, 'x')) as Error));
      expect(viaTemporal, code).toBe(direct);
    }
  });

  it('treats a failure type outside the catalogue as infrastructure', () => {
    expect(exitCodeFor(failed(ApplicationFailure.create({ type: 'TypeError', message: 'x' })))).toBe(3);
    expect(exitCodeFor(failed(new Error('no type')))).toBe(3);
  });
});

describe('register takes its refusals from the catalogue', () => {
  it('lists a corrupt model as an ONNX_CORRUPT problem (an invalid-input code), not an error', async () => {
    const { problems } = await modelProblems(new TextEncoder().encode('<html>404</html>'), 'model.onnx');
    expect(problems.map((p) => p.code)).toEqual(['ONNX_CORRUPT']);
    expect(exitClassOf('ONNX_CORRUPT')).toBe('invalid-input');
    expect(exitCodeFor(new RegistrationInvalidError(problems))).toBe(2);
  });
});
