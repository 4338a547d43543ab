import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, startPromotion } from '../../src/client/promotions';
import type { PromotionState } from '../../src/promotion/state';
import { metricKey } from '../../src/records/run-metrics';
import { RUN_TAG, VERSION_RUN_TAG } from '../../src/records/run-evidence';
import { writeDatasetCsv } from '../../src/samples/datasets';
import type { GatewayHandle } from '../../src/serving/server';
import type { PromotionSpecInput } from '../../src/spec/schema';
import type { Harness } from '../support/harness';
import {
  backgroundTraffic,
  cleanRows,
  liveSpec,
  nanTriggeringRows,
  servedChampion,
  startWorkerAndGateway,
  stopWorkerAndGateway,
} from '../support/live';
import { untilStatus } from '../support/wait';
import { expectVisible, launchChromium, screenshotDir } from './support/browser';

/**
 * Given a real promotion on the test stack — a gateway serving the champion under live traffic, a
 * worker running the workflow on the Temporal dev server, the real MLflow server — whose candidate
 * passes the offline gates (performance and fairness), is approved, passes shadow and the first canary
 * step, and then answers NaN for a new segment at the second step and is rolled back, when a person
 * opens the attempt's MLflow run in the MLflow UI, then they see its metrics, the canary's step metrics
 * drawn as charts, and a report.html (opened from the UI's Artifacts tab) with every chart of the
 * attempt: gates against thresholds with intervals, fairness by group, the timeline with its steps,
 * verdicts and rollback, the judgements tick by tick, and who approved, when and why.
 */
