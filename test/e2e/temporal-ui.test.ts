import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, startPromotion, uiLink } from '../../src/client/promotions';
import { createHarness, sampleSpec, uniqueModel, type Harness } from '../support/harness';
import { stack } from '../support/stack';
import { eventually, untilStatus } from '../support/wait';
import { expectVisible, launchChromium, screenshotDir, uiContext } from './support/browser';

const SEARCH_ATTRIBUTE_COLUMNS = ['ProgradeModel', 'ProgradeVersion', 'ProgradePhase', 'ProgradeOutcome'];

/**
 * Given a real Temporal dev server with its Web UI and a real MLflow registry, when a promotion runs,
 * then an operator who opens the Temporal UI in a browser can tell what is being promoted, by whom,
 * where it stands and which gate ran — without reading raw event payloads.
 */
describe('Temporal Web UI – a promotion is inspectable', () => {
  let h: Harness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const shots = screenshotDir();
  const namespace = stack.temporalNamespace();
  const uiBase = (): string => stack.temporalUiUrl();

  beforeAll(async () => {
    if (!uiBase())
      throw new Error('the test stack started Temporal without its Web UI (temporalUiUrl is empty)');
    h = await createHarness();
    await h.startWorker();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    console.log(`[e2e] Temporal UI screenshots in ${shots}`);
  });

  async function openPage(): Promise<Page> {
    context = await uiContext(browser, { namespace, extraWorkflowColumns: SEARCH_ATTRIBUTE_COLUMNS });
    page = await context.newPage();
    return page;
  }
  async function closePage(): Promise<void> {
    await context?.close();
  }

  /** Cell texts of one workflow-list row, keyed by column label. */
  async function listRow(workflowId: string): Promise<Record<string, string>> {
    const row = page.getByTestId('workflows-summary-configurable-table-row').filter({ hasText: workflowId });
    await expectVisible(page, row, `a workflow-list row for ${workflowId}`);
    // Column headers carry their label in a test id (temporalio/ui table-header-cell.svelte).
    const headerPrefix = 'workflows-summary-table-header-cell-';
    const headers = await page.locator(`th[data-testid^="${headerPrefix}"]`).all();
    const labels: string[] = [];
    for (const th of headers)
      labels.push(((await th.getAttribute('data-testid')) ?? '').slice(headerPrefix.length));
    const cells = await row.first().getByTestId('workflows-summary-table-body-cell').allInnerTexts();
    expect(cells, 'one cell per column header').toHaveLength(labels.length);
    return Object.fromEntries(labels.map((label, i): [string, string] => [label, (cells[i] ?? '').trim()]));
  }

  async function shoot(name: string): Promise<string> {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`[e2e] screenshot ${path}`);
    return path;
  }

  async function openList(model: string): Promise<void> {
    const query = encodeURIComponent(`ProgradeModel = "${model}"`);
    await page.goto(`${uiBase()}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${query}`);
  }

  it('shows a finished promotion with its search attributes, summary, details and gate activities', async () => {
    const model = uniqueModel('ui-promoted');
    const version = await h.register(model, 'good');
    const { handle, workflowId, runId } = await startPromotion(
      h.client,
      h.input(sampleSpec(model), version),
      h.taskQueue,
    );
    expect((await handle.result()).outcome).toBe('promoted');
    // The UI lists from the visibility store, which trails the run by a moment; wait for it here so a
    // failure below is the UI's, not visibility's.
    await eventually('visibility to index the outcome', async () => {
      for await (const wf of h.client.workflow.list({
        query: `WorkflowId = "${workflowId}" AND ProgradeOutcome = "promoted"`,
      })) {
        return wf.workflowId;
      }
      return undefined;
    });
    await openPage();
    try {
      // 1. The workflow list, filtered by a search attribute, shows all four as columns.
      await openList(model);
      const row = await listRow(workflowId);
      expect(row).toMatchObject({
        'Workflow ID': workflowId,
        ProgradeModel: model,
        ProgradeVersion: version,
        ProgradePhase: 'done',
        ProgradeOutcome: 'promoted',
      });
      expect(row.Status).toMatch(/completed/i);
      await shoot('1-list-promoted');

      // 2. The link prograde prints lands on the run; its timeline names each gate activity.
      await page.goto(uiLink(uiBase(), namespace, workflowId));
      await expectVisible(page, page.getByText(workflowId, { exact: true }), `the workflow id ${workflowId}`);
      expect(decodeURIComponent(page.url())).toContain(`/workflows/${workflowId}/${runId}`);
      for (const summary of ['format gate', 'performance gate', 'fairness gate', 'latency gate']) {
        await expectVisible(
          page,
          page.getByText(new RegExp(`• ${summary}$`)),
          `the activity summary "${summary}" in the timeline`,
        );
      }
      await expectVisible(page, page.getByText(/• record outcome: promoted$/), 'the record-outcome activity');
      await shoot('2-timeline-promoted');

      // 3. User metadata: static summary and details set at start, current details set by the workflow.
      await page.goto(`${uiLink(uiBase(), namespace, workflowId)}/${runId}/user-metadata`);
      const summary = await expectVisible(
        page,
        page
          .frameLocator('#user-metadata-summary')
          .getByText(`Promote ${model} v${version} (requested by vitest)`),
        `the static summary "Promote ${model} v${version} (requested by vitest)"`,
      );
      expect(summary).toContain(model);
      await expectVisible(
        page,
        page.frameLocator('#user-metadata-details').getByText('Approval: not required'),
        'the static details (approval line)',
      );
      const current = page.frameLocator('#user-metadata-current-details');
      await expectVisible(
        page,
        current.getByText(`${model} v${version} (no champion yet)`),
        'the current-details headline',
      );
      await expectVisible(
        page,
        current.getByText('Phase: done — outcome promoted'),
        'the final phase and outcome',
      );
      await expectVisible(page, current.getByText(/^performance: passed — /), 'the performance gate line');
      await shoot('3-user-metadata-promoted');
    } finally {
      await closePage();
    }
  }, 240_000);

  it('shows a promotion waiting for approval: who may approve, in its current details and phase', async () => {
    const model = uniqueModel('ui-approval');
    const version = await h.register(model, 'good');
    const spec = sampleSpec(model, {
      gates: { performance: [{ metric: 'auc', min: 0.7 }] },
      approval: { required: true, approvers: ['alice'], timeout: '1h', onTimeout: 'reject' },
    });
    const { handle, workflowId, runId } = await startPromotion(h.client, h.input(spec, version), h.taskQueue);
    try {
      await untilStatus(handle, (s) => s.phase === 'approval', 'phase approval');
      await eventually('visibility to index phase approval', async () => {
        for await (const wf of h.client.workflow.list({
          query: `WorkflowId = "${workflowId}" AND ProgradePhase = "approval"`,
        })) {
          return wf.workflowId;
        }
        return undefined;
      });
      await openPage();

      await openList(model);
      const row = await listRow(workflowId);
      expect(row).toMatchObject({
        ProgradeModel: model,
        ProgradeVersion: version,
        ProgradePhase: 'approval',
      });
      expect(row.Status).toMatch(/running/i);
      expect(row.ProgradeOutcome ?? '').toBe('');
      await shoot('4-list-approval');

      await page.goto(`${uiLink(uiBase(), namespace, workflowId)}/${runId}/user-metadata`);
      await expectVisible(
        page,
        page.frameLocator('#user-metadata-details').getByText('Approval: alice'),
        'the static details naming the approvers',
      );
      const current = page.frameLocator('#user-metadata-current-details');
      await expectVisible(page, current.getByText('Phase: approval'), 'the current phase "approval"');
      await expectVisible(
        page,
        current.getByText(/^Waiting for: approval by one of alice until \d{4}-\d\d-\d\dT/),
        'what the promotion waits for (approval by alice, with a deadline)',
      );
      await shoot('5-user-metadata-approval');

      await page.goto(`${uiLink(uiBase(), namespace, workflowId)}/${runId}/timeline`);
      await expectVisible(
        page,
        page.getByText(/wait for approval \(alice\)/),
        'the approval timer summary "wait for approval (alice)" in the timeline',
      );
      await shoot('6-timeline-approval');
    } finally {
      await closePage();
      await decide(handle, 'reject', { approver: 'alice', reason: 'end of the UI test' }).catch(
        () => undefined,
      );
      await handle.result().catch(() => undefined);
    }
  }, 240_000);
});
