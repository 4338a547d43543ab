import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { connectClient } from '../../client/connect';
import { followPromotion, startPromotion, uiLink } from '../../client/promotions';
import { mlflowClient } from '../../config/mlflow';
import { temporalSettings } from '../../config/temporal';
import { resolvePeople, trustFromEnv } from '../../config/trust';
import { InvalidInputError } from '../../errors';
import { loadHoldout } from '../../evaluation/holdout';
import { findCandidate, type CandidateVersion } from '../../records/candidate';
import { loadSpec, resolveDatasetLocation } from '../../spec/load';
import type { PromotionSpec } from '../../spec/schema';
import { SpecError } from '../../spec/spec-error';
import { formatDuration } from '../../spec/units';
import { workflowIdFor, type PromotionInput, type PromotionState } from '../../promotion/state';
import { ExitCode } from '../exit-codes';
import { renderState } from '../render';
import { CliExit } from '../run';
import { canaryPlanFor } from '../canary-plan';
import { writeCiOutputs } from '../ci-outputs';
import { temporalUiBase } from '../ui-base';
import { describeResult, sendAction } from './control';

const Flags = z.object({
  spec: z.string({ error: '--spec <file> is required' }).min(1),
  version: z
    .string()
    .regex(/^[1-9]\d*$/, '--version must be a registry version number, e.g. 12')
    .optional(),
  wait: z.boolean().default(false),
  json: z.boolean().default(false),
  as: z.string().min(1).optional(),
  key: z.string().optional(),
  junit: z.string().min(1, '--junit needs a file name').optional(),
});

/** promoted → 0; rejected / rolled back / aborted → 1; failed → 3. */
export function exitCodeForOutcome(state: PromotionState): ExitCode {
  switch (state.outcome) {
    case 'promoted':
      return ExitCode.ok;
    case 'rejected':
    case 'rolled-back':
    case 'aborted':
      return ExitCode.rejected;
    default:
      // A spec naming people the worker's trust file does not trust: the caller's input, not the machine.
      return /^(IDENTITY_NOT_TRUSTED|TRUST_FILE_INVALID):/.test(state.reason ?? '')
        ? ExitCode.invalidInput
        : ExitCode.infrastructure;
  }
}

/**
 * Refuses up front (exit 2) a spec naming approvers or operators the trust file does not trust, when
 * this machine has the trust file too. The worker checks again at the start of the promotion with its
 * own file, which is the one that counts.
 */
async function checkTrustUpFront(spec: PromotionSpec): Promise<void> {
  if (spec.identity === 'unverified') return;
  const trust = await trustFromEnv();
  if (!trust) return;
  const pauseApprovers = (spec.canary?.steps ?? []).flatMap((s) =>
    'pause' in s && 'approvers' in s.pause ? s.pause.approvers : [],
  );
  resolvePeople(trust, {
    model: spec.model,
    approvers: [...new Set([...spec.approval.approvers, ...pauseApprovers])],
    operators: spec.operators,
  });
}

/**
 * A re-run after a success: the version is already champion, promoted by an earlier run. Nothing is
 * started and nothing is written; CI sees exit 0.
 */
function reportAlreadyPromoted(
  spec: PromotionSpec,
  candidate: CandidateVersion,
  promoted: NonNullable<CandidateVersion['alreadyPromoted']>,
  json: boolean,
): void {
  const workflowId = promoted.workflowId ?? workflowIdFor(spec.model, candidate.version);
  const link = uiLink(temporalUiBase(), temporalSettings().namespace, workflowId);
  const reason = `already promoted by run ${promoted.runId}`;
  if (json) {
    console.log(
      JSON.stringify({
        workflowId,
        runId: promoted.runId,
        started: false,
        outcome: 'promoted',
        alreadyPromoted: true,
        reason,
        ...(promoted.reportUri ? { reportUri: promoted.reportUri } : {}),
        link,
      }),
    );
    return;
  }
  console.log(
    `${spec.model} v${candidate.version} is @${spec.aliases.champion}: ${reason}; nothing started, nothing written`,
  );
  if (promoted.reportUri) console.log(`  report: ${promoted.reportUri}`);
  console.log(`  ${link}`);
}

