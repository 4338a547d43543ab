import type { Command } from 'commander';
import { z } from 'zod';
import { connectClient } from '../../client/connect';
import { decide, operate, promotionHandle } from '../../client/promotions';
import { InvalidInputError } from '../../errors';
import type { OperatorAction, PromotionState } from '../../promotion/state';
import { parseModelRef } from '../model-ref';

const WhoWhy = z.object({
  as: z.string().trim().min(1, '--as <name> is required'),
  reason: z.string().trim().min(1, '--reason <text> is required'),
});

type Action = 'approve' | 'reject' | OperatorAction;

const DESCRIPTIONS: Record<Exclude<Action, 'promoteFull'>, string> = {
  approve: 'Approve a promotion waiting for approval',
  reject: 'Reject a promotion waiting for approval',
  pause: 'Hold a live rollout at its current weights',
  resume: 'Continue a paused rollout, or give the go-ahead at a manual pause step',
  abort: 'Stop a promotion; a live rollout goes back to the champion',
};

/** Sends one decision or operator action; the workflow's validator has the last word and its reason is printed. */
export async function sendAction(ref: string, action: Action, raw: unknown): Promise<PromotionState> {
  const { model, version } = parseModelRef(ref);
  const flags = WhoWhy.safeParse(raw);
  if (!flags.success) throw new InvalidInputError(flags.error.issues.map((i) => i.message).join('; '));
  const { client, close } = await connectClient();
  try {
    const handle = promotionHandle(client, model, version);
    const who = flags.data.as;
    const why = flags.data.reason;
    return action === 'approve' || action === 'reject'
      ? await decide(handle, action, { approver: who, reason: why })
      : await operate(handle, action, { operator: who, reason: why });
  } finally {
    await close();
  }
}

export function register(program: Command): void {
  for (const action of ['approve', 'reject', 'pause', 'resume', 'abort'] as const) {
    program
      .command(`${action} <model@version>`)
      .description(`${DESCRIPTIONS[action]} (recorded with who, when and why)`)
      .requiredOption('--as <name>', 'your name, as listed in the spec')
      .requiredOption('--reason <text>', 'why')
      .action(async (ref: string, raw: unknown) => {
        const state = await sendAction(ref, action, raw);
        const last = state.audit[state.audit.length - 1];
        console.log(
          `${action}: ${state.workflowId} by ${last?.by ?? ''} at ${last?.at ?? ''} (phase ${state.phase})`,
        );
      });
  }
}
