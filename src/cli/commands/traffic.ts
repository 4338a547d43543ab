import type { Command } from 'commander';
import { z } from 'zod';
import { InvalidInputError } from '../../errors';
import { parseDuration } from '../../spec/units';
import {
  DEFAULT_TRAFFIC_FEATURES,
  DEFAULT_TRAFFIC_LABEL,
  loadTrafficRows,
  parseShift,
  type TrafficRowSource,
} from '../../traffic/rows';
import { parseFeatureList } from '../../traffic/features';
import { v2InputOf, type V2Input } from '../../traffic/model-input';
import { runTraffic, TRAFFIC_LIMITS, type TrafficSummary } from '../../traffic/run';
import { checkTarget } from '../../traffic/target';
import { trafficVerdict } from '../../traffic/verdict';
import { ExitCode } from '../exit-codes';
import { CliExit } from '../run';

const Flags = z.object({
  model: z.string().min(1),
  rps: z.coerce.number().positive().max(TRAFFIC_LIMITS.maxRps),
  duration: z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined || ms <= 0 || ms > TRAFFIC_LIMITS.maxDurationMs) {
      ctx.addIssue({ code: 'custom', message: `'${s}' is not a duration between 1ms and 30m, e.g. 30s` });
      return z.NEVER;
    }
    return ms;
  }),
  requestTimeout: z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined || ms < 1 || ms > TRAFFIC_LIMITS.maxRequestTimeoutMs) {
      ctx.addIssue({ code: 'custom', message: `'${s}' is not a duration between 1ms and 2m, e.g. 10s` });
      return z.NEVER;
    }
    return Math.round(ms);
  }),
  dataset: z.string().min(1).optional(),
  features: z.string().optional(),
  label: z.string().min(1),
  rows: z.coerce.number().int().min(1).max(1_000_000),
  seed: z.coerce.number().int(),
  shift: z.string().optional(),
  gateway: z.string().min(1),
  protocol: z.enum(['v2', 'invocations']),
  rowsPerRequest: z.coerce.number().int().min(1).max(1000),
  inputName: z.string().min(1).optional(),
  routingKeys: z.coerce.number().int().min(1).max(1_000_000).optional(),
  maxRequests: z.coerce.number().int().positive().max(TRAFFIC_LIMITS.maxRequests).optional(),
  allowRemote: z.boolean().optional(),
  json: z.boolean().optional(),
});

