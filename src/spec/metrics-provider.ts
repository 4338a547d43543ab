import { z } from 'zod';
import { Duration } from './units';

/**
 * `canary.analysis.provider` in promotion.yaml: where the canary analysis reads its numbers
 * (docs/metrics-providers.md). Pure (zod only): schema.ts imports it, and the workflow
 * sandbox imports that.
 *
 * - absent or `{ type: gateway }`: the gateway's own window statistics (its admin stats API);
 * - `{ type: prometheus, url, ... }`: PromQL queries per variant against a Prometheus HTTP API.
 */

/** The placeholders a query template may use (each `{{name}}`), filled in per look. */
export const QUERY_PLACEHOLDERS = ['model', 'generation', 'window', 'selector'] as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

const QueryTemplate = z
  .string()
  .min(1, 'must not be empty')
  .max(4000, 'at most 4000 characters')
  .superRefine((q, ctx) => {
    for (const m of q.matchAll(PLACEHOLDER)) {
      const name = m[1] ?? '';
      if (!(QUERY_PLACEHOLDERS as readonly string[]).includes(name))
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder {{${name}}} (allowed: ${QUERY_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`,
        });
    }
  });

const LabelName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Prometheus label name')
  .max(100);

export const PrometheusQueries = z.strictObject({
  requests: QueryTemplate.optional().meta({
    description: 'Requests per variant in the window: a vector with labels variant (and version)',
  }),
  errors: QueryTemplate.optional().meta({
    description: 'Failed requests per variant in the window: labels variant (and version); absent means 0',
  }),
  latency: QueryTemplate.optional().meta({
    description:
      'Cumulative latency histogram buckets (ms) per variant in the window: labels variant and le; none: not measured, the latency check is left out',
  }),
  scores: QueryTemplate.optional().meta({
    description:
      'Cumulative score histogram buckets per variant in the window: labels variant and le; none: not measured (most model servers export no scores), the prediction check is left out',
  }),
});
export type PrometheusQueries = z.infer<typeof PrometheusQueries>;

export const PrometheusProviderSpec = z.strictObject({
  type: z.literal('prometheus'),
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .meta({ description: 'Base URL of the Prometheus HTTP API (the part before /api/v1/query)' }),
  labels: z
    .record(z.string(), z.string().max(256))
    .superRefine((r, ctx) => {
      const names = Object.keys(r);
      if (names.length > 20) ctx.addIssue({ code: 'custom', message: 'at most 20 labels' });
      for (const n of names)
        if (!LabelName.safeParse(n).success)
          ctx.addIssue({
            code: 'custom',
            path: [n],
            message: `'${n.slice(0, 100)}' is not a Prometheus label name`,
          });
    })
    .optional()
    .meta({
      description:
        'Extra label matchers every default query gets ({{selector}}), e.g. { job: prograde-gateway, namespace: ml }',
    }),
  queries: PrometheusQueries.optional().meta({
    description:
      'PromQL templates that replace the defaults (the gateway’s own metric names); placeholders {{model}}, {{generation}}, {{window}}, {{selector}}',
  }),
  timeout: Duration.prefault('5s')
    .refine((ms) => ms >= 100 && ms <= 60_000, 'must be between 100ms and 1m')
    .meta({ description: 'Time limit of each query; a slower answer is retried like an unreachable server' }),
  tokenEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional()
    .meta({ description: 'Environment variable on the worker holding a bearer token for Prometheus' }),
});
export type PrometheusProviderSpec = z.infer<typeof PrometheusProviderSpec>;

export const GatewayProviderSpec = z.strictObject({ type: z.literal('gateway') });

export const MetricsProviderSpec = z.discriminatedUnion('type', [
  GatewayProviderSpec,
  PrometheusProviderSpec,
]);
export type MetricsProviderSpec = z.infer<typeof MetricsProviderSpec>;
