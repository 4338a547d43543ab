/**
 * Child-process entry: a flood of oversized and malformed requests against one gateway on
 * 127.0.0.1, for the admission benchmark. Each kind runs its own closed loop of workers until the
 * time bound or its request bound; slowloris sockets trickle header bytes. The flood starts paused:
 * `{kind: 'resume'}` starts it, `{kind: 'pause'}` stops issuing (requests in flight finish, slowloris
 * sockets close). argv[2] is a JSON FloodConfig; one FloodReport is sent when the flood ends (time
 * bound, or `{kind: 'stop'}`).
 */
import http from 'node:http';
import net from 'node:net';
import { z } from 'zod';

export const FloodConfig = z.strictObject({
  port: z.number().int(),
  model: z.string(),
  durationMs: z.number().positive(),
  /** Per kind, at most this many requests. */
  maxRequestsPerKind: z.number().int().positive(),
  slowlorisSockets: z.number().int().min(0),
  /** Only these kinds (by name); all when absent. */
  only: z.array(z.string()).optional(),
});
export type FloodConfig = z.infer<typeof FloodConfig>;

export const FloodReport = z.object({
  kind: z.literal('report'),
  /** kind → outcome (`status 413`, `ECONNRESET`, …) → count. */
  outcomes: z.record(z.string(), z.record(z.string(), z.number())),
  /** kind → client bytes sent. */
  bytesSent: z.record(z.string(), z.number()),
  durationMs: z.number(),
});
export type FloodReport = z.infer<typeof FloodReport>;

const MIB = 1024 * 1024;

interface RequestKind {
  readonly name: string;
  readonly what: string;
  readonly concurrency: number;
  readonly send: (agent: http.Agent) => Promise<{ outcome: string; bytes: number }>;
}

function request(
  agent: http.Agent | undefined,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  write: (req: http.ClientRequest) => void,
  options: { abortOnResponse?: boolean } = {},
): Promise<{ outcome: string; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let settled = false;
    const done = (outcome: string): void => {
      if (settled) return;
      settled = true;
      resolve({ outcome, bytes });
    };
    const req = http.request({ agent, host: '127.0.0.1', port, method, path, headers }, (res) => {
      if (options.abortOnResponse) {
        // A client that stops sending once refused, as curl does after an early 413.
        done(`status ${res.statusCode ?? 0}`);
        req.destroy();
        return;
      }
      res.resume();
      res.on('end', () => done(`status ${res.statusCode ?? 0}`));
      res.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'response error'));
    });
    const originalWrite = req.write.bind(req);
    req.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return (originalWrite as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof req.write;
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    write(req);
  });
}

/** Writes `total` bytes of `chunk` repeated, respecting back-pressure, then ends. */
async function writeRepeated(req: http.ClientRequest, chunk: Buffer, total: number): Promise<void> {
  let left = total;
  while (left > 0 && !req.destroyed) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (!req.write(part))
      await new Promise<void>((resolve) => {
        req.once('drain', resolve);
        req.once('close', resolve);
      });
  }
  if (!req.destroyed) req.end();
}

/** A valid 7.4 MiB MLflow body of 12-feature rows: more rows than one request may carry. */
function bigValidBody(): Buffer {
  const row = `[${Array.from({ length: 12 }, (_, i) => (0.123456789 * (i + 1)).toFixed(15)).join(',')}]`;
  const rows = Math.floor((7.4 * MIB) / (row.length + 1));
  return Buffer.from(`{"inputs":[${Array(rows).fill(row).join(',')}]}`);
}

function kinds(config: FloodConfig): RequestKind[] {
  const { port, model } = config;
  const json = { 'content-type': 'application/json' };
  const small = (method: string, path: string, body: string | undefined) => (agent: http.Agent) =>
    request(
      agent,
      port,
      method,
      path,
      body !== undefined ? { ...json, 'content-length': Buffer.byteLength(body) } : {},
      (req) => req.end(body),
    );
  const space = Buffer.alloc(MIB, 0x20);
  const big = bigValidBody();
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  let unknown = 0;
  return [
    {
      name: 'body-50MiB-sent-whole',
      what: '50 MiB body sent to the end (a naive client)',
      concurrency: 1,
      send: (agent) =>
        request(
          agent,
          port,
          'POST',
          `/invocations?model=${model}`,
          { ...json, 'content-length': 50 * MIB },
          (req) => void writeRepeated(req, space, 50 * MIB),
        ),
    },
    {
      name: 'body-50MiB-early-413',
      what: '50 MiB declared; the client stops once answered',
      concurrency: 2,
      send: () =>
        request(
          undefined,
          port,
          'POST',
          `/invocations?model=${model}`,
          { ...json, 'content-length': 50 * MIB },
          (req) => void writeRepeated(req, space, 50 * MIB),
          { abortOnResponse: true },
        ),
    },
    {
      name: 'body-9MiB-chunked',
      what: '9 MiB chunked body (no Content-Length), over the 8 MiB limit',
      concurrency: 1,
      send: (agent) =>
        request(
          agent,
          port,
          'POST',
          `/invocations?model=${model}`,
          { ...json, 'transfer-encoding': 'chunked' },
          (req) => void writeRepeated(req, space, 9 * MIB),
        ),
    },
    {
      name: 'body-7.4MiB-valid-json',
      what: `7.4 MiB of valid JSON rows (${big.length} bytes), more rows than allowed`,
      concurrency: 4,
      send: (agent) =>
        request(
          agent,
          port,
          'POST',
          `/invocations?model=${model}`,
          { ...json, 'content-length': big.length },
          (req) => req.end(big),
        ),
    },
    {
      name: 'json-10000-deep',
      what: '10,000-deep nested arrays',
      concurrency: 2,
      send: small('POST', `/invocations?model=${model}`, deep),
    },
    {
      name: 'json-malformed',
      what: 'malformed JSON',
      concurrency: 2,
      send: small('POST', `/invocations?model=${model}`, '{"inputs": [[1, 2,'),
    },
    {
      name: 'input-1e309',
      what: 'an input of 1e309',
      concurrency: 2,
      send: small('POST', `/invocations?model=${model}`, `{"inputs":[[1e309${',0'.repeat(11)}]]}`),
    },
    {
      name: 'unknown-model',
      what: 'a new unknown model name each time (registry frozen)',
      concurrency: 2,
      send: (agent) => small('POST', `/invocations?model=ghost-${unknown++}`, '{"inputs":[[0]]}')(agent),
    },
    {
      name: 'wrong-method',
      what: 'GET on the infer route',
      concurrency: 1,
      send: small('GET', `/v2/models/${model}/infer`, undefined),
    },
    {
      name: 'bad-percent-encoding',
      what: 'malformed %-escape in the model name',
      concurrency: 1,
      send: small('POST', '/v2/models/%E0%A4%A/infer', '{}'),
    },
  ];
}

