import { describe, expect, it } from 'vitest';
import { metricKey, runLog } from '../../src/records/run-metrics';
import { renderHtml } from '../../src/report/html';
import { buildReport } from '../../src/report/report';
import { rolloutTimeline, weightOf } from '../../src/report/rollout-timeline';
import { evidenceState, HOSTILE } from '../support/evidence-state';

const SPEC = { seed: 42, bootstrapResamples: 1000, decisionThreshold: 0.5 };

describe('HTML report – self-contained and inert', () => {
  const report = buildReport(evidenceState(`fraud ${HOSTILE}`, '2'), 'run-1');
  const html = renderHtml(report, {
    mlflowRun: 'http://127.0.0.1:5000/#/experiments/1/runs/abc',
    temporal: 'javascript:alert(1)',
  });

  it('escapes every piece of user text: no tag, handler or script survives', () => {
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<[a-z][^>]*\son[a-z]+=/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).not.toContain('\u0000');
    expect(html).not.toContain('href="javascript:');
  });

  it('loads nothing from elsewhere and forbids scripts by policy', () => {
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'`);
    expect(html).not.toMatch(/\b(src|href)="https?:\/\/(?!127\.0\.0\.1)/);
    expect(html).not.toMatch(/<link\b/);
  });

  it('draws each gate against its threshold with its interval, fairness by group, the timeline and approvals', () => {
    expect(html).toContain('class="gate-chart gate-performance"');
    expect(html.match(/<line class="threshold"/g)?.length).toBeGreaterThanOrEqual(4);
    expect(html.match(/<line class="ci"/g)?.length).toBeGreaterThanOrEqual(3);
    expect(html).toContain('class="fairness-chart"');
    expect(html.match(/<line class="base-rate"/g)).toHaveLength(2);
    expect(html).toContain('n=900');
    expect(html).toContain('class="timeline-chart"');
    expect(html.match(/<circle class="verdict (passed|failed)"/g)).toHaveLength(3);
    expect(html).toContain('class="marker rollback"');
    expect(html).toContain('class="approvals"');
    expect(html).toContain('risk-officer &lt;script&gt;');
    // Tick by tick: error rate and p99 per variant.
    expect(html.match(/<svg class="tick-chart"/g)).toHaveLength(2);
    expect(html).toContain('3 ticks');
  });
});

describe('rollout timeline – read from the routing entries the workflow writes', () => {
  it('reads the weight of each routing form in src/workflows/live.ts', () => {
    expect(weightOf('g2: canary v7 at 20% (step 1)', '7')).toBe(20);
    expect(weightOf('g1: shadow v7 at 50% beside stable v6', '7')).toBe(0);
    expect(weightOf('g5: stable v7 at 100%; previous champion v6 kept loaded', '7')).toBe(100);
    expect(weightOf('g5: rollback to v6: error rate up', '7')).toBe(0);
    expect(weightOf('g6: release the previous champion', '7')).toBeUndefined();
  });

  it('places each live verdict at the weight it was judged at, and the rollback', () => {
    const t = rolloutTimeline(buildReport(evidenceState('m', '2'), 'r'));
    expect(t.verdicts.map((v) => [v.gate, v.status, v.weight])).toEqual([
      ['shadow', 'passed', 0],
      ['canary', 'passed', 20],
      ['canary', 'failed', 50],
    ]);
    expect(t.markers.map((m) => m.kind)).toEqual(['rollback']);
  });
});

describe('run log – params and metrics of an attempt', () => {
  const log = runLog(evidenceState('m', '2'), SPEC, 0);
  const keys = new Set(log.metrics.map((m) => m.key));

  it('logs the spec sha256, seeds and every threshold as params', () => {
    expect(log.params['spec.sha256']).toBe('f'.repeat(64));
    expect(log.params['evaluation.seed']).toBe('42');
    expect(log.params['threshold/performance/auc ge 0.8']).toBe('>= 0.8');
    expect(log.params['threshold/canary/error rate increase']).toBe('<= 0.02');
  });

  it('logs each check’s value, interval and evidence, and the fairness groups', () => {
    for (const k of [
      'value',
      'threshold',
      'ci_lower',
      'ci_upper',
      'n',
      'evidence.champion',
      'evidence.difference',
    ])
      expect(keys).toContain(`performance/auc ge 0.8/${k}`);
    expect(keys).toContain('fairness/groups/gender/m/base_rate');
    expect(keys).toContain('fairness/groups/gender/m/champion_selection_rate');
  });

  it('logs canary checks as step metrics, one step per canary verdict, at fixed times', () => {
    const canary = log.metrics.filter((m) => m.key === 'canary/error rate increase/value');
    expect(canary.map((m) => [m.step, m.value])).toEqual([
      [0, 0.002],
      [1, 0.09],
    ]);
    expect(runLog(evidenceState('m', '2'), SPEC, 123).metrics).toEqual(log.metrics);
  });

  it('logs the live timeline as step metrics: per variant and tick, at the tick’s time, with the weight', () => {
    const canary = log.metrics.filter((m) => m.key === 'live/canary/error_rate');
    expect(canary.map((m) => [m.step, Number(m.value.toFixed(6))])).toEqual([
      [0, 0.011],
      [1, 0.012],
      [2, 0.013],
    ]);
    expect(new Set(canary.map((m) => m.timestamp)).size).toBe(3);
    expect(keys).toContain('live/stable/latency_p99_ms');
    expect(keys).toContain('live/canary/error rate increase');
    expect(log.metrics.filter((m) => m.key === 'live/candidate_weight').map((m) => m.value)).toEqual([
      20, 20, 20,
    ]);
  });

  it('keeps every key within what MLflow accepts', () => {
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_\-.: /]{1,250}$/);
    expect(metricKey('a<b>', 'c"d')).toBe('a_b_/c_d');
  });
});
