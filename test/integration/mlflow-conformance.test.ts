import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startPromotion } from '../../src/client/promotions';
import type { GateVerdict } from '../../src/promotion/verdict';
import type { GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import type { PromotionState } from '../../src/promotion/state';
import { createHarness, type Harness } from '../support/harness';
import { startTestGateway } from '../support/live';
import { stack } from '../support/stack';
import { runOracle, uniqueName } from './mlflow-fixtures';

/**
 * The conformance matrix: for each way a training job commonly logs ONNX with the real MLflow Python
 * client (test/oracles/log_conformance.py logs them all from one process), given the version in the
 * registry, when prograde promotes it on the test stack, then the verdict is the expected one — and a
 * promoted version, deployed to the gateway by the workflow, answers /invocations and the Open
 * Inference Protocol with what mlflow.pyfunc.load_model(...).predict gives on the same rows.
 */

const Tensor = z.object({
  name: z.string(),
  dtype: z.enum(['float32', 'float64', 'int64']),
  shape: z.array(z.number()),
});
const Case = z.object({
  case: z.string(),
  model: z.string(),
  version: z.string(),
  expect: z.enum(['promoted', 'rejected', 'failed']),
  task: z.enum(['binary-classification', 'regression']),
  dataset: z.string(),
  label: z.string(),
  contract: z.object({
    inputs: z.array(Tensor),
    outputs: z.array(Tensor),
    scoreOutput: z.string().optional(),
  }),
  signature: z.object({ inputs: z.string().nullable(), outputs: z.string().nullable() }).nullable(),
  feed: z.enum(['array', 'array64', 'dict', 'dataframe']),
  sample: z.array(z.array(z.number())),
  reference: z.record(z.string(), z.array(z.unknown())).nullable(),
  reference_by: z.enum(['pyfunc', 'onnxruntime']).nullable(),
  pyfunc_error: z.string().nullable(),
});
type Case = z.infer<typeof Case>;
const Logged = z.object({ lightgbm: z.string(), cases: z.array(Case) });

const FEATURES = ['f0', 'f1', 'f2', 'f3'];

/** What each case must come to, and the format-gate check that shows how its signature was read. */
const MATRIX: Readonly<Record<string, { outcome: PromotionState['outcome']; evidence: RegExp }>> = {
  'logreg-unnamed': { outcome: 'promoted', evidence: /^mlflow signature input 0: .*matched by position 0/ },
  'logreg-named': { outcome: 'promoted', evidence: /^mlflow signature input 'X': .*matched by name/ },
  'logreg-columns': {
    outcome: 'promoted',
    evidence:
      /^mlflow signature columns: the MLflow signature's 4 float columns are the 4 values per row of input 'X'/,
  },
  'logreg-no-signature': {
    outcome: 'promoted',
    evidence: /^score output: scores are read from 'probabilities'/,
  },
  'logreg-float64-graph': {
    outcome: 'promoted',
    evidence: /^mlflow signature input 0: input 'X' float64 \[-1,4\] is what the MLflow signature says/,
  },
  'logreg-float64-signature': {
    outcome: 'promoted',
    evidence: /^mlflow signature input 0: .*MLflow casts float64 rows to float32 before onnxruntime runs$/,
  },
  forest: { outcome: 'promoted', evidence: /^score output: .*column 1 of \[N,2\], P\(class 1\)$/ },
  lightgbm: {
    outcome: 'promoted',
    evidence: /^mlflow signature outputs: .*as 'probabilities' float32 \[-1,2\]/,
  },
  'regressor-columns': {
    outcome: 'promoted',
    evidence: /^score output: scores are read from 'variable' float32 \[-1,1\]/,
  },
  'logreg-zipmap': {
    outcome: 'rejected',
    evidence:
      /^output 'probabilities': the model has no output 'probabilities' .*ZipMap output.*'zipmap': False/,
  },
  // A non-ONNX flavour can never pass: rejected (exit 1), not an infrastructure failure.
  'sklearn-pickle': { outcome: 'rejected', evidence: /./ },
};

const flat = (values: unknown): unknown[] => (Array.isArray(values) ? values.flatMap(flat) : [values]);

function expectSameValues(actual: unknown, reference: readonly unknown[], what: string): void {
  const got = flat(actual);
  const want = flat(reference);
  expect(got, what).toHaveLength(want.length);
  want.forEach((w, i) => {
    if (typeof w === 'number' && Number.isInteger(w) && Number.isInteger(got[i]))
      expect(got[i], what).toBe(w);
    else expect(got[i] as number, `${what}[${i}]`).toBeCloseTo(w as number, 5);
  });
}

describe('MLflow conformance – ONNX models as training jobs log them with the Python client', () => {
  let h: Harness;
  let gateway: GatewayHandle;
  let logged: z.infer<typeof Logged>;
  const states = new Map<string, PromotionState>();

  function spec(c: Case): PromotionSpecInput {
    return {
      apiVersion: 'prograde/v1',
      model: c.model,
      task: c.task,
      contract: c.contract,
      evaluation: { dataset: c.dataset, label: c.label, features: FEATURES, bootstrapResamples: 100 },
      gates: {
        performance: c.task === 'regression' ? [{ metric: 'rmse', max: 1.5 }] : [{ metric: 'auc', min: 0.7 }],
      },
      target: { type: 'gateway', url: gateway.url, tokenEnv: 'PROGRADE_GATEWAY_TOKEN' },
    };
  }

  beforeAll(async () => {
    h = await createHarness();
    const outDir = join(h.dir, 'conformance');
    const [raw] = await Promise.all([
      runOracle('log_conformance.py', [uniqueName('conf'), outDir], stack.mlflowUri()),
      h.startWorker(),
    ]);
    logged = Logged.parse(raw);
    gateway = await startTestGateway(h, join(h.dir, 'gateway'));
    // Every case is promoted at once: one worker, one registry, one gateway, as a busy CI would.
    await Promise.all(
      logged.cases.map(async (c) => {
        const { handle } = await startPromotion(
          h.client,
          h.input(spec(c), c.version, { kind: 'file', path: join(outDir, c.dataset) }),
          h.taskQueue,
        );
        states.set(c.case, await handle.result());
      }),
    );
  }, 360_000);

  afterAll(async () => {
    await gateway?.close();
    await h?.close();
  });

  const stateOf = (c: string): PromotionState => {
    const state = states.get(c);
    if (!state) throw new Error(`case ${c} was not promoted`);
    return state;
  };
  const formatGate = (c: string): GateVerdict | undefined =>
    stateOf(c).gates.find((g) => g.gate === 'format');
  const caseOf = (name: string): Case => {
    const c = logged.cases.find((x) => x.case === name);
    if (!c) throw new Error(`the oracle logged no case ${name}`);
    return c;
  };

  it('logs every case of the matrix, LightGBM through onnxmltools included', () => {
    expect(logged.lightgbm).toBe('installed');
    expect(logged.cases.map((c) => c.case).sort()).toEqual(Object.keys(MATRIX).sort());
    // The signature forms are the ones MLflow wrote, not what the test hoped for.
    const inputs = (name: string) => caseOf(name).signature?.inputs ?? '';
    expect(inputs('logreg-unnamed')).not.toContain('"name"');
    expect(inputs('logreg-named')).toContain('"name": "X"');
    expect(inputs('logreg-columns')).toContain('"type": "float", "name": "f0"');
    expect(caseOf('logreg-no-signature').signature).toBeNull();
    expect(inputs('logreg-float64-signature')).toContain('"dtype": "float64"');
  });

  it.each(Object.keys(MATRIX))('%s comes to its expected verdict, and says why', (name) => {
    const want = MATRIX[name];
    if (!want) throw new Error(`no expectation for ${name}`);
    const state = stateOf(name);
    expect({ outcome: state.outcome, reason: state.reason }).toMatchObject({ outcome: want.outcome });
    if (name === 'sklearn-pickle') {
      expect(state.reason).toMatch(
        /^MODEL_NOT_ONNX: .* was logged with the sklearn flavor, not ONNX; .*skl2onnx\.to_onnx\(model, .*'zipmap': False.*mlflow\.onnx\.log_model\(onx/,
      );
      return;
    }
    const format = formatGate(name);
    expect(format?.status).toBe(want.outcome === 'promoted' ? 'passed' : 'failed');
    const lines = format?.checks.map((c) => `${c.name}: ${c.message}`) ?? [];
    expect(
      lines.some((l) => want.evidence.test(l)),
      lines.join('\n'),
    ).toBe(true);
  });

  it('answers /invocations and the Open Inference Protocol as mlflow.pyfunc predicts, for every promoted case', async () => {
    const promoted = logged.cases.filter((c) => c.expect === 'promoted');
    expect(promoted.length).toBeGreaterThanOrEqual(9);
    for (const c of promoted) {
      const reference = c.reference ?? {};
      // MLflow's pyfunc builds a DataFrame of every output, which a [N,2] output cannot be part of.
      if (c.reference_by === 'onnxruntime') expect(c.pyfunc_error, c.case).toMatch(/same length/);
      else expect(c.reference_by, c.case).toBe('pyfunc');

      const body =
        c.feed === 'dict'
          ? { inputs: { X: c.sample } }
          : c.feed === 'dataframe'
            ? { dataframe_split: { columns: FEATURES, data: c.sample } }
            : { inputs: c.sample };
      const invoked = await fetch(`${gateway.url}/invocations?model=${c.model}`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(invoked.status, `${c.case} /invocations`).toBe(200);
      expect(invoked.headers.get('x-prograde-version')).toBe(c.version);
      const { predictions } = (await invoked.json()) as { predictions: unknown };
      const names = Object.keys(reference);
      const byName =
        names.length === 1 && Array.isArray(predictions)
          ? { [names[0] as string]: predictions }
          : (predictions as Record<string, unknown>);
      for (const [output, values] of Object.entries(reference))
        expectSameValues(byName[output], values, `${c.case} /invocations ${output}`);

      const datatype = c.contract.inputs[0]?.dtype === 'float64' ? 'FP64' : 'FP32';
      const v2 = await fetch(`${gateway.url}/v2/models/${c.model}/infer`, {
        method: 'POST',
        body: JSON.stringify({
          inputs: [{ name: 'X', shape: [c.sample.length, 4], datatype, data: c.sample.flat() }],
        }),
      });
      expect(v2.status, `${c.case} v2`).toBe(200);
      const { outputs } = (await v2.json()) as { outputs: { name: string; data: unknown[] }[] };
      for (const [output, values] of Object.entries(reference))
        expectSameValues(outputs.find((o) => o.name === output)?.data, values, `${c.case} v2 ${output}`);
    }
  });
});
