import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { currentRunId, decide, type PromotionHandle } from '../client/promotions';
import { signDecision } from '../client/signing';
import { TRUST_FILE_ENV } from '../config/trust';
import { messageOf } from '../errors';

/** The demo's one decider: a throwaway key, trusted for the demo model only. */
export const DEMO_APPROVER = 'demo-approver';

export interface DemoIdentity {
  readonly keyPath: string;
  readonly trustFile: string;
}

/**
 * Shows the verified path: a throwaway ed25519 key (made by ssh-keygen under .data/demo/keys, kept
 * between runs), a trust file naming it approver and operator of `model`, the in-process worker
 * pointed at that file, and the demo spec naming the person. Returns undefined (and the demo runs
 * with nobody deciding, as the example spec says) when ssh-keygen is not available.
 */
export function setUpDemoIdentity(
  demoDir: string,
  model: string,
  specFile: string,
): DemoIdentity | undefined {
  const keys = join(demoDir, 'keys');
  const keyPath = join(keys, DEMO_APPROVER);
  try {
    mkdirSync(keys, { recursive: true, mode: 0o700 });
    if (!existsSync(keyPath)) {
      execFileSync('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        `${DEMO_APPROVER}@prograde-demo`,
        '-f',
        keyPath,
      ]);
    }
  } catch {
    return undefined;
  }
  const publicLine = readFileSync(`${keyPath}.pub`, 'utf8').trim();
  const trustFile = join(demoDir, 'trust.yaml');
  writeFileSync(
    trustFile,
    [
      '# Written by `npm run demo`: who may decide on the demo model. In production this file lives with',
      '# the worker and is changed only by whoever deploys it (see docs/cli.md).',
      'people:',
      `  ${DEMO_APPROVER}: [${JSON.stringify(publicLine)}]`,
      'models:',
      `  - { model: ${JSON.stringify(model)}, approvers: [${DEMO_APPROVER}], operators: [${DEMO_APPROVER}] }`,
      '',
    ].join('\n'),
  );
  process.env[TRUST_FILE_ENV] = trustFile;

  // The spec names the person; the trust file says whose key that is.
  const doc = parseDocument(readFileSync(specFile, 'utf8'));
  doc.setIn(['approval', 'required'], true);
  doc.setIn(['approval', 'approvers'], [DEMO_APPROVER]);
  // Short, so a demo whose signing failed moves on (rejected) instead of waiting a day.
  doc.setIn(['approval', 'timeout'], '2m');
  doc.setIn(['operators'], [DEMO_APPROVER]);
  writeFileSync(specFile, doc.toString());
  return { keyPath, trustFile };
}

/** Approves with the demo key once the promotion waits for approval, as a person would with `prograde approve`. */
export async function approveSigned(
  handle: PromotionHandle,
  identity: DemoIdentity,
  say: (line: string) => void,
): Promise<void> {
  try {
    const signed = await signDecision(
      {
        workflowId: handle.workflowId,
        runId: await currentRunId(handle),
        action: 'approve',
        reason: 'demo: offline gates reviewed',
      },
      identity.keyPath,
    );
    await decide(handle, 'approve', signed);
    say(
      `   approve          signed by ${DEMO_APPROVER} with ${signed.fingerprint} (prograde verify checks it later)`,
    );
  } catch (e) {
    say(`   approve failed: ${messageOf(e)}`);
  }
}