describe('MLflow UI – the evidence of a live promotion (shadow, canary, rollback)', () => {
  let h: Harness;
  let gateway: GatewayHandle;
  let browser: Browser;
  let final: PromotionState;
  let model: string;
  const shots = screenshotDir();

  beforeAll(async () => {
    [{ h, gateway }, browser] = await Promise.all([startWorkerAndGateway(), launchChromium()]);
    const served = await servedChampion(h, gateway, 'ui-live');
    model = served.model;
    // Good on the usual customers; NaN for a new segment that only live traffic brings.
    const candidate = await h.register(model, 'nan');
    const holdout = join(h.dir, 'holdout-usual.csv');
    await writeDatasetCsv(cleanRows(1500, 41), holdout);
    const spec = evidenceSpec(model, gateway.url);
    const usual = backgroundTraffic(gateway, model, cleanRows(3000, 42), 40);
    let segment: ReturnType<typeof backgroundTraffic> | undefined;
    try {
      const { handle } = await startPromotion(
        h.client,
        h.input(spec, candidate, { kind: 'file', path: holdout }),
        h.taskQueue,
      );
      await untilStatus(handle, (s) => s.phase === 'approval', 'the approval');
      await decide(handle, 'approve', { approver: 'alice', reason: 'offline gates and fairness reviewed' });
      await untilStatus(
        handle,
        (s) => s.phase === 'canary' && (s.live?.weight ?? 0) === 50 && /bake/.test(s.waitingFor ?? ''),
        'the second canary step (50%) baking',
        180_000,
      );
      segment = backgroundTraffic(gateway, model, nanTriggeringRows(3000, 43), 40);
      final = await handle.result();
    } finally {
      await Promise.all([usual.stop(), segment?.stop()]);
    }
    console.log(
      `[e2e] live promotion ${final.workflowId}: ${final.outcome} (${final.reason ?? ''}); run ${final.evidenceRun?.url ?? 'none'}`,
    );
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await stopWorkerAndGateway(h, gateway);
    console.log(`[e2e] live evidence screenshots in ${shots}`);
  });

  async function shoot(page: Page, name: string): Promise<void> {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`[e2e] screenshot ${path}`);
  }

  /** The canary verdicts' checks, and the live watches' judgements, the run must carry. */
  function canaryEvidence(): { check: string; ticks: number } {
    const canary = final.gates.filter((g) => g.gate === 'canary');
    const check = canary[0]?.checks[0]?.name;
    if (!check) throw new Error(`no canary check in ${JSON.stringify(final.gates.map((g) => g.gate))}`);
    return { check, ticks: final.gates.reduce((n, g) => n + (g.ticks?.length ?? 0), 0) };
  }

  it('ran for real: gates, approval, shadow, two canary steps, rollback, and one run linked both ways', async () => {
    expect(final.outcome, final.reason).toBe('rolled-back');
    expect(final.gates.map((g) => `${g.gate}:${g.status}`)).toEqual([
      'format:passed',
      'performance:passed',
      'fairness:passed',
      'shadow:passed',
      'canary:passed',
      'canary:failed',
    ]);
    expect(final.approval.decision).toMatchObject({ by: 'alice', decision: 'approve' });
    expect(final.audit.some((a) => a.kind === 'routing' && /rollback to/.test(a.message))).toBe(true);
    const evidence = final.evidenceRun;
    expect(evidence?.url).toMatch(/#\/experiments\/\d+\/runs\/[0-9a-f]{32}$/);

    const run = await h.mlflow.getRun(evidence?.runId ?? '');
    expect(run.tags[RUN_TAG.workflowId]).toBe(final.workflowId);
    expect(run.tags[RUN_TAG.outcome]).toBe('rolled-back');
    expect(run.status).toBe('FAILED');
    const version = await h.mlflow.getModelVersion(model, final.candidate.version);
    expect(version.tags[VERSION_RUN_TAG]).toBe(evidence?.runId);

    // Metrics: the canary check per step (one point per canary verdict), the judgements per tick.
    const { check, ticks } = canaryEvidence();
    const perStep = await h.mlflow.getMetricHistory(run.runId, metricKey('canary', check, 'value'));
    expect(perStep.map((p) => p.step).sort()).toEqual([0, 1]);
    const weights = await h.mlflow.getMetricHistory(run.runId, 'live/candidate_weight');
    expect(weights.length).toBe(ticks);
    // Shadow judgements at weight 0, then the canary's at 20 and at 50.
    expect(new Set(weights.map((p) => p.value))).toEqual(new Set([0, 20, 50]));
    const canaryErrors = await h.mlflow.getMetricHistory(run.runId, 'live/canary/error_rate');
    expect(Math.max(...canaryErrors.map((p) => p.value))).toBeGreaterThan(0);
    console.log(
      `[e2e] run ${run.runId}: ${Object.keys(run.metrics).length} metric keys, ${ticks} judgements charted, canary check '${check}'`,
    );
  });

  it('the MLflow UI shows the run, its metrics, and the canary charts per step and per tick', async () => {
    const { check } = canaryEvidence();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
    const page = await context.newPage();
    try {
      await page.goto(final.evidenceRun?.url ?? '');
      await expectVisible(page, page.getByText(`${model} v${final.candidate.version} #1`), 'the run name');
      await expectVisible(page, page.getByText(metricKey('canary', check, 'value')), 'a canary metric');
      await shoot(page, 'live-run-overview');

      await page.getByRole('tab', { name: 'Model metrics' }).click();
      // The UI groups charts in sections by the key's prefix (`live/canary` → error_rate, latency_p99_ms…)
      // and draws a chart only once it scrolls into view: searching a key leaves its chart alone on top.
      // The search box takes input once the metric histories are in (slow on a loaded machine).
      await expectVisible(
        page,
        page.getByTestId('experiment-view-compare-runs-card'),
        'the first chart',
        90_000,
      );
      const search = page.getByPlaceholder('Search metric charts');
      let traces = 0;
      for (const [key, shot] of [
        ['live/canary/error_rate', 'live-run-canary-error-rate-per-tick'],
        ['live/canary/latency_p99_ms', undefined],
        ['live/candidate_weight', 'live-run-candidate-weight-per-tick'],
        [metricKey('canary', check, 'value'), 'live-run-canary-check-per-step'],
      ] as const) {
        await search.fill(key, { timeout: 60_000 });
        traces += await expectChartDrawn(page, key);
        if (shot) await shoot(page, shot);
      }
      console.log(`[e2e] model metrics tab: ${traces} plotted traces`);
    } finally {
      await context.close();
    }
    // Loaded, a 2-core machine takes minutes here (145 s at load 40): MLflow fetches every metric's
    // history before it draws. No timing is asserted.
  }, 300_000);

  it('opens report.html from the Artifacts tab: gates, fairness, timeline, ticks and approvals drawn', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1100 }, locale: 'en-US' });
    const page = await context.newPage();
    try {
      await page.goto(final.evidenceRun?.url ?? '');
      await page.getByRole('tab', { name: 'Artifacts' }).click();
      await page.getByText('report.html', { exact: true }).first().click();
      const report = await reportFrame(page);
      for (const selector of [
        'svg.gate-chart line.threshold',
        'svg.gate-chart line.ci',
        'svg.fairness-chart rect.candidate',
        'svg.fairness-chart line.base-rate',
        'svg.timeline-chart path.weight',
        'svg.timeline-chart circle.verdict',
        'svg.tick-chart path.series',
        'table.groups',
        'table.approvals',
      ])
        await report.locator(selector).first().waitFor({ state: 'attached', timeout: 30_000 });
      await shoot(page, 'live-report-in-mlflow-ui');

      // The live verdicts as dots: shadow and the two canary steps, the last one failed.
      const live = final.gates.filter((g) => g.gate === 'shadow' || g.gate === 'canary');
      expect(await report.locator('svg.timeline-chart circle.verdict').count()).toBe(live.length);
      expect(await report.locator('svg.timeline-chart circle.verdict.failed').count()).toBe(1);
      // A vertical line has no area, so Playwright never calls it visible: count it instead.
      expect(await report.locator('svg.timeline-chart line.marker.rollback').count()).toBe(1);
      // Fairness by group: one row per group of the sensitive column, with its size and base rate.
      const groups = final.gates.find((g) => g.gate === 'fairness')?.groups?.[0]?.groups ?? [];
      expect(groups.length).toBeGreaterThan(1);
      expect(await report.locator('svg.fairness-chart line.base-rate').count()).toBe(groups.length);
      const groupsText = await report.locator('table.groups').first().innerText();
      for (const g of groups) expect(groupsText).toContain(String(g.rows));
      // The steps and their weights in the timeline table, the approval with who, when and why.
      const timelineText = await report.locator('table.timeline').innerText();
      for (const w of ['weight 20%', 'weight 50%', 'rollback:']) expect(timelineText).toContain(w);
      const approvals = await report.locator('table.approvals').innerText();
      expect(approvals).toContain('alice');
      expect(approvals).toContain('offline gates and fairness reviewed');
      expect(approvals).toContain(final.approval.decision?.at.slice(0, 16) ?? 'no decision time');

      // The same page alone, full length (the UI's frame shows only its top).
      const html = await report.content();
      const alone = await context.newPage();
      await alone.setContent(html, { waitUntil: 'load' });
      await shoot(alone, 'live-report-html');
      writeFileSync(join(shots, 'live-report.html'), html);
    } finally {
      await context.close();
    }
    // A loaded 2-core machine takes tens of seconds to draw MLflow's charts; no timing is asserted.
  }, 180_000);
});

