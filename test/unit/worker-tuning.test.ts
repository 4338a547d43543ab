import { describe, expect, it } from 'vitest';
import { WORKER_TUNING_DEFAULTS, WORKER_TUNING_ENV, workerTuning } from '../../src/config/worker-tuning';
import { InvalidInputError } from '../../src/errors';

const { maxConcurrentActivityTaskExecutions: ACTIVITIES, maxConcurrentWorkflowTaskExecutions: TASKS } =
  WORKER_TUNING_ENV;
const CACHE = WORKER_TUNING_ENV.maxCachedWorkflows;
const EVALS = WORKER_TUNING_ENV.maxConcurrentEvaluations;

describe('worker tuning from the environment', () => {
  it('gives the measured defaults when nothing is set, and for blank values', () => {
    expect(workerTuning({})).toEqual(WORKER_TUNING_DEFAULTS);
    expect(workerTuning({ [ACTIVITIES]: '', [TASKS]: '  ' })).toEqual(WORKER_TUNING_DEFAULTS);
  });

  it('reads each setting, surrounding spaces allowed', () => {
    expect(workerTuning({ [ACTIVITIES]: ' 24 ', [TASKS]: '10', [CACHE]: '300', [EVALS]: '3' })).toEqual({
      maxConcurrentActivityTaskExecutions: 24,
      maxConcurrentWorkflowTaskExecutions: 10,
      maxCachedWorkflows: 300,
      maxConcurrentEvaluations: 3,
    });
  });

  it('allows a sticky cache of 0 (every task replays), and then a single workflow task slot', () => {
    expect(workerTuning({ [CACHE]: '0', [TASKS]: '1' })).toMatchObject({
      maxCachedWorkflows: 0,
      maxConcurrentWorkflowTaskExecutions: 1,
    });
  });

  it.each([
    [ACTIVITIES, '0'],
    [ACTIVITIES, '-4'],
    [ACTIVITIES, '2.5'],
    [ACTIVITIES, '1e3'],
    [ACTIVITIES, 'lots'],
    [ACTIVITIES, '0x10'],
    [TASKS, '100001'],
    [CACHE, '-1'],
    [CACHE, '9'.repeat(400)],
    [EVALS, '0'],
    [EVALS, 'all'],
  ])('refuses %s=%s as invalid input naming the variable', (name, value) => {
    const attempt = (): unknown => workerTuning({ [name]: value });
    expect(attempt).toThrow(InvalidInputError);
    expect(attempt).toThrow(new RegExp(`^${name}=`));
  });

  it('clips a huge value in the message', () => {
    try {
      workerTuning({ [ACTIVITIES]: 'x'.repeat(10_000) });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(200);
    }
  });

  it('refuses one workflow task slot while workflows are cached, which Temporal cannot run', () => {
    expect(() => workerTuning({ [TASKS]: '1' })).toThrow(/at least 2 while workflows are cached/);
  });
});
