import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { toolPaths } from '../../src/devstack/tools';
import { type Rng } from '../../src/stats/rng';

/**
 * Runs test/oracles/stats_oracle.py once for a batch of cases (scikit-learn / scipy / fairlearn
 * reference values). Tests build all their cases first, then call this in `beforeAll`.
 */
export interface OracleCase {
  readonly id: string;
  readonly fn: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export type OracleAnswer = { readonly value: unknown } | { readonly error: string };

export function runOracle(cases: readonly OracleCase[]): Map<string, OracleAnswer> {
  const input = JSON.stringify({ cases }, (_key, v: unknown) =>
    ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v,
  );
  const r = spawnSync(toolPaths().python, [join(__dirname, 'stats_oracle.py')], {
    input,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`stats oracle failed (${r.status}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { results: Record<string, OracleAnswer> };
  return new Map(Object.entries(parsed.results));
}

/** The oracle's value for a case; fails the test if Python raised. */
export function oracleValue<T>(answers: Map<string, OracleAnswer>, id: string): T {
  const a = answers.get(id);
  if (a === undefined) throw new Error(`oracle has no answer for ${id}`);
  if ('error' in a) throw new Error(`oracle raised for ${id}: ${a.error}`);
  return a.value as T;
}

export interface ClassifierData {
  readonly scores: Float64Array;
  readonly labels: Float64Array;
}

/**
 * Scores that separate the classes imperfectly. `positiveRate` sets the imbalance; `decimals` rounds
 * scores so ties are frequent (as with calibrated or quantised models).
 */
export function classifierData(
  rng: Rng,
  n: number,
  opts: { positiveRate?: number; separation?: number; decimals?: number } = {},
): ClassifierData {
  const { positiveRate = 0.4, separation = 1.2, decimals } = opts;
  const scores = new Float64Array(n);
  const labels = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const y = rng.uniform() < positiveRate ? 1 : 0;
    labels[i] = y;
    const logit = rng.normal(y === 1 ? separation / 2 : -separation / 2, 1);
    let p = 1 / (1 + Math.exp(-logit));
    if (decimals !== undefined) p = Math.round(p * 10 ** decimals) / 10 ** decimals;
    scores[i] = p;
  }
  return { scores, labels };
}

/** A second model's scores: the first's logits plus noise, so the two are correlated (paired data). */
export function correlatedScores(rng: Rng, scores: Float64Array, noise: number, shift = 0): Float64Array {
  return scores.map((p) => {
    const q = Math.min(Math.max(p, 1e-9), 1 - 1e-9);
    const logit = Math.log(q / (1 - q)) + shift + rng.normal(0, noise);
    return 1 / (1 + Math.exp(-logit));
  });
}
