/**
 * Prometheus text exposition, hand-written (no client library is installed): per model, variant and
 * version, request and error counters and a latency histogram, plus shadow drops.
 */
type Labels = Readonly<Record<string, string>>;

const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

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

class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count += 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) =>
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i]}`),
      );
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export interface RequestLabels extends Labels {
  readonly model: string;
  readonly variant: string;
  readonly version: string;
}

export class GatewayMetrics {
  private readonly requests = new Counter(
    'prograde_gateway_requests_total',
    'Inference requests that reached a model version.',
  );
  private readonly errors = new Counter(
    'prograde_gateway_errors_total',
    'Inference requests that failed (5xx or non-finite output).',
  );
  private readonly latency = new Histogram(
    'prograde_gateway_request_duration_ms',
    'Inference latency in milliseconds, queueing included.',
    LATENCY_BUCKETS_MS,
  );
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

  observe(labels: RequestLabels, latencyMs: number, error: boolean): void {
    this.requests.inc(labels);
    if (error) this.errors.inc(labels);
    this.latency.observe(labels, latencyMs);
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
        this.requests,
        this.errors,
        this.latency,
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
