/**
 * Prometheus text exposition, hand-written (no client library is installed): per model, variant,
 * version and routing generation, request and error counters, a latency histogram and a score
 * histogram (the series the Prometheus metrics provider reads back, src/live/providers/prometheus.ts;
 * names and labels in docs/metrics-providers.md), plus refusals, drops and reloads.
 */
type Labels = Readonly<Record<string, string>>;

/**
 * Latency bucket bounds (ms): 13 a decade from 0.01 ms to 10 s, each about 1.2× the one before (never
 * more than 1.25×), so a median latency ratio is resolved to about the canary's default 1.2 margin.
 * They include the 1-2.5-5 bounds this histogram had before.
 */
const DECADE = [1, 1.2, 1.4, 1.7, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8.5];
export const LATENCY_BUCKETS_MS: readonly number[] = [
  ...[0.01, 0.1, 1, 10, 100, 1000].flatMap((d) => DECADE.map((m) => Number((m * d).toPrecision(3)))),
  10_000,
];

/** Score bucket bounds: twentieths of [0, 1], for probabilities; other scores land in the end buckets. */
export const SCORE_BUCKETS: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);

/** Series of older generations kept per model: a step's last scrape still sees the one before. */
const GENERATIONS_KEPT = 4;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels, by = 1): void {
    const key = keyOf(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

/** Index of the first bound ≥ value (bounds.length when above them all, or NaN). Binary search. */
function bucketIndex(bounds: readonly number[], value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value <= (bounds[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One model × variant × version × generation: everything observe() touches, found by one Map lookup. */
interface VariantSeries {
  readonly labels: Labels;
  readonly model: string;
  readonly generation: number | undefined;
  requests: number;
  errors: number;
  /** Per bucket, not cumulative; the last is above the last bound. */
  readonly latency: Float64Array;
  latencySum: number;
  readonly scores: Float64Array;
  scoreSum: number;
  scoreCount: number;
}

function renderHistogram(
  lines: string[],
  name: string,
  labels: Labels,
  bounds: readonly number[],
  counts: Float64Array,
  sum: number,
  count: number,
): void {
  let cumulative = 0;
  bounds.forEach((le, i) => {
    cumulative += counts[i] as number;
    lines.push(`${name}_bucket${labelText({ ...labels, le: String(le) })} ${cumulative}`);
  });
  lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
  lines.push(`${name}_sum${labelText(labels)} ${sum}`);
  lines.push(`${name}_count${labelText(labels)} ${count}`);
}

export interface RequestLabels {
  readonly model: string;
  readonly variant: string;
  readonly version: string;
  /** The routing generation the request was served under (a canary step); a label when given. */
  readonly generation?: number;
}

export class GatewayMetrics {
  private readonly series = new Map<string, VariantSeries>();
  /** Newest generation seen per model, for pruning older series. */
  private readonly newest = new Map<string, number>();
  private readonly rejected = new Counter(
    'prograde_gateway_rejected_total',
    'Requests refused before inference, by HTTP status.',
  );
  private readonly refused = new Counter(
    'prograde_gateway_refused_total',
    'Requests answered with an error (refused, or failed), by HTTP status and error code.',
  );
  private readonly credentialReloads = new Counter(
    'prograde_gateway_credential_reloads_total',
    'Changed credential files (inference keys, admin tokens) put in force or refused as invalid.',
  );
  private readonly predictionsDropped = new Counter(
    'prograde_gateway_prediction_log_dropped_total',
    'Sampled prediction-log records dropped because the log file could not be written or kept up.',
  );
  private readonly shadowDropped = new Counter(
    'prograde_gateway_shadow_dropped_total',
    'Shadow copies dropped because the shadow backlog was full.',
  );

  /**
   * One request served (or failed) by a variant: the single call on the request path. One string key
   * and one Map lookup, then counters and two binary searches per score; `scores` (one per row) feed
   * the score histogram, non-finite ones left out (they are already counted as errors).
   */
  observe(labels: RequestLabels, latencyMs: number, error: boolean, scores?: readonly number[]): void {
    const { model, variant, version, generation } = labels;
    const key = `${model}\u0000${variant}\u0000${version}\u0000${generation ?? ''}`;
    let s = this.series.get(key);
    if (!s) s = this.addSeries(key, labels);
    s.requests += 1;
    if (error) s.errors += 1;
    const i = bucketIndex(LATENCY_BUCKETS_MS, latencyMs);
    s.latency[i] = (s.latency[i] as number) + 1;
    s.latencySum += latencyMs;
    if (scores === undefined) return;
    for (const score of scores) {
      if (!Number.isFinite(score)) continue;
      const j = bucketIndex(SCORE_BUCKETS, score);
      s.scores[j] = (s.scores[j] as number) + 1;
      s.scoreSum += score;
      s.scoreCount += 1;
    }
  }

  private addSeries(key: string, labels: RequestLabels): VariantSeries {
    const { model, variant, version, generation } = labels;
    const s: VariantSeries = {
      labels: {
        model,
        variant,
        version,
        ...(generation !== undefined ? { generation: String(generation) } : {}),
      },
      model,
      generation,
      requests: 0,
      errors: 0,
      latency: new Float64Array(LATENCY_BUCKETS_MS.length + 1),
      latencySum: 0,
      scores: new Float64Array(SCORE_BUCKETS.length + 1),
      scoreSum: 0,
      scoreCount: 0,
    };
    this.series.set(key, s);
    if (generation !== undefined && generation > (this.newest.get(model) ?? -Infinity)) {
      this.newest.set(model, generation);
      // A new step: drop the series of generations long gone, so memory stays bounded over a rollout.
      for (const [k, old] of this.series)
        if (
          old.model === model &&
          old.generation !== undefined &&
          old.generation <= generation - GENERATIONS_KEPT
        )
          this.series.delete(k);
    }
    return s;
  }

  private renderVariants(): string {
    const all = [...this.series.values()];
    const lines = [
      '# HELP prograde_gateway_requests_total Inference requests that reached a model version.',
      '# TYPE prograde_gateway_requests_total counter',
      ...all.map((s) => `prograde_gateway_requests_total${labelText(s.labels)} ${s.requests}`),
      '# HELP prograde_gateway_errors_total Inference requests that failed (5xx or non-finite output).',
      '# TYPE prograde_gateway_errors_total counter',
      // A series appears with its first error (absent means 0, as the Prometheus provider reads it).
      ...all
        .filter((s) => s.errors > 0)
        .map((s) => `prograde_gateway_errors_total${labelText(s.labels)} ${s.errors}`),
      '# HELP prograde_gateway_request_duration_ms Inference latency in milliseconds, queueing included.',
      '# TYPE prograde_gateway_request_duration_ms histogram',
    ];
    for (const s of all) {
      const name = 'prograde_gateway_request_duration_ms';
      renderHistogram(lines, name, s.labels, LATENCY_BUCKETS_MS, s.latency, s.latencySum, s.requests);
    }
    lines.push(
      '# HELP prograde_gateway_score Scores the variant answered, one per row (non-finite ones are errors).',
      '# TYPE prograde_gateway_score histogram',
    );
    for (const s of all)
      renderHistogram(
        lines,
        'prograde_gateway_score',
        s.labels,
        SCORE_BUCKETS,
        s.scores,
        s.scoreSum,
        s.scoreCount,
      );
    return lines.join('\n');
  }

  reject(model: string, status: number): void {
    this.rejected.inc({ model, status: String(status) });
  }

  /** Labels are the status and the gateway's own closed set of codes: never a name a client chose. */
  refuse(status: number, code: string): void {
    this.refused.inc({ status: String(status), code });
  }

  /** `file` is the gateway's own label (inference_keys, admin_tokens), never a path. */
  credentialsReloaded(file: string, outcome: 'applied' | 'refused'): void {
    this.credentialReloads.inc({ file, outcome });
  }

  dropPrediction(): void {
    this.predictionsDropped.inc({});
  }

  dropShadow(model: string): void {
    this.shadowDropped.inc({ model });
  }

  render(): string {
    return (
      [
        { render: () => this.renderVariants() },
        this.rejected,
        this.refused,
        this.credentialReloads,
        this.shadowDropped,
        this.predictionsDropped,
      ]
        .map((m) => m.render())
        .join('\n') + '\n'
    );
  }
}
