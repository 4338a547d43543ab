import { ProgradeError } from '../errors';
import { PrometheusProvider } from '../live/providers/prometheus';
import type { MetricsProvider } from '../live/providers/types';
import type { TargetRef } from '../promotion/contracts';
import type { MetricsProviderSpec } from '../spec/metrics-provider';
import { gatewayFor } from './gateway';

/**
 * The metrics provider a canary analysis reads, from its spec (`canary.analysis.provider`,
 * docs/metrics-providers.md): the serving target's gateway(s) when absent or `type: gateway`, else
 * Prometheus. Tokens come from the worker's environment, never from the spec or workflow history.
 */
export function providerFor(
  target: TargetRef,
  spec: MetricsProviderSpec | undefined,
  env: NodeJS.ProcessEnv = process.env,
): MetricsProvider {
  if (spec === undefined || spec.type === 'gateway') return gatewayFor(target, env);
  let token: string | undefined;
  if (spec.tokenEnv !== undefined) {
    token = env[spec.tokenEnv];
    if (!token)
      throw new ProgradeError(
        'PROMETHEUS_TOKEN_MISSING',
        `the worker has no Prometheus token: set ${spec.tokenEnv} in the worker's environment (canary.analysis.provider.tokenEnv)`,
        'terminal',
        { tokenEnv: spec.tokenEnv },
      );
  }
  return new PrometheusProvider({
    url: spec.url,
    timeoutMs: spec.timeout,
    ...(spec.labels ? { labels: spec.labels } : {}),
    ...(spec.queries ? { queries: spec.queries } : {}),
    ...(token !== undefined ? { token } : {}),
  });
}
