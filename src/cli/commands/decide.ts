import type { Command } from 'commander';
import { z } from 'zod';
import { connectClient } from '../../client/connect';
import { decide, promotionHandle } from '../../client/promotions';
import { InvalidInputError } from '../../errors';
import { parseModelRef } from '../model-ref';

const Flags = z.object({
  as: z.string().trim().min(1, '--as <name> is required'),
  reason: z.string().trim().min(1, '--reason <text> is required'),
});

function decision(program: Command, name: 'approve' | 'reject'): void {
  program
    .command(`${name} <model@version>`)
    .description(
      `${name === 'approve' ? 'Approve' : 'Reject'} a promotion waiting for approval (recorded with who, when, why)`,
    )
    .requiredOption('--as <name>', 'your approver name, as listed in the spec')
    .requiredOption('--reason <text>', 'why')
    .action(async (ref: string, raw: unknown) => {
      const { model, version } = parseModelRef(ref);
      const flags = Flags.safeParse(raw);
      if (!flags.success) throw new InvalidInputError(flags.error.issues.map((i) => i.message).join('; '));
      const { client, close } = await connectClient();
      try {
        const state = await decide(promotionHandle(client, model, version), name, {
          approver: flags.data.as,
          reason: flags.data.reason,
        });
        const d = state.approval.decision;
        console.log(
          `${name === 'approve' ? 'approved' : 'rejected'} ${state.workflowId} as ${d?.by ?? flags.data.as} at ${d?.at ?? ''}`,
        );
      } finally {
        await close();
      }
    });
}

export function register(program: Command): void {
  decision(program, 'approve');
  decision(program, 'reject');
}