function parseFlags(raw: unknown): z.infer<typeof Flags> {
  const parsed = Flags.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = `--${String(issue?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new InvalidInputError(`${flag}: ${issue?.message ?? 'invalid'}`, { flag });
  }
  return parsed.data;
}

function rowSource(flags: z.infer<typeof Flags>): TrafficRowSource {
  const features =
    flags.features !== undefined ? parseFeatureList(flags.features) : [...DEFAULT_TRAFFIC_FEATURES];
  const shift = flags.shift !== undefined ? parseShift(flags.shift, features) : undefined;
  if (flags.dataset !== undefined) {
    return {
      kind: 'csv',
      file: flags.dataset,
      features,
      label: flags.label,
      ...(shift ? { shift } : {}),
    };
  }
  if (flags.features !== undefined)
    throw new InvalidInputError('--features applies to --dataset files; sample rows have f0..f11');
  return { kind: 'sample', rows: flags.rows, seed: flags.seed, ...(shift ? { shift } : {}) };
}

/**
 * The v2 input to fill: named by --input-name, else as the gateway's model metadata describes it, so
 * a model whose input is `X` gets `X`. A width that cannot fit is refused before anything is sent.
 */
async function v2Input(flags: z.infer<typeof Flags>, featureNames: readonly string[]): Promise<V2Input> {
  if (flags.inputName !== undefined) return { name: flags.inputName, datatype: 'FP32', width: undefined };
  const input = await v2InputOf({
    gatewayUrl: flags.gateway,
    model: flags.model,
    allowRemote: flags.allowRemote === true,
  });
  if (input.width !== undefined && input.width !== featureNames.length) {
    const names =
      featureNames.length > 4
        ? `${featureNames.slice(0, 2).join(', ')}, …, ${featureNames.at(-1) ?? ''}`
        : featureNames.join(', ');
    throw new InvalidInputError(
      `model '${flags.model}' input '${input.name}' takes ${input.width} features per row, but the rows have ${featureNames.length} (${names}); ${flags.dataset !== undefined ? `name the model's columns with --features, e.g. --features f0..f${input.width - 1}` : `the generated sample rows fit 12-feature sample models; give a --dataset with the model's columns`}`,
      { model: flags.model, input: input.name, width: input.width, features: featureNames.length },
    );
  }
  return input;
}

function render(s: TrafficSummary): string {
  const lines = [
    `sent ${s.sent}/${s.planned} requests to ${s.target} (${s.model}, ${s.protocol}) in ${(s.elapsedMs / 1000).toFixed(1)}s: ${s.ok} ok, ${s.errors} errors${s.skipped > 0 ? `, ${s.skipped} skipped (too many in flight)` : ''}${s.aborted > 0 ? `, ${s.aborted} aborted` : ''}`,
    `by status:  ${Object.entries(s.byStatus)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `by variant: ${Object.entries(s.byVariant)
      .map(([k, v]) => `${k}=${v.requests} (${v.error} errors)`)
      .join(' ')}`,
  ];
  if (s.topErrors.length > 0) {
    lines.push(
      `errors:     ${s.topErrors.map((e) => `${e.count}× ${e.status} ${e.message}`).join('\n            ')}`,
    );
  }
  if (s.latencyMs) {
    const f = (x: number): string => `${x.toFixed(2)}ms`;
    lines.push(`latency:    p50 ${f(s.latencyMs.p50)}  p95 ${f(s.latencyMs.p95)}  p99 ${f(s.latencyMs.p99)}`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('traffic')
    .description('Send bounded, realistic inference traffic to a local gateway (loopback only by default)')
    .requiredOption('--model <name>', 'model to call')
    .requiredOption('--rps <n>', `requests per second (max ${TRAFFIC_LIMITS.maxRps})`)
    .requiredOption('--duration <d>', 'how long, e.g. 30s (max 30m)')
    .option('--dataset <file>', 'CSV whose feature columns are sent (default: generated sample rows)')
    .option(
      '--features <names>',
      'feature columns of --dataset in model input order: names and ranges, e.g. f0..f29 or age,f0..f9 (default f0..f11)',
    )
    .option('--label <name>', 'label column of --dataset', DEFAULT_TRAFFIC_LABEL)
    .option('--rows <n>', 'generated sample rows to cycle through', '2000')
    .option('--seed <n>', 'seed of the generated sample rows', '1')
    .option('--shift <spec>', 'drift the rows: f0=2 (one feature) or 0.5 (all features)')
    .option('--gateway <url>', 'gateway base URL', 'http://127.0.0.1:8080')
    .option('--protocol <p>', 'v2 (/v2/models/{m}/infer) or invocations (/invocations)', 'v2')
    .option('--rows-per-request <n>', 'rows per request', '1')
    .option('--input-name <name>', "v2 input tensor (default: read from the gateway's model metadata)")
    .option('--routing-keys <n>', 'send x-routing-key from n sticky users, round-robin')
    .option('--max-requests <n>', 'stop after this many requests')
    .option('--request-timeout <d>', 'give up on one request after this long (max 2m)', '10s')
    .option('--allow-remote', 'allow a gateway that is not on loopback')
    .option('--json', 'print the summary as JSON')
    .action(async (raw: unknown) => {
      const flags = parseFlags(raw);
      // TRAFFIC_TARGET_REFUSED is invalid input (exit 2) by its catalogue entry.
      checkTarget(flags.gateway, flags.allowRemote === true);
      const dataset = await loadTrafficRows(rowSource(flags));
      const input = flags.protocol === 'v2' ? await v2Input(flags, dataset.featureNames) : undefined;
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      process.once('SIGINT', onSigint);
      let summary: TrafficSummary;
      try {
        summary = await runTraffic({
          gatewayUrl: flags.gateway,
          model: flags.model,
          rps: flags.rps,
          durationMs: flags.duration,
          protocol: flags.protocol,
          rowsPerRequest: flags.rowsPerRequest,
          ...(input ? { inputName: input.name, datatype: input.datatype } : {}),
          allowRemote: flags.allowRemote === true,
          requestTimeoutMs: flags.requestTimeout,
          dataset,
          signal: stop.signal,
          ...(flags.maxRequests !== undefined ? { maxRequests: flags.maxRequests } : {}),
          ...(flags.routingKeys !== undefined
            ? { routingKeys: Array.from({ length: flags.routingKeys }, (_, i) => `user-${i}`) }
            : {}),
        });
      } finally {
        process.off('SIGINT', onSigint);
      }
      console.log(flags.json === true ? JSON.stringify(summary, null, 2) : render(summary));
      const verdict = trafficVerdict(summary);
      // Nothing answered at all: the gateway is down or the URL is wrong, not a judgement of the model.
      if (verdict.kind === 'unreachable') {
        console.error(`prograde: ${verdict.message}`);
        throw new CliExit(ExitCode.infrastructure);
      }
      // The gateway answered and served nothing: a script must not carry on as if traffic flowed.
      if (verdict.kind === 'all-failed') {
        console.error(`prograde: ${verdict.message}`);
        throw new CliExit(ExitCode.rejected);
      }
      if (verdict.warning !== undefined) console.error(`prograde: warning: ${verdict.warning}`);
    });
}
