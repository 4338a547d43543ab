import { describe, expect, it } from 'vitest';
import type { TrafficSummary } from '../../src/traffic/run';
import { trafficVerdict } from '../../src/traffic/verdict';

function summary(byStatus: Record<string, number>): TrafficSummary {
  const count = (pred: (k: string) => boolean): number =>
    Object.entries(byStatus)
      .filter(([k]) => pred(k))
      .reduce((a, [, v]) => a + v, 0);
  const ok = count((k) => k.startsWith('2'));
  const aborted = count((k) => k === 'aborted');
  const errors = count((k) => !k.startsWith('2') && k !== 'aborted');
  return {
    target: 'http://127.0.0.1:8080',
    model: 'm',
    protocol: 'v2',
    planned: ok + errors + aborted,
    sent: ok + errors + aborted,
    skipped: 0,
    ok,
    errors,
    aborted,
    byStatus,
    topErrors: Object.entries(byStatus)
      .filter(([k]) => !k.startsWith('2') && k !== 'aborted')
      .map(([status, n]) => ({ status, message: `error ${status}`, count: n })),
    byVariant: {},
    byVersion: {},
    latencyMs: undefined,
    timeline: [],
    elapsedMs: 1000,
    stoppedEarly: aborted > 0,
  };
}

describe('traffic verdict (the CLI exit code follows it)', () => {
  it('all answered with errors: all-failed, naming the statuses and messages', () => {
    const v = trafficVerdict(summary({ '400': 150 }));
    expect(v).toEqual({ kind: 'all-failed', message: 'all 150 requests failed (150× 400: error 400)' });
  });

  it('no answer at all: unreachable; some answered with errors and the rest unanswered: all-failed', () => {
    expect(trafficVerdict(summary({ network: 20 })).kind).toBe('unreachable');
    expect(trafficVerdict(summary({ network: 5, '503': 15 })).kind).toBe('all-failed');
  });

  it('warns when most requests failed, and not at exactly half', () => {
    expect(trafficVerdict(summary({ '200': 1, '400': 9 }))).toEqual({
      kind: 'ok',
      warning: '9 of 10 requests failed (9× 400: error 400)',
    });
    expect(trafficVerdict(summary({ '200': 5, '502': 5 }))).toEqual({ kind: 'ok' });
    expect(trafficVerdict(summary({ '200': 10 }))).toEqual({ kind: 'ok' });
  });

  it('does not count requests we aborted ourselves, nor judge a run that sent nothing', () => {
    expect(trafficVerdict(summary({ '200': 3, aborted: 40 }))).toEqual({ kind: 'ok' });
    expect(trafficVerdict(summary({ aborted: 4 }))).toEqual({ kind: 'ok' });
    expect(trafficVerdict(summary({}))).toEqual({ kind: 'ok' });
  });
});
