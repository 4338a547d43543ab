import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectOnnx } from '../../src/onnx/inspect';
import { openSession } from '../../src/onnx/session';
import { sampleDataset } from '../../src/samples/datasets';
import {
  MODEL_VARIANTS,
  NAN_CUTOFF,
  SAMPLE_CONTRACT,
  SAMPLE_FEATURES,
  SAMPLE_LABEL,
  SAMPLE_SENSITIVE,
  type ModelVariant,
  sampleModel,
} from '../../src/samples/models';

const ds = sampleDataset({ rows: 4000, seed: 7 });
const scores = new Map<ModelVariant, Float32Array>();

/** Rank-based AUC: P(score₊ > score₋), ties ½. */
function auc(s: Float32Array, labels: Float64Array): number {
  const order = Array.from(s.keys()).sort((a, b) => (s[a] ?? 0) - (s[b] ?? 0));
  let rankSumPos = 0;
  let nPos = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && s[order[j + 1] ?? 0] === s[order[i] ?? 0]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k] ?? 0] === 1) {
        rankSumPos += midRank;
        nPos++;
      }
    }
    i = j + 1;
  }
  const nNeg = order.length - nPos;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

function parityRatio(s: Float32Array, groups: readonly string[]): number {
  const selected = new Map<string, [number, number]>();
  groups.forEach((g, i) => {
    const [sel, n] = selected.get(g) ?? [0, 0];
    selected.set(g, [sel + ((s[i] ?? 0) >= 0.5 ? 1 : 0), n + 1]);
  });
  const rates = [...selected.values()].map(([sel, n]) => sel / n);
  return Math.min(...rates) / Math.max(...rates);
}

function scoresOf(variant: ModelVariant): Float32Array {
  const s = scores.get(variant);
  if (!s) throw new Error(`no scores for ${variant}`);
  return s;
}

beforeAll(async () => {
  for (const variant of ['good', 'previous', 'regressed', 'biased', 'slow', 'nan'] as const) {
    const session = await openSession(sampleModel(variant));
    scores.set(variant, await session.score(ds.features, ds.rows, SAMPLE_FEATURES.length));
    await session.release();
  }
});
afterAll(() => scores.clear());

describe('sample models', () => {
  it('describe the contract, features, label and sensitive column of the sample data', () => {
    expect(SAMPLE_CONTRACT).toEqual({
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 12] }],
      outputs: [{ name: 'probability', dtype: 'float32', shape: [-1, 1] }],
    });
    expect(SAMPLE_FEATURES).toEqual(ds.featureNames);
    expect(SAMPLE_FEATURES[11]).toBe('f11');
    expect(SAMPLE_LABEL).toBe(ds.labelName);
    expect(SAMPLE_SENSITIVE).toEqual(Object.keys(ds.sensitive));
  });

  it('good ranks fraud well (AUC ≥ 0.80) and selects both genders alike (parity ratio > 0.85)', () => {
    expect(auc(scoresOf('good'), ds.labels)).toBeGreaterThanOrEqual(0.8);
    expect(parityRatio(scoresOf('good'), ds.sensitive.gender ?? [])).toBeGreaterThan(0.85);
  });

  it('regressed is at least 0.05 AUC worse than good', () => {
    expect(auc(scoresOf('good'), ds.labels) - auc(scoresOf('regressed'), ds.labels)).toBeGreaterThanOrEqual(
      0.05,
    );
  });

  it('previous is slightly worse than good but agrees with it on at least 90% of decisions', () => {
    const good = scoresOf('good');
    const previous = scoresOf('previous');
    const gap = auc(good, ds.labels) - auc(previous, ds.labels);
    expect(gap).toBeGreaterThan(0.005);
    expect(gap).toBeLessThan(0.03);
    let agree = 0;
    for (let i = 0; i < good.length; i++) if ((good[i] ?? 0) >= 0.5 === (previous[i] ?? 0) >= 0.5) agree++;
    expect(agree / good.length).toBeGreaterThanOrEqual(0.9);
  });

  it('biased selects one gender far more often (parity ratio < 0.6)', () => {
    expect(parityRatio(scoresOf('biased'), ds.sensitive.gender ?? [])).toBeLessThan(0.6);
  });

  it('slow gives the same scores as good from a much larger graph', () => {
    const good = scoresOf('good');
    const slow = scoresOf('slow');
    let maxDiff = 0;
    for (let i = 0; i < ds.rows; i++) maxDiff = Math.max(maxDiff, Math.abs((good[i] ?? 0) - (slow[i] ?? 1)));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(sampleModel('slow').byteLength).toBeGreaterThan(100 * sampleModel('good').byteLength);
  });

  it(`nan returns NaN exactly for rows with f0 > ${NAN_CUTOFF} and good's scores elsewhere`, () => {
    const good = scoresOf('good');
    const nan = scoresOf('nan');
    let nanRows = 0;
    for (let r = 0; r < ds.rows; r++) {
      const f0 = ds.features[r * SAMPLE_FEATURES.length] ?? 0;
      if (f0 > NAN_CUTOFF) {
        nanRows++;
        expect(nan[r]).toBeNaN();
      } else {
        expect(Math.abs((nan[r] ?? Number.NaN) - (good[r] ?? 0))).toBeLessThan(1e-6);
      }
    }
    // P(N(0,1) > 2.5) ≈ 0.62 %: a handful of rows, never none.
    expect(nanRows / ds.rows).toBeGreaterThan(0.002);
    expect(nanRows / ds.rows).toBeLessThan(0.02);
  });

  it('wrong-signature takes a 13-wide input named `input`', () => {
    expect(inspectOnnx(sampleModel('wrong-signature')).inputs).toEqual([
      { name: 'input', dtype: 'float32', shape: [-1, 13] },
    ]);
  });

  it('corrupt is not a decodable ModelProto and ORT refuses it', async () => {
    const bytes = sampleModel('corrupt');
    expect(() => inspectOnnx(bytes)).toThrow(expect.objectContaining({ code: 'ONNX_CORRUPT' }));
    await expect(openSession(bytes)).rejects.toMatchObject({ code: 'ONNX_LOAD_FAILED' });
  });

  it('opset-too-new is stamped with ai.onnx opset 99', () => {
    expect(inspectOnnx(sampleModel('opset-too-new')).opsets).toEqual([{ domain: '', version: 99 }]);
  });

  it('are byte-for-byte reproducible, and a seed gives a distinct artifact of the same quality', async () => {
    for (const variant of MODEL_VARIANTS) {
      expect(Buffer.from(sampleModel(variant)).equals(sampleModel(variant)), variant).toBe(true);
    }
    const a = sampleModel('good', { seed: 1 });
    const b = sampleModel('good', { seed: 2 });
    expect(a).toEqual(sampleModel('good', { seed: 1 }));
    expect(a).not.toEqual(b);
    const session = await openSession(b);
    const seeded = await session.score(ds.features, ds.rows, SAMPLE_FEATURES.length);
    await session.release();
    expect(Math.abs(auc(seeded, ds.labels) - auc(scoresOf('good'), ds.labels))).toBeLessThan(0.01);
  });
});
