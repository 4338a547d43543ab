import { ProgradeError } from '../errors';
import type { TargetRef } from '../promotion/contracts';
import { GatewayAdminClient } from '../serving/admin-client';

const DEFAULT_TOKEN_ENV = 'PROGRADE_GATEWAY_TOKEN';

/**
 * The admin client for a serving target. The token is read from the environment of the process that
 * calls (the worker, or the CLI for `rollback`), never carried in workflow history. It lives here and
 * not with the activities so that the CLI does not load the Temporal activity runtime to use it.
 */
export function gatewayFor(target: TargetRef, env: NodeJS.ProcessEnv = process.env): GatewayAdminClient {
  const name = target.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const token = env[name];
  if (!token) {
    throw new ProgradeError(
      'GATEWAY_TOKEN_MISSING',
      `the worker has no gateway admin token: set ${name} in the worker's environment`,
      'terminal',
      { tokenEnv: name },
    );
  }
  return new GatewayAdminClient({ baseUrl: target.url, token });
}
