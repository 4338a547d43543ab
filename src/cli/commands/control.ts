import type { Command } from 'commander';
import { z } from 'zod';
import { connectClient } from '../../client/connect';
import { currentRunId, decide, operate, promotionHandle } from '../../client/promotions';
import { signDecision, signingKeyPath, SIGNING_KEY_ENV } from '../../client/signing';
import { InvalidInputError } from '../../errors';
import type { OperatorAction, PromotionState } from '../../promotion/state';
import { parseModelRef } from '../model-ref';

const Flags = z.object({
  as: z.string().trim().min(1, '--as <name> must not be empty').optional(),
  key: z.string().min(1, '--key <path> must not be empty').optional(),
  reason: z.string().trim().min(1, '--reason <text> is required'),
});

export type Action = 'approve' | 'reject' | OperatorAction;

const DESCRIPTIONS: Record<Exclude<Action, 'promoteFull'>, string> = {
  approve: 'Approve a promotion waiting for approval',
  reject: 'Reject a promotion waiting for approval',
  pause: 'Hold a live rollout at its current weights',
  resume: 'Continue a paused rollout, or give the go-ahead at a manual pause step',
  abort: 'Stop a promotion; a live rollout goes back to the champion',
};

export interface ActionResult {
  readonly state: PromotionState;
  /** Who the workflow recorded (from the verified key, or the typed name in unverified mode). */
  readonly by: string;
  /** The key fingerprint, when the action was signed. */
  readonly fingerprint?: string;
}

/**
 * Sends one decision or operator action. By default it signs a statement for this promotion's open
 * run with the user's SSH key (`ssh-keygen -Y sign`) and the workflow works out who that is from the
 * worker's trust file. `--as <name>` sends a typed name instead, which only a spec that declares
 * `identity: unverified` accepts. The workflow's validator has the last word and its reason is printed.
 */
export async function sendAction(ref: string, action: Action, raw: unknown): Promise<ActionResult> {
  const { model, version } = parseModelRef(ref);
  const flags = Flags.safeParse(raw);
  if (!flags.success) throw new InvalidInputError(flags.error.issues.map((i) => i.message).join('; '));
  const { as, key, reason } = flags.data;
  if (as !== undefined && key !== undefined) {
    throw new InvalidInputError('give --key (signed) or --as (identity: unverified only), not both');
  }
  const { client, close } = await connectClient();
  try {
    const handle = promotionHandle(client, model, version);
    const decision = action === 'approve' || action === 'reject';
    if (as !== undefined) {
      const state = decision
        ? await decide(handle, action, { approver: as, reason })
        : await operate(handle, action, { operator: as, reason });
      return { state, by: as };
    }
    const signed = await signDecision(
      { workflowId: handle.workflowId, runId: await currentRunId(handle), action, reason },
      signingKeyPath(key),
    );
    const payload = { statement: signed.statement, signature: signed.signature };
    const state = decision ? await decide(handle, action, payload) : await operate(handle, action, payload);
    const mine = [...(state.decisions ?? [])].reverse().find((d) => d.statement === signed.statement);
    return { state, by: mine?.by ?? '?', fingerprint: signed.fingerprint };
  } finally {
    await close();
  }
}

/** The flags every signed action takes. */
export function withIdentityFlags(cmd: Command): Command {
  return cmd
    .option(
      '--key <path>',
      `SSH ed25519 key to sign with (a .pub with ssh-agent works too; default $${SIGNING_KEY_ENV}, else ~/.ssh/id_ed25519)`,
    )
    .option('--as <name>', 'send a typed name instead of signing (only for specs with identity: unverified)');
}

export function describeResult(action: string, r: ActionResult): string {
  const signed = r.fingerprint ? `, signed with ${r.fingerprint}` : ' (unverified name)';
  return `${action}: ${r.state.workflowId} by ${r.by}${signed} (phase ${r.state.phase})`;
}

export function register(program: Command): void {
  for (const action of ['approve', 'reject', 'pause', 'resume', 'abort'] as const) {
    withIdentityFlags(
      program
        .command(`${action} <model@version>`)
        .description(`${DESCRIPTIONS[action]} (signed with your SSH key; recorded with who, when and why)`),
    )
      .requiredOption('--reason <text>', 'why (it is part of the signed statement)')
      .action(async (ref: string, raw: unknown) => {
        console.log(describeResult(action, await sendAction(ref, action, raw)));
      });
  }
}
