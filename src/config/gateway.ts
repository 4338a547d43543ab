import { ProgradeError } from '../errors';
import type { TargetRef } from '../promotion/contracts';
import { readCaBundle } from '../mlflow/tls-pem';
import { GATEWAY_CA_VAR, GatewayAdminClient } from '../serving/admin-client';

const DEFAULT_TOKEN_ENV = 'PROGRADE_GATEWAY_TOKEN';

/**
 * The admin client for a serving target. The token is read from the environment of the process that
 * calls (the worker, or the CLI for `rollback`), never carried in workflow history. It lives here and
 * not with the activities so that the CLI does not load the Temporal activity runtime to use it.
 *
 * An https gateway with a certificate from a private CA is trusted through PROGRADE_GATEWAY_CA_BUNDLE,
 * a PEM bundle that replaces the default roots for this client, checked here (a bad file is exit 2
 * naming the variable). NODE_EXTRA_CA_CERTS also works, as for any Node program, but Node reads it
 * once at start-up and only warns about a bad file.
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
  const caPath = env[GATEWAY_CA_VAR];
  if (caPath === undefined || caPath.trim() === '')
    return new GatewayAdminClient({ baseUrl: target.url, token });
  return new GatewayAdminClient({
    baseUrl: target.url,
    token,
    tls: { trust: { ca: readCaBundle(GATEWAY_CA_VAR, caPath).pem }, caPath },
  });
}
