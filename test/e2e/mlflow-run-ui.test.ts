import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxiedArtifactPath } from '../../src/mlflow/artifact-path';
import { MlflowClient } from '../../src/mlflow/client';
import { recordEvidenceRun, type RecordEvidenceOutput } from '../../src/records/run-evidence';
import { evidenceState } from '../support/evidence-state';
import { stack } from '../support/stack';
import { expectVisible, launchChromium, screenshotDir } from './support/browser';

/**
 * Given an attempt's evidence recorded in the real MLflow server (a shadow, two canary steps with
 * tick-by-tick numbers, a rollback, hostile names), when a person opens the run in the MLflow UI and
 * the run's report.html in a browser, then they see the metrics charted per step, and a report whose
 * charts are all drawn and whose hostile text runs nothing.
 */
describe('MLflow UI – an attempt’s run shows its charts and its HTML report', () => {
  let browser: Browser;
  let client: MlflowClient;
  let run: RecordEvidenceOutput;
  const shots = screenshotDir();
  const model = `ui-evidence-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    client = MlflowClient.fromEnv({ MLFLOW_TRACKING_URI: stack.mlflowUri() });
    await client.createRegisteredModel(model);
    await client.createModelVersion(model, 's3://nowhere/model');
    run = await recordEvidenceRun(client, {
      state: evidenceState(model, '1'),
      workflowRunId: randomUUID(),
      spec: { seed: 42, bootstrapResamples: 1000, decisionThreshold: 0.5 },
      attempt: 1,
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    console.log(`[e2e] MLflow run screenshots in ${shots}`);
  });

  async function shoot(page: Page, name: string): Promise<void> {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`[e2e] screenshot ${path}`);
  }

  it('shows the run with its metrics, and charts of the canary per step and per tick', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
    const page = await context.newPage();
    try {
      await page.goto(run.url);
      await expectVisible(page, page.getByText(`${model} v1 #1`), 'the run name');
      await expectVisible(page, page.getByText('performance/auc ge 0.8/ci_lower'), 'a gate metric');
      await shoot(page, 'mlflow-run-overview');
      await page.getByRole('tab', { name: 'Model metrics' }).click();
      await expectVisible(page, page.getByText(/^live\/canary/).first(), 'the live canary chart section');
      await expectVisible(
        page,
        page.getByText(/^canary\/error rate increase/).first(),
        'the canary step charts',
      );
      await shoot(page, 'mlflow-run-metrics');
    } finally {
      await context.close();
    }
  });

  it('opens report.html: every chart drawn, nothing run', async () => {
    const dir = proxiedArtifactPath((await client.getRun(run.runId)).artifactUri);
    const html = (await client.downloadArtifact(`${dir}/report.html`)).toString();
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    try {
      await page.setContent(html, { waitUntil: 'load' });
      for (const selector of [
        'svg.gate-chart',
        'svg.fairness-chart',
        'svg.timeline-chart',
        'svg.tick-chart',
        'table.approvals',
      ])
        // SVG elements have no innerText, so wait for visibility directly.
        await page.locator(selector).first().waitFor({ state: 'visible', timeout: 30_000 });
      expect(await page.locator('svg.tick-chart').count()).toBe(2);
      // A vertical line has no area, so Playwright never calls it visible: count it instead.
      expect(await page.locator('svg.timeline-chart line.marker.rollback').count()).toBe(1);
      expect(await page.locator('script, img, iframe').count()).toBe(0);
      await shoot(page, 'report-html');
      expect(dialogs).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('about:') && !u.startsWith('data:'))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
