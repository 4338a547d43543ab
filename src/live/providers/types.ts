import type { StatsSnapshot } from '../../promotion/stats-snapshot';

/**
 * A metrics provider: where the live checks (the shadow and canary watch loops, src/live/watch.ts)
 * get their numbers, like an Argo Rollouts analysis provider. The loops call `stats` once per look
 * and judge what it returns; they never know where it came from.
 *
 * Contract of `stats(model, { generation, sinceMs })`:
 * - one window per variant (`stable`, `canary`, `shadow`) of the routing generation `generation`
 *   (one canary step), from `sinceMs` (when that generation was applied) to now;
 * - `requests` and `errors` are counts of that window, exact where the source is (they feed the
 *   sequential tests on counts); a non-finite answer is an error;
 * - latencies (ms) and scores either as raw samples (`latencyMs`, `scores`: a sample of the window; the
 *   sequential tests expect each look's samples to extend the previous look's) or as fixed-bucket
 *   histograms (`latencyHistogram`, `scoreHistogram`) with the arrays left empty; the judges read both
 *   (src/promotion/stats-snapshot.ts says what the histogram form loses);
 * - `shadowComparison`: row-wise pairs of the stable and shadow answers to the same requests; a
 *   provider that cannot pair rows (Prometheus) reports zero pairs, and the shadow stays on the gateway;
 * - errors are `ProgradeError`s with a retry class: an unreachable or overloaded source is
 *   `retryable` (the watch activity retries and resumes from its heartbeat, deadline included), a
 *   misconfiguration (bad query, refused credentials, an answer that is not the API) is `terminal`.
 *
 * Providers: `GatewayAdminClient` (the gateway's own statistics, the default) and `PrometheusProvider`
 * (src/live/providers/prometheus.ts). `providerFor` (src/config/metrics-provider.ts) picks one from the spec.
 */
export interface MetricsProvider {
  /** What the numbers come from, for the verdict's summary; absent means the gateway. */
  readonly kind?: string;
  stats(model: string, query: { sinceMs?: number; generation?: number }): Promise<StatsSnapshot>;
}
