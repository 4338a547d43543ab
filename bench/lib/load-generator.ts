import http from 'node:http';
import { summarizeLatencies, type LatencySummary } from './summary';

/**
 * A closed-loop HTTP load generator: `concurrency` workers, each sending its next request as soon as
 * the previous answer has been read, over keep-alive sockets. A run stops issuing at whichever bound
 * comes first, `maxRequests` or `maxDurationMs`, then waits for the requests in flight.
 *
 * Closed loop means latencies are service times at that concurrency, not what an open-loop arrival
 * process would see past saturation (no coordinated-omission correction).
 */
export interface LoadOptions {
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly body?: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly concurrency: number;
  readonly maxRequests: number;
  readonly maxDurationMs: number;
  /** Per-request timeout; a timed-out request counts as an error. */
  readonly timeoutMs?: number;
  /** Response header whose values are tallied (e.g. which variant answered). */
  readonly tallyHeader?: string;
}

export interface LoadResult {
  readonly concurrency: number;
  readonly requests: number;
  readonly errors: number;
  /** `status 503`, `ECONNRESET`, `timeout`… → count. */
  readonly errorKinds: Readonly<Record<string, number>>;
  readonly durationMs: number;
  readonly throughput: number;
  readonly latencyMs: LatencySummary;
  readonly tally: Readonly<Record<string, number>>;
  /** Which bound ended the run. */
  readonly stoppedBy: 'requests' | 'time';
}

interface Outcome {
  readonly ok: boolean;
  readonly kind: string;
  readonly tally: string | undefined;
}

function send(agent: http.Agent, target: URL, options: LoadOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = options.body.length;
    }
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method,
        headers,
      },
      (res) => {
        // The body is read to the end (the socket is only reused after that), then discarded.
        res.on('data', () => undefined);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const value = options.tallyHeader ? res.headers[options.tallyHeader.toLowerCase()] : undefined;
          resolve({
            ok: status >= 200 && status < 300,
            kind: `status ${status}`,
            tally: typeof value === 'string' ? value : undefined,
          });
        });
        res.on('error', (e: NodeJS.ErrnoException) =>
          resolve({ ok: false, kind: e.code ?? e.message, tally: undefined }),
        );
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ ok: false, kind: e.code ?? e.message, tally: undefined }),
    );
    req.end(options.body);
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (!(options.concurrency >= 1 && options.maxRequests >= 1 && options.maxDurationMs > 0))
    throw new RangeError('concurrency, maxRequests and maxDurationMs must be positive');
  const target = new URL(options.url);
  if (target.protocol !== 'http:') throw new RangeError(`only http:// targets, got ${options.url}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies = new Float64Array(options.maxRequests);
  const errorKinds: Record<string, number> = {};
  const tally: Record<string, number> = {};
  let issued = 0;
  let completed = 0;
  let errors = 0;
  let stoppedBy: LoadResult['stoppedBy'] = 'requests';
  const started = performance.now();
  const deadline = started + options.maxDurationMs;

  const worker = async (): Promise<void> => {
    while (issued < options.maxRequests) {
      if (performance.now() >= deadline) {
        stoppedBy = 'time';
        return;
      }
      issued += 1;
      const t0 = performance.now();
      const outcome = await send(agent, target, options);
      latencies[completed] = performance.now() - t0;
      completed += 1;
      if (!outcome.ok) {
        errors += 1;
        errorKinds[outcome.kind] = (errorKinds[outcome.kind] ?? 0) + 1;
      }
      if (outcome.tally !== undefined) tally[outcome.tally] = (tally[outcome.tally] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const durationMs = performance.now() - started;
  agent.destroy();
  return {
    concurrency: options.concurrency,
    requests: completed,
    errors,
    errorKinds,
    durationMs,
    throughput: completed / (durationMs / 1000),
    latencyMs: summarizeLatencies(latencies.subarray(0, completed)),
    tally,
    stoppedBy,
  };
}
