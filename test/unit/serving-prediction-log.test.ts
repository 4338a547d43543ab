import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PredictionLog, type PredictionRecord } from '../../src/serving/prediction-log';

const dir = mkdtempSync(path.join(tmpdir(), 'prograde-predlog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = (i: number): PredictionRecord => ({
  at: `t${i}`,
  model: 'credit',
  version: '1',
  variant: 'stable',
  inputs: { features: [i] },
  outputs: { probability: [i / 10] },
});

describe('prediction log', () => {
  it('writes the sampled requests as JSON lines, building records only for them', async () => {
    const draws = [0.1, 0.9, 0.3, 0.5];
    const file = path.join(dir, 'nested', 'predictions.jsonl');
    const log = new PredictionLog({ file, sampleRate: 0.5 }, () => draws.shift() ?? 1);
    let built = 0;
    for (let i = 0; i < 4; i++)
      log.maybeLog(() => {
        built += 1;
        return record(i);
      });
    await log.close();
    expect(built).toBe(2);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PredictionRecord);
    expect(lines.map((l) => l.at)).toEqual(['t0', 't2']);
    expect(lines[1]).toEqual(record(2));
  });

  it('logs nothing at rate 0', async () => {
    const file = path.join(dir, 'off.jsonl');
    const log = new PredictionLog({ file, sampleRate: 0 }, () => 0);
    log.maybeLog(() => record(1));
    await log.close();
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});
