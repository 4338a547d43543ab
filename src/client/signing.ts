import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ProgradeError } from '../errors';
import {
  canonicalStatement,
  DECISION_NAMESPACE,
  newStatement,
  verifySshSignature,
  type SignedStatement,
  type Statement,
} from '../identity';

/** The key `prograde approve` and friends sign with, when --key is not given. */
export const SIGNING_KEY_ENV = 'PROGRADE_SIGNING_KEY';

export function signingKeyPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env[SIGNING_KEY_ENV] ?? join(homedir(), '.ssh', 'id_ed25519');
}

/** How long ssh-keygen may take: long enough to type a passphrase, short enough never to hang CI. */
const SIGN_TIMEOUT_MS = 120_000;

/**
 * Signs `text` with `ssh-keygen -Y sign` in the decision namespace. Going through ssh-keygen (not
 * reading the key here) means encrypted keys ask for their passphrase on the terminal as usual, and
 * `-f key.pub` signs with the key held by ssh-agent: prograde never sees a private key.
 */
export function sshSign(keyPath: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh-keygen', ['-Y', 'sign', '-q', '-f', keyPath, '-n', DECISION_NAMESPACE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: SIGN_TIMEOUT_MS,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const fail = (why: string) =>
      reject(
        new ProgradeError('SIGNING_FAILED', `could not sign with ${keyPath}: ${why}`, 'terminal', {
          key: keyPath,
        }),
      );
    child.on('error', (e) => fail(e.message));
    child.on('close', (code) => {
      if (code === 0 && out.includes('BEGIN SSH SIGNATURE')) resolve(out);
      else fail(err.trim().split('\n').slice(-2).join(' ') || `ssh-keygen exited with ${code}`);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(text);
  });
}

export interface SignedDecision extends SignedStatement {
  readonly fingerprint: string;
  readonly parsed: Statement;
}

/** A statement for one decision, issued now, signed with the user's key and checked before sending. */
export async function signDecision(
  fields: Pick<Statement, 'workflowId' | 'runId' | 'action' | 'reason'>,
  keyPath: string,
  nowMs = Date.now(),
): Promise<SignedDecision> {
  const parsed = newStatement(fields, nowMs);
  const statement = canonicalStatement(parsed);
  const signature = await sshSign(keyPath, statement);
  const check = verifySshSignature(signature, statement);
  if (!check.ok) {
    throw new ProgradeError(
      'SIGNING_FAILED',
      `ssh-keygen made a signature that does not verify: ${check.problem}`,
      'terminal',
    );
  }
  return { statement, signature, fingerprint: check.value.fingerprint, parsed };
}
