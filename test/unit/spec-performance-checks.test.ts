import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/spec/load';
import { SpecError, type SpecProblem } from '../../src/spec/spec-error';
import { MINIMAL_SPEC_YAML } from '../support/specs';

// Performance checks as people edit the example: the keys they wrote decide which kind of check they
// meant, so a wrong value is reported at that value, not as "give min, max, or both" plus unknown keys.

const VALID = `${MINIMAL_SPEC_YAML}gates:
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
      "gates.performance[0].maxDropVsChampion: expected a number, got the text '2%' (write a plain number, without %)",
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

describe('the contract output that is scored', () => {
  const withOutputs = (outputs: string, scoreOutput = ''): string =>
    VALID.replace(
      '    - { name: probability, dtype: float32, shape: [-1, 1] }\n',
      `${outputs}${scoreOutput === '' ? '' : `  scoreOutput: ${scoreOutput}\n`}`,
    ).replace('gates:\n  performance:\n', '');

  const refusals = (text: string): string[] => {
    try {
      parseSpec(text, 'promotion.yaml');
    } catch (e) {
      if (e instanceof SpecError) return e.problems.map((p) => `${p.path}: ${p.message}`);
      throw e;
    }
    return [];
  };

  it('refuses a multiclass [N,3] score output at validate time, at its shape', () => {
    const outputs =
      '    - { name: label, dtype: int64, shape: [-1] }\n    - { name: probabilities, dtype: float32, shape: [-1, 3] }\n';
    const expected = [
      "contract.outputs[1].shape: score output 'probabilities' has 3 values per row; a score is read from [N], [N,1] or [N,2] (column 1, P(class 1)): prograde judges binary classifiers and regressors, not multiclass models",
    ];
    expect(refusals(withOutputs(outputs, 'probabilities'))).toEqual(expected);
    // Without scoreOutput the first float output is the one scored.
    expect(refusals(withOutputs(outputs))).toEqual(expected);
  });

  it('accepts [N], [N,1], [N,2] and a free width, and does not judge outputs that are not scored', () => {
    for (const shape of ['[-1]', '[-1, 1]', '[-1, 2]', '[-1, -1]'])
      expect(refusals(withOutputs(`    - { name: p, dtype: float32, shape: ${shape} }\n`))).toEqual([]);
    const outputs =
      '    - { name: embedding, dtype: float32, shape: [-1, 8] }\n    - { name: p, dtype: float64, shape: [-1, 2] }\n';
    expect(refusals(withOutputs(outputs, 'p'))).toEqual([]);
  });
});

describe('numbers written as text', () => {
  it('says to drop the quotes or the percent sign', () => {
    expect(messages('{ metric: auc, min: "0.75" }')).toEqual([
      "gates.performance[0].min: expected a number, got the text '0.75' (write it without quotes)",
    ]);
    expect(messages('{ metric: auc, min: 75% }')).toEqual([
      "gates.performance[0].min: expected a number, got the text '75%' (write a plain number, without %)",
    ]);
    expect(messages('{ metric: auc, min: high }')).toEqual([
      "gates.performance[0].min: expected a number, got the text 'high'",
    ]);
  });
});