/**
 * With the metrics tab searched for `key`, its chart (titled with the key's last part) shows a plotted line: plotly's SVG
 * trace with a non-empty path. Returns how many traces it drew.
 */
async function expectChartDrawn(page: Page, key: string): Promise<number> {
  const title = key.split('/').at(-1) ?? key;
  const card = page
    .getByTestId('experiment-view-compare-runs-card')
    .filter({ has: page.getByText(title, { exact: true }) })
    .first();
  await expectVisible(page, card, `the chart of ${key}`);
  const line = card.locator('.js-plotly-plot .scatterlayer .trace path.js-line').first();
  await line.waitFor({ state: 'attached', timeout: 30_000 });
  expect(await line.getAttribute('d'), `${key} drawn`).toMatch(/^M[\d.]+,[\d.]+L/);
  return card.locator('.js-plotly-plot .scatterlayer .trace').count();
}

/** The frame the MLflow UI renders an HTML artifact in, once our report is in it. */
async function reportFrame(page: Page): Promise<Frame> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const frame of page.frames())
      if (
        (await frame
          .locator('#title')
          .count()
          .catch(() => 0)) > 0
      )
        return frame;
    await page.waitForTimeout(250);
  }
  throw new Error(`the MLflow UI at ${page.url()} showed no frame with report.html`);
}

/**
 * The test spec: offline performance and fairness gates, an approval, a short shadow, a canary of
 * 20 % for a 3 s bake then 50 % for up to a minute (the rollback ends it well before).
 */
function evidenceSpec(model: string, gatewayUrl: string): PromotionSpecInput {
  // The candidate's extra ops (the NaN segment) cost it ~0.04 ms a run on ~0.12 ms, a real 1.3× ratio that
  // rolled it back in the first step before the latency margin had its absolute part (0.5 ms by default).
  const spec = liveSpec(model, gatewayUrl, { weights: [20, 50], bake: '3s' });
  const canary = spec.canary;
  if (!canary) throw new Error('liveSpec has a canary');
  return {
    ...spec,
    gates: {
      performance: [{ metric: 'auc', min: 0.7 }],
      fairness: { minGroupSize: 30, checks: [{ metric: 'demographic_parity_ratio', min: 0.8 }] },
    },
    approval: { required: true, approvers: ['alice', 'bob'] },
    canary: {
      ...canary,
      steps: [{ setWeight: 20 }, { bake: '3s' }, { setWeight: 50 }, { bake: '60s' }],
    },
  };
}
