import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  PredictionLog,
  type PredictionLogTrouble,
  type PredictionRecord,
} from '../../src/serving/prediction-log';

const record = (i: number): PredictionRecord => ({
  at: new Date(0).toISOString(),
  model: 'm',
  version: '1',
  variant: 'stable',
  inputs: { x: [i] },
  outputs: { y: [i] },
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('PredictionLog', () => {
  it('writes sampled records as JSONL', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'predlog-'));
    dirs.push(dir);
    const file = path.join(dir, 'p.jsonl');
    const log = new PredictionLog({ file, sampleRate: 1 });
    for (let i = 0; i < 3; i++) log.maybeLog(() => record(i));
    await log.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as PredictionRecord).inputs['x'])).toEqual([[0], [1], [2]]);
  });

  // /dev/full answers every write with ENOSPC: a real full disk, not a simulated one.
  it.runIf(existsSync('/dev/full'))('survives a full disk: drops, counts and reports once', async () => {
    const trouble: PredictionLogTrouble[] = [];
    let drops = 0;
    const log = new PredictionLog({
      file: '/dev/full',
      sampleRate: 1,
      retryAfterMs: 20,
      onTrouble: (t) => trouble.push(t),
      onDrop: () => drops++,
    });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 50; i++) log.maybeLog(() => record(i));
      await new Promise((r) => setTimeout(r, 30));
    }
    await vi.waitFor(() => expect(trouble.some((t) => t.kind === 'failed')).toBe(true));
    // One report for the whole episode, however many writes failed and reopened.
    expect(trouble.filter((t) => t.kind === 'failed')).toHaveLength(1);
    expect(trouble.find((t) => t.kind === 'failed')).toMatchObject({ error: { code: 'ENOSPC' } });
    expect(log.dropped).toBeGreaterThan(0);
    expect(drops).toBe(log.dropped);
    await log.close();
  });

  it('writes again once the file can be opened, and says how many records were dropped', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'predlog-'));
    dirs.push(dir);
    const file = path.join(dir, 'p.jsonl');
    mkdirSync(file); // a directory where the file should be: every open fails (EISDIR)
    const trouble: PredictionLogTrouble[] = [];
    const log = new PredictionLog({
      file,
      sampleRate: 1,
      retryAfterMs: 20,
      onTrouble: (t) => trouble.push(t),
    });
    await vi.waitFor(() => expect(trouble).toHaveLength(1));
    for (let i = 0; i < 10; i++) log.maybeLog(() => record(i));
    rmSync(file, { recursive: true });
    await vi.waitFor(
      () => {
        log.maybeLog(() => record(99));
        expect(trouble.at(-1)?.kind).toBe('recovered');
      },
      { timeout: 5_000, interval: 30 },
    );
    await log.close();
    expect(trouble[0]?.kind).toBe('failed');
    expect((trouble.at(-1) as { dropped: number }).dropped).toBeGreaterThanOrEqual(10);
    expect(readFileSync(file, 'utf8')).toContain('"x":[99]');
  });

  it('drops instead of queueing without bound when the disk cannot keep up', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'predlog-'));
    dirs.push(dir);
    const log = new PredictionLog({
      file: path.join(dir, 'p.jsonl'),
      sampleRate: 1,
      maxBufferedBytes: 1_000,
    });
    // Synchronous burst: nothing reaches the disk until the event loop turns.
    for (let i = 0; i < 1_000; i++) log.maybeLog(() => record(i));
    expect(log.dropped).toBeGreaterThan(900);
    return log.close();
  });
});
