import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SPEC_BYTES, loadSpec, parseSpec, resolveDatasetLocation } from '../../src/spec/load';
import { SpecError, type SpecProblem } from '../../src/spec/spec-error';
import { MINIMAL_SPEC_YAML } from '../support/specs';

const EXAMPLE = path.join(__dirname, '../../examples/promotion.yaml');
const INVALID = path.join(__dirname, '../../examples/invalid-promotion.yaml');

/** A small valid spec; tests splice one mistake into it so each problem is seen alone. */
const VALID = MINIMAL_SPEC_YAML;

function problemsOf(text: string): SpecProblem[] {
  try {
    parseSpec(text, 'promotion.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    const err = e as SpecError;
    expect(err.code).toBe('SPEC_INVALID');
    expect(err.retry).toBe('terminal');
    return [...err.problems];
  }
  throw new Error('expected the spec to be rejected');
}

function only(text: string): SpecProblem {
  const problems = problemsOf(text);
  expect(problems, JSON.stringify(problems)).toHaveLength(1);
  return problems[0] as SpecProblem;
}

describe('spec loading – valid specs', () => {
  it('accepts the commented example and reports where it came from', async () => {
    const loaded = await loadSpec(EXAMPLE);
    expect(loaded.spec.model).toBe('fraud-detector');
    expect(loaded.file).toBe(EXAMPLE);
    expect(loaded.baseDir).toBe(path.dirname(EXAMPLE));
    expect(loaded.sha256).toBe(createHash('sha256').update(readFileSync(EXAMPLE)).digest('hex'));
  });

  it('parses the example into the values the demo relies on', async () => {
    const { spec } = await loadSpec(EXAMPLE);
    expect(spec.evaluation.features).toEqual(Array.from({ length: 12 }, (_, i) => `f${i}`));
    expect(spec.evaluation.sensitive).toEqual(['gender']);
    expect(spec.contract.maxModelSize).toBe(200_000_000);
    expect(spec.gates.performance).toEqual([
      { metric: 'auc', min: 0.75 },
      { metric: 'auc', maxDropVsChampion: 0.02, confidence: 0.95 },
      { metric: 'log_loss', maxRiseVsChampion: 0.05, confidence: 0.95 },
    ]);
    expect(spec.gates.fairness).toEqual({
      minGroupSize: 30,
      checks: [
        { metric: 'demographic_parity_ratio', min: 0.8 },
        { metric: 'equalized_odds_difference', max: 0.15 },
      ],
    });
    expect(spec.gates.latency).toMatchObject({ p99: 50, maxRatioVsChampion: 10 });
    expect(spec.shadow).toMatchObject({
      sampleRate: 100,
      minRequests: 100,
      minDuration: 10_000,
      maxDuration: 120_000,
    });
    expect(spec.canary?.steps).toEqual([
      { setWeight: 10 },
      { bake: 10_000 },
      { setWeight: 50 },
      { bake: 10_000 },
    ]);
    expect(spec.canary?.analysis.interval).toBe(1000);
    expect(spec.rollback).toEqual({ automatic: true, keepPreviousFor: 3_600_000 });
    expect(spec.approval.required).toBe(false);
  });

  it('resolves a relative dataset against the spec directory and keeps URIs as they are', async () => {
    const { spec, baseDir } = await loadSpec(EXAMPLE);
    expect(resolveDatasetLocation(spec, baseDir)).toEqual({
      kind: 'file',
      path: path.join(baseDir, 'data/holdout.csv'),
    });
    const uri = 'mlflow-artifacts:/1/abc/artifacts/holdout.csv';
    expect(resolveDatasetLocation({ evaluation: { ...spec.evaluation, dataset: uri } }, baseDir)).toEqual({
      kind: 'uri',
      uri,
    });
    const runs = parseSpec(VALID.replace('data/holdout.csv', 'runs:/abc123/holdout.csv'), 'promotion.yaml');
    expect(resolveDatasetLocation(runs, '/anywhere')).toEqual({
      kind: 'uri',
      uri: 'runs:/abc123/holdout.csv',
    });
  });
});

describe('spec loading – problems located in the file', () => {
  it('reports an unknown key at the key, listing the allowed keys', () => {
    const p = only(VALID.replace('  label: is_fraud\n', '  label: is_fraud\n  lable: oops\n'));
    expect(p).toMatchObject({ file: 'promotion.yaml', line: 11, column: 3, path: 'evaluation.lable' });
    expect(p.message).toBe(
      "unknown key 'lable' (allowed: dataset, label, features, sensitive, threshold, seed, bootstrapResamples, maxRows)",
    );
  });

  it('reports an unknown top-level key', () => {
    expect(only(`${VALID}colour: blue\n`)).toMatchObject({ line: 12, column: 1, path: 'colour' });
  });

  it('reports a malformed duration at its value with an example of a good one', () => {
    const p = only(`${VALID}approval:\n  timeout: 5x\n`);
    expect(p).toMatchObject({ line: 13, column: 12, path: 'approval.timeout' });
    expect(p.message).toBe("'5x' is not a duration; write e.g. 250ms, 30s, 5m, 1h30m, 2d");
  });

  it('explains that a bare number is not a duration', () => {
    const p = only(`${VALID}rollback:\n  keepPreviousFor: 3600\n`);
    expect(p).toMatchObject({ line: 13, column: 20, path: 'rollback.keepPreviousFor' });
    expect(p.message).toBe('expected a duration such as 30s or 5m, got the number 3600');
  });

  it('reports a malformed size', () => {
    const p = only(VALID.replace('contract:\n', 'contract:\n  maxModelSize: 200 megs\n'));
    expect(p).toMatchObject({ line: 4, column: 17, path: 'contract.maxModelSize' });
    expect(p.message).toBe("'200 megs' is not a size; write e.g. 512KB, 200MB, 1.5GiB");
  });

  it('reports a canary weight above 100 at the weight', () => {
    const p = only(`${VALID}canary:\n  steps:\n    - setWeight: 10\n    - setWeight: 150\n`);
    expect(p).toMatchObject({ line: 15, column: 18, path: 'canary.steps[1].setWeight' });
    expect(p.message).toBe('must be between 0 and 100');
  });

  it('reports fairness checks without sensitive columns', () => {
    const p = only(
      `${VALID}gates:\n  fairness:\n    checks:\n      - { metric: demographic_parity_ratio, min: 0.8 }\n`,
    );
    expect(p).toMatchObject({ line: 14, column: 5, path: 'gates.fairness' });
    expect(p.message).toBe('fairness checks need evaluation.sensitive columns; none are given');
  });

  it('reports a value of the wrong type, quoting it', () => {
    const p = only(
      VALID.replace('  features: [f0, f1, f2]\n', '  features: [f0, f1, f2]\n  threshold: high\n'),
    );
    expect(p).toMatchObject({ line: 12, column: 14, path: 'evaluation.threshold' });
    expect(p.message).toBe("expected a number, got the text 'high'");
  });

  it('reports a misspelt enum value inside a union with every accepted value', () => {
    const p = only(
      `${VALID}gates:\n  performance:\n    - { metric: auc, min: 0.7 }\n    - { metric: acuracy, min: 0.8 }\n`,
    );
    expect(p).toMatchObject({ line: 15, column: 17, path: 'gates.performance[1].metric' });
    expect(p.message).toBe(
      "'acuracy' is not one of: accuracy, precision, recall, f1, auc, log_loss, brier, rmse, mae",
    );
  });

  it('picks the union branch the author meant', () => {
    const p = only(`${VALID}gates:\n  performance:\n    - { metric: auc, maxDropVsChampion: -0.1 }\n`);
    expect(p).toMatchObject({ line: 14, column: 41, path: 'gates.performance[0].maxDropVsChampion' });
    expect(p.message).toBe('must be at least 0, got -0.1');
  });

  it('reports a missing required key at its parent', () => {
    const p = only(VALID.replace('  label: is_fraud\n', ''));
    expect(p).toMatchObject({ line: 8, column: 1, path: 'evaluation.label', message: 'is required' });
  });

  it('reports a YAML syntax error at its line', () => {
    const p = only(VALID.replace('  label: is_fraud\n', '  label: [is_fraud\n'));
    expect(p.path).toBe('');
    expect(p.message).toMatch(/^YAML syntax: /);
    expect(p.line).toBeGreaterThanOrEqual(10);
  });

  it('reports a duplicate key at the second occurrence', () => {
    const p = only(VALID.replace('  label: is_fraud\n', '  label: is_fraud\n  label: fraud\n'));
    expect(p).toMatchObject({ line: 11, column: 3, path: '' });
    expect(p.message).toBe("duplicate key 'label'; a key may appear only once in a mapping");
  });

  it('reports an empty file plainly', () => {
    expect(only('# nothing yet\n').message).toBe(
      'the file is empty; a spec starts with apiVersion: prograde/v1',
    );
  });

  it('rejects a top level that is not a mapping', () => {
    expect(only('- a\n- b\n')).toMatchObject({
      line: 1,
      column: 1,
      message: 'expected a mapping, got a list',
    });
  });

  it('reports every mistake in the invalid example, in file order, formatted one per line', async () => {
    const err = await loadSpec(INVALID).then(
      () => undefined,
      (e: unknown) => e as SpecError,
    );
    expect(err).toBeInstanceOf(SpecError);
    const name = INVALID;
    expect(err?.format().split('\n')).toEqual([
      `${name}:10:16 contract.scoreOutput: scoreOutput 'score' is not an output (outputs: probability)`,
      `${name}:11:17 contract.maxModelSize: '200 megabytes' is not a size; write e.g. 512KB, 200MB, 1.5GiB`,
      `${name}:16:14 evaluation.threshold: expected a number, got the text 'high'`,
      `${name}:20:17 gates.performance[1].metric: 'acuracy' is not one of: accuracy, precision, recall, f1, auc, log_loss, brier, rmse, mae`,
      `${name}:22:5 gates.fairness: fairness checks need evaluation.sensitive columns; none are given`,
      `${name}:24:1 approval.approvers: approval is required but no approvers are given`,
      `${name}:27:16 shadow.minDuration: '5x' is not a duration; write e.g. 250ms, 30s, 5m, 1h30m, 2d`,
      `${name}:33:18 canary.steps[2].setWeight: must be between 0 and 100`,
      `${name}:36:5 canary.analysis.tolerance: unknown key 'tolerance' (allowed: provider, mode, interval, minSamples, maxErrorRateIncrease, errorRateAlpha, latency, prediction, onInconclusive)`,
    ]);
    expect(err?.message).toContain('is not a valid promotion spec (9 problems)');
    expect(err?.details).toMatchObject({ file: INVALID });
  });
});

describe('spec loading – files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'prograde-spec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says SPEC_NOT_FOUND with the path when the file is missing', async () => {
    const missing = path.join(dir, 'nope.yaml');
    await expect(loadSpec(missing)).rejects.toMatchObject({
      code: 'SPEC_NOT_FOUND',
      file: missing,
      message: `spec file not found: ${missing}`,
    });
  });

  it('says SPEC_NOT_A_FILE for a directory and SPEC_TOO_LARGE past the size limit', async () => {
    await expect(loadSpec(dir)).rejects.toMatchObject({
      code: 'SPEC_NOT_A_FILE',
      problems: [
        {
          file: dir,
          line: 0,
          column: 0,
          path: '',
          message: 'is a directory, not a regular file; a spec is read only from a regular file',
        },
      ],
    });
    const big = path.join(dir, 'big.yaml');
    await writeFile(big, `# ${'x'.repeat(MAX_SPEC_BYTES)}\n`);
    await expect(loadSpec(big)).rejects.toMatchObject({
      code: 'SPEC_TOO_LARGE',
      message: `${big}: the file is 1,048,579 bytes, over the limit of 1,048,576 bytes (1 MiB) for a spec`,
    });
  });

  it('refuses text past the size limit given to parseSpec directly', () => {
    expect(() => parseSpec(`# ${'x'.repeat(MAX_SPEC_BYTES)}\n`, 'webhook body')).toThrow(
      expect.objectContaining({ code: 'SPEC_TOO_LARGE' }),
    );
  });

  it('returns warnings beside a valid spec', async () => {
    const file = path.join(dir, 'warned.yaml');
    await writeFile(file, VALID);
    const loaded = await loadSpec(file);
    expect(loaded.warnings).toEqual([
      {
        file,
        line: 1,
        column: 1,
        path: 'gates.performance',
        message: 'no checks configured; the performance gate will pass without judging the model',
      },
    ]);
  });

  it('labels problems with the path as given and resolves file to an absolute path', async () => {
    const file = path.join(dir, 'promotion.yaml');
    await writeFile(file, VALID);
    const loaded = await loadSpec(path.relative(process.cwd(), file));
    expect(loaded.file).toBe(file);
    expect(loaded.baseDir).toBe(dir);
    await writeFile(file, `${VALID}bogus: 1\n`);
    const relative = path.relative(process.cwd(), file);
    await expect(loadSpec(relative)).rejects.toMatchObject({
      problems: [{ file: relative, line: 12, column: 1 }],
    });
  });
});
