import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/spec/load';
import { SpecError, type SpecProblem } from '../../src/spec/spec-error';

// Performance checks as people edit the example: the keys they wrote decide which kind of check they
// meant, so a wrong value is reported at that value, not as "give min, max, or both" plus unknown keys.

const VALID = `apiVersion: prograde/v1
model: fraud-detector
contract:
  inputs:
    - { name: features, dtype: float32, shape: [-1, 3] }
  outputs:
    - { name: probability, dtype: float32, shape: [-1, 1] }
evaluation:
  dataset: data/holdout.csv
  label: is_fraud
  features: [f0, f1, f2]
gates:
  performance:
`;

function problemsOf(check: string): SpecProblem[] {
  try {
    parseSpec(`${VALID}    - ${check}\n`, 'promotion.yaml');
  } catch (e) {
    if (e instanceof SpecError) return [...e.problems];
    throw e;
  }
  throw new Error(`expected ${check} to be refused`);
}

const messages = (check: string): string[] => problemsOf(check).map((p) => `${p.path}: ${p.message}`);

describe('performance checks', () => {
  it('a percent sign in a relative margin is reported at the margin', () => {
    expect(messages('{ metric: auc, maxDropVsChampion: 2%, confidence: 0.95 }')).toEqual([
      "gates.performance[0].maxDropVsChampion: expected a number, got the text '2%'",
    ]);
  });

  it('a margin for the wrong direction says which key fits', () => {
    expect(messages('{ metric: log_loss, maxDropVsChampion: 0.05 }')).toEqual([
      'gates.performance[0]: log_loss is better when lower: use maxRiseVsChampion',
    ]);
    expect(messages('{ metric: auc, maxRiseVsChampion: 0.05 }')).toEqual([
      'gates.performance[0]: auc is better when higher: use maxDropVsChampion',
    ]);
  });

  it('refuses mixing absolute and relative, two margins, a bare metric and confidence on a bound', () => {
    expect(messages('{ metric: auc, min: 0.7, maxDropVsChampion: 0.02 }')[0]).toMatch(
      /not both: write two checks/,
    );
    expect(messages('{ metric: log_loss, maxRiseVsChampion: 0.1, maxDropVsChampion: 0.1 }')[0]).toMatch(
      /not both/,
    );
    expect(messages('{ metric: auc }')[0]).toMatch(/give min, max, or both; or maxDropVsChampion/);
    expect(messages('{ metric: auc, min: 0.7, confidence: 0.9 }')[0]).toMatch(
      /confidence applies to checks relative/,
    );
  });

  it('parses each kind to the shape the gate reads, with confidence defaulting to 0.95', () => {
    const parsed = parseSpec(
      `${VALID}    - { metric: auc, maxDropVsChampion: 0.02 }\n    - { metric: log_loss, maxRiseVsChampion: 0.05, confidence: 0.9 }\n    - { metric: auc, min: 0.7 }\n`,
      'promotion.yaml',
    );
    expect(parsed.gates.performance).toEqual([
      { metric: 'auc', maxDropVsChampion: 0.02, confidence: 0.95 },
      { metric: 'log_loss', maxRiseVsChampion: 0.05, confidence: 0.9 },
      { metric: 'auc', min: 0.7 },
    ]);
  });
});