/** Why a workflow whose promotion is final still shows Running, so nobody takes it for a hang. */
function retainingNote(spec: PromotionSpec, state: PromotionState): string | undefined {
  if (state.outcome !== 'promoted' || state.phase !== 'retaining') return undefined;
  const keep = formatDuration(spec.rollback.keepPreviousFor);
  return (
    `note: the promotion is final. Its workflow stays Running for rollback.keepPreviousFor (${keep}) ` +
    `to keep the previous champion loaded, so \`prograde rollback ${spec.model}\` is instant; then it ` +
    `releases it and completes.`
  );
}

/** True when some worker has polled the task queue recently; a promotion without one would wait silently. */
async function hasWorkflowPollers(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  try {
    const described = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (described.pollers ?? []).length > 0;
  } catch {
    return true; // no answer is no evidence; do not warn on a guess
  }
}

export function register(program: Command): void {
  program
    .command('promote')
    .description(
      'Validate the spec, start (or attach to) the promotion of a model version, optionally follow it',
    )
    .argument('[model@version]', 'with --full: the promotion to finish now')
    .option('-s, --spec <file>', 'promotion spec (promotion.yaml)')
    .option(
      '-v, --version <n>',
      "candidate version number in the MLflow registry (default: the version behind the spec's aliases.candidate)",
    )
    .option(
      '--full',
      'skip the remaining shadow/canary steps of a running promotion and promote now (signed with --key; needs --reason)',
    )
    .option('--reason <text>', 'with --full: why')
    .option('-w, --wait', 'follow the promotion to its end; exit code tells the outcome')
    .option('--json', 'print one JSON document (the final state with --wait)')
    .option('--junit <file>', 'with --wait: write each gate and check as a JUnit test case to <file>')
    .option(
      '--as <who>',
      'who requests the promotion (default: CI actor or user name); with --full, a typed name (identity: unverified only)',
    )
    .option(
      '--key <path>',
      'with --full: SSH ed25519 key to sign with (default $PROGRADE_SIGNING_KEY, ~/.ssh/id_ed25519)',
    )
    .addHelpText(
      'after',
      '\nA version that is already @champion, promoted by an earlier run, is not promoted again: exit 0, nothing written.' +
        '\nExit codes: 0 promoted (or started, or already promoted), 1 rejected/rolled back/aborted,' +
        '\n2 invalid input (spec, flags, a model, version or alias missing in MLflow), 3 infrastructure error.',
    )
    .action(async (ref: string | undefined, raw: { full?: boolean } & Record<string, unknown>) => {
      if (raw.full) {
        if (!ref)
          throw new InvalidInputError(
            'promote --full needs the promotion: prograde promote --full <model>@<version> --reason <text>',
          );
        const result = await sendAction(ref, 'promoteFull', {
          reason: raw['reason'],
          ...(raw['as'] === undefined ? {} : { as: raw['as'] }),
          ...(raw['key'] === undefined ? {} : { key: raw['key'] }),
        });
        console.log(describeResult('promote --full', result) + '; the remaining steps are skipped');
        return;
      }
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new InvalidInputError(parsed.error.issues.map((i) => i.message).join('; '));
      const flags = parsed.data;
      let loaded;
      try {
        loaded = await loadSpec(flags.spec);
      } catch (e) {
        if (e instanceof SpecError) {
          console.error(e.format());
          throw new CliExit(ExitCode.invalidInput);
        }
        throw e;
      }
      await checkTrustUpFront(loaded.spec);
      const dataset = resolveDatasetLocation(loaded.spec, loaded.baseDir);
      if (dataset.kind === 'file' && !existsSync(dataset.path)) {
        throw new InvalidInputError(
          `evaluation.dataset '${loaded.spec.evaluation.dataset}' not found (looked at ${dataset.path})`,
        );
      }
      // The registry is asked first, so a missing version is exit 2 and a re-run after a success is
      // exit 0, both before any workflow starts.
      const candidate = await findCandidate(mlflowClient(), {
        model: loaded.spec.model,
        aliases: loaded.spec.aliases,
        ...(flags.version === undefined ? {} : { version: flags.version }),
      });
      if (candidate.viaAlias && !flags.json)
        console.error(`@${candidate.viaAlias} is ${loaded.spec.model} v${candidate.version}`);
      if (candidate.alreadyPromoted) {
        reportAlreadyPromoted(loaded.spec, candidate, candidate.alreadyPromoted, flags.json);
        return;
      }
      // A local holdout is read here, as the worker will read it: a malformed file (labels that are not
      // 0/1, a missing value, a missing column) is exit 2 before any workflow starts or MLflow is written.
      if (dataset.kind === 'file') await loadHoldout(dataset.path, loaded.spec.evaluation, loaded.spec.task);
      // Sample-size planning before traffic moves (issue 10 §4): advice on stderr, never an error.
      if (!flags.json) for (const line of await canaryPlanFor(loaded.spec)) console.error(line);
      const input: PromotionInput = {
        spec: loaded.spec,
        specFile: loaded.file,
        specSha256: loaded.sha256,
        candidateVersion: candidate.version,
        dataset,
        requestedBy:
          flags.as ?? process.env.GITHUB_ACTOR ?? process.env.GITLAB_USER_LOGIN ?? userInfo().username,
      };
      const { client, settings, close } = await connectClient();
      try {
        const started = await startPromotion(client, input, settings.taskQueue);
        const link = uiLink(temporalUiBase(), settings.namespace, started.workflowId);
        const say = (line: string): void => {
          if (!flags.json) console.error(line);
        };
        say(`${started.started ? 'started' : 'attached to open'} ${started.workflowId}\n  ${link}`);
        if (!(await hasWorkflowPollers(client, settings.namespace, settings.taskQueue))) {
          say(
            `warning: no worker is polling task queue '${settings.taskQueue}'; the promotion waits until one runs (\`prograde worker\`)`,
          );
        }
        if (!flags.wait) {
          if (flags.json)
            console.log(
              JSON.stringify({
                workflowId: started.workflowId,
                runId: started.runId,
                started: started.started,
                link,
              }),
            );
          return;
        }
        const live = process.stderr.isTTY && !flags.json && !process.env.CI;
        let drawn = 0;
        let printed = 0;
        const final = await followPromotion(started.handle, (state) => {
          if (flags.json) return;
          const text = renderState(state);
          if (live) {
            // Redraw in place: move up over the previous frame and clear it.
            if (drawn > 0) process.stderr.write(`\x1b[${drawn}A\x1b[0J`);
            process.stderr.write(`${text}\n`);
            drawn = text.split('\n').length;
          } else {
            // Plain lines for CI logs: every audit entry once, in order (polls can skip phases).
            for (const a of state.audit.slice(printed))
              console.error(`[${state.phase}] ${a.kind}: ${a.message}`);
            printed = state.audit.length;
          }
        });
        // CI-native output: JUnit for any CI, the job summary on GitHub Actions (GITHUB_STEP_SUMMARY).
        writeCiOutputs(final, {
          ...(flags.junit ? { junit: flags.junit } : {}),
          ...(process.env.GITHUB_STEP_SUMMARY ? { stepSummary: process.env.GITHUB_STEP_SUMMARY } : {}),
          temporalLink: link,
        });
        const note = retainingNote(loaded.spec, final);
        if (flags.json) console.log(JSON.stringify({ ...final, link, ...(note ? { note } : {}) }, null, 2));
        else {
          console.log(`\n${renderState(final, link)}`);
          if (note) console.log(note);
        }
        throw new CliExit(exitCodeForOutcome(final));
      } finally {
        await close();
      }
    });
}