/** Whether the flood is on; loops wait on `resumed` while it is off. */
class Gate {
  on = false;
  onChange: ((on: boolean) => void) | undefined;
  private waiters: (() => void)[] = [];
  set(on: boolean): void {
    if (on !== this.on) this.onChange?.(on);
    this.on = on;
    if (on) for (const w of this.waiters.splice(0)) w();
  }
  resumed(): Promise<void> {
    return this.on ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * Sockets that send one header byte every 500 ms until the gateway closes them, then reconnect,
 * while the gate is on. `close()` drops them all (pause); `open()` starts them again (resume).
 */
function slowloris(
  port: number,
  count: number,
  until: number,
  outcomes: Record<string, number>,
): { start(): void; close(): void } {
  const sockets = new Set<net.Socket>();
  let stopped = true;
  const open = (): void => {
    if (stopped || Date.now() >= until) return;
    const socket = net.connect(port, '127.0.0.1');
    sockets.add(socket);
    outcomes['sockets opened'] = (outcomes['sockets opened'] ?? 0) + 1;
    let answer = '';
    const header = 'POST /invocations HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(1000);
    let at = 0;
    const timer = setInterval(() => {
      if (at < header.length) socket.write(header[at++] ?? 'a');
    }, 500);
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      const status = /^HTTP\/1.1 (\d+)/.exec(answer)?.[1];
      const outcome = status ? `status ${status}` : 'closed without answer';
      if (!stopped) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      open();
    });
  };
  return {
    start: () => {
      stopped = false;
      for (let i = sockets.size; i < count; i++) open();
    },
    close: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

async function flood(config: FloodConfig, stopSignal: Promise<void>, gate: Gate): Promise<FloodReport> {
  const started = Date.now();
  const until = started + config.durationMs;
  let stopped = false;
  // Ending wakes the paused loops (so they see `stopped`) without restarting the slowloris sockets.
  const finish = (): void => {
    stopped = true;
    gate.onChange = undefined;
    gate.set(true);
  };
  void stopSignal.then(finish);
  const outcomes: Record<string, Record<string, number>> = {};
  const bytesSent: Record<string, number> = {};
  const chosen = kinds(config).filter((k) => !config.only || config.only.includes(k.name));
  const loops = chosen.map(async (kind) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: kind.concurrency });
    const tally = (outcomes[kind.name] = {} as Record<string, number>);
    bytesSent[kind.name] = 0;
    let issued = 0;
    await Promise.all(
      Array.from({ length: kind.concurrency }, async () => {
        while (!stopped && Date.now() < until && issued < config.maxRequestsPerKind) {
          if (!gate.on) {
            await gate.resumed();
            continue;
          }
          issued += 1;
          const { outcome, bytes } = await kind.send(agent);
          tally[outcome] = (tally[outcome] ?? 0) + 1;
          bytesSent[kind.name] = (bytesSent[kind.name] ?? 0) + bytes;
        }
      }),
    );
    agent.destroy();
  });
  const slow = (outcomes.slowloris = {} as Record<string, number>);
  const slowSockets = slowloris(config.port, config.slowlorisSockets, until, slow);
  gate.onChange = (on) => (on ? slowSockets.start() : slowSockets.close());
  const timeUp = setTimeout(finish, Math.max(0, until - Date.now()));
  await Promise.all(loops);
  clearTimeout(timeUp);
  slowSockets.close();
  return { kind: 'report', outcomes, bytesSent, durationMs: Date.now() - started };
}

async function main(): Promise<void> {
  const config = FloodConfig.parse(JSON.parse(process.argv[2] ?? ''));
  const gate = new Gate();
  const stopSignal = new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      const kind = z.object({ kind: z.string() }).safeParse(m).data?.kind;
      if (kind === 'stop') resolve();
      else if (kind === 'resume' || kind === 'pause') gate.set(kind === 'resume');
    });
    process.on('disconnect', () => resolve());
  });
  process.send?.({ kind: 'started' });
  const report = await flood(config, stopSignal, gate);
  process.send?.(report, () => process.exit(0));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
