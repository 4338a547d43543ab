import type { Command } from 'commander';
import { connectClient } from '../../client/connect';
import { promotionHandle, promotionStatus, uiLink } from '../../client/promotions';
import { mlflowClient } from '../../config/mlflow';
import { messageOf } from '../../errors';
import { attemptsOf, type Attempt } from '../../records/attempts';
import { canaryPlanFor, startedSpec } from '../canary-plan';
import { parseModelRef } from '../model-ref';
import { renderState } from '../render';
import { temporalUiBase } from '../ui-base';

/** Phases after which the canary plan no longer helps anyone. */
const AFTER_CANARY: ReadonlySet<string> = new Set([
  'promoting',
  'rolling-back',
  'recording',
  'retaining',
  'done',
]);

/** Every attempt on the version as its MLflow tags record them; the workflow shows only its latest run. */
async function attemptsInRegistry(
  model: string,
  version: string,
): Promise<{ attempts?: Attempt[]; attemptsError?: string }> {
  try {
    const mv = await mlflowClient().getModelVersion(model, version);
    return { attempts: attemptsOf(mv.tags) };
  } catch (e) {
    return { attemptsError: messageOf(e) };
  }
}

export function register(program: Command): void {
  program
    .command('status <model@version>')
    .description('Show the full state of a promotion (gates, evidence, approval, audit)')
    .option('--json', 'print the state as JSON')
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { model, version } = parseModelRef(ref);
      const { client, settings, close } = await connectClient();
      try {
        const handle = promotionHandle(client, model, version);
        const state = await promotionStatus(handle);
        const link = uiLink(temporalUiBase(), settings.namespace, handle.workflowId);
        const attempts = await attemptsInRegistry(model, version);
        if (opts.json) {
          console.log(JSON.stringify({ ...state, link, ...attempts }, null, 2));
          return;
        }
        console.log(renderState(state, link));
        if (attempts.attempts && attempts.attempts.length > 0) {
          console.log(`  attempts on v${version} (MLflow):`);
          for (const a of attempts.attempts)
            console.log(`    #${a.attempt} ${a.outcome.padEnd(11)} run ${a.runId}  ${a.report}`);
        }
        if (attempts.attemptsError)
          console.log(`  attempts: not read from MLflow (${attempts.attemptsError})`);
        // While traffic has still to move or is moving: how long each canary step will likely need.
        if (state.outcome === undefined && !AFTER_CANARY.has(state.phase)) {
          const spec = await startedSpec(handle).catch(() => undefined);
          if (spec) for (const line of await canaryPlanFor(spec)) console.log(`  ${line}`);
        }
      } finally {
        await close();
      }
    });

  program
    .command('list')
    .description('List promotions, newest first')
    .option('-m, --model <name>', 'only this model')
    .option('--open', 'only promotions still running')
    .option('-n, --limit <n>', 'at most this many', '20')
    .option('--json', 'print JSON')
    .action(async (opts: { model?: string; open?: boolean; limit: string; json?: boolean }) => {
      const clauses = ["WorkflowType = 'promoteModel'"];
      if (opts.model) clauses.push(`ProgradeModel = '${opts.model.replace(/'/g, "\\'")}'`);
      if (opts.open) clauses.push("ExecutionStatus = 'Running'");
      const limit = Math.max(1, Number.parseInt(opts.limit, 10) || 20);
      const { client, close } = await connectClient();
      try {
        const rows: {
          workflowId: string;
          status: string;
          phase: string;
          outcome: string;
          started: string;
        }[] = [];
        for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
          const attr = (k: string): string => {
            const v = wf.searchAttributes[k];
            return Array.isArray(v) && v.length > 0 ? String(v[0]) : '';
          };
          rows.push({
            workflowId: wf.workflowId,
            status: wf.status.name,
            phase: attr('ProgradePhase'),
            outcome: attr('ProgradeOutcome'),
            started: wf.startTime.toISOString(),
          });
          if (rows.length >= limit) break;
        }
        if (opts.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no promotions found');
        else
          for (const r of rows)
            console.log(
              `${r.started}  ${r.status.padEnd(10)} ${(r.outcome || r.phase).padEnd(12)} ${r.workflowId}`,
            );
      } finally {
        await close();
      }
    });
}
