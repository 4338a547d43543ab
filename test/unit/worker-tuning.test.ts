import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import {
  WORKER_TUNING_DEFAULTS,
  WORKER_TUNING_ENV,
  limitLaterIsolatesHeap,
  workerTuning,
} from '../../src/config/worker-tuning';
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

  it('reads the workflow thread heap cap, and refuses one too small to run workflows', () => {
    const HEAP = WORKER_TUNING_ENV.workflowHeapMb;
    expect(workerTuning({ [HEAP]: '384' })).toMatchObject({ workflowHeapMb: 384 });
    expect(workerTuning({})).not.toHaveProperty('workflowHeapMb');
    expect(() => workerTuning({ [HEAP]: '64' })).toThrow(
      new RegExp(`${HEAP}='64' must be a whole number from 128`),
    );
    expect(() => workerTuning({ [HEAP]: '1g' })).toThrow(InvalidInputError);
  });

  it('caps the heap of a thread started after the limit, not the thread that set it', async () => {
    const { getHeapStatistics } = await import('node:v8');
    const mainBefore = getHeapStatistics().heap_size_limit;
    limitLaterIsolatesHeap(200);
    expect(getHeapStatistics().heap_size_limit).toBe(mainBefore);
    const threadLimit = await new Promise<number>((resolve, reject) => {
      const thread = new Worker(
        "require('node:worker_threads').parentPort.postMessage(require('node:v8').getHeapStatistics().heap_size_limit)",
        { eval: true },
      );
      thread.once('message', (limit: number) => resolve(limit));
      thread.once('error', reject);
    });
    // Old space 200 MiB plus the young generation: far below the main thread's default (~4 GiB).
    expect(threadLimit / 2 ** 20).toBeGreaterThanOrEqual(200);
    expect(threadLimit / 2 ** 20).toBeLessThan(300);
  });
});
