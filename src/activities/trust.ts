import type { ResolveTrustInput, ResolveTrustOutput } from '../promotion/contracts';
import { ProgradeError } from '../errors';
import { resolvePeople, TRUST_FILE_ENV, trustFromEnv } from '../config/trust';

/**
 * Resolves who a promotion's spec names to the keys the worker's trust file pins for them, once at
 * the start (the workflow keeps the answer in its history, so its validators verify without I/O).
 * Read at every call, so a key added or revoked in the file applies from the next promotion on.
 * A spec that names nobody needs no trust file: nobody can decide, and nothing is to be resolved.
 */
export async function resolveTrust(
  input: ResolveTrustInput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolveTrustOutput> {
  if (input.approvers.length === 0 && input.operators.length === 0) return { people: [] };
  const trust = await trustFromEnv(env);
  if (!trust) {
    throw new ProgradeError(
      'IDENTITY_NOT_TRUSTED',
      `the spec names approvers or operators for ${input.model}, but this worker has no trust file (${TRUST_FILE_ENV}); ` +
        'set it, or declare identity: unverified in the spec',
      'terminal',
      { model: input.model },
    );
  }
  return { people: resolvePeople(trust, input), trustFile: trust.path };
}
