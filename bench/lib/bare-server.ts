/**
 * Child-process entry: the reference limit of the serving comparison (bench/serving-compare.ts). A bare
 * `node:http` server running onnxruntime-node on its main thread: JSON.parse, a Float32Array, one
 * session run per request, JSON.stringify. No routing, no statistics, no batching, no worker threads,
 * only the checks that keep it from crashing. argv[2] is a JSON BareServerConfig. Sends
 * `{kind: 'ready', url}` once listening; exits on `{kind: 'stop'}` or when the parent goes away.
 *
 * Routes: POST /invocations (`dataframe_split` → `{predictions}`) and POST /v2/models/<m>/infer
 * (one FP32 input → one output), answered like the gateway answers them.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';

export const BareServerConfig = z.strictObject({ onnxPath: z.string(), model: z.string() });
export type BareServerConfig = z.infer<typeof BareServerConfig>;

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Rows of numbers → row-major Float32Array; undefined when the rows are not `width` numbers each. */
function fromRows(rows: unknown, width: number): Float32Array | undefined {
  if (!Array.isArray(rows) || rows.length === 0) return undefined;
  const out = new Float32Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) {
    const row: unknown = rows[r];
    if (!Array.isArray(row) || row.length !== width) return undefined;
    for (let c = 0; c < width; c++) {
      const v: unknown = row[c];
      if (typeof v !== 'number') return undefined;
      out[r * width + c] = v;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const config = BareServerConfig.parse(JSON.parse(process.argv[2] ?? ''));
  const session = await ort.InferenceSession.create(config.onnxPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const input = session.inputNames[0] ?? 'X';
  const output = session.outputNames[0] ?? 'probability';
  const meta = session.inputMetadata[0];
  const width = meta?.isTensor && typeof meta.shape[1] === 'number' ? meta.shape[1] : 30;
  const v2Path = `/v2/models/${config.model}/infer`;

  const run = async (data: Float32Array, rows: number): Promise<Float32Array> => {
    const result = await session.run({ [input]: new ort.Tensor('float32', data, [rows, width]) }, [output]);
    return result[output]?.data as Float32Array;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const bytes = await readAll(req);
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      return send(res, 400, { error: 'not JSON' });
    }
    if (req.url === '/invocations') {
      const split = (body as { dataframe_split?: { data?: unknown } } | null)?.dataframe_split;
      const data = fromRows(split?.data, width);
      if (!data) return send(res, 400, { error: 'expected dataframe_split rows' });
      const scores = await run(data, data.length / width);
      return send(res, 200, { predictions: Array.from(scores) });
    }
    if (req.url === v2Path) {
      const first = (body as { inputs?: { shape?: unknown; data?: unknown }[] } | null)?.inputs?.[0];
      const values = first?.data;
      if (!Array.isArray(values) || values.length === 0 || values.length % width !== 0)
        return send(res, 400, { error: 'expected one FP32 input' });
      const data = new Float32Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v: unknown = values[i];
        if (typeof v !== 'number') return send(res, 400, { error: 'expected numbers' });
        data[i] = v;
      }
      const rows = data.length / width;
      const scores = await run(data, rows);
      return send(res, 200, {
        model_name: config.model,
        model_version: '1',
        outputs: [{ name: output, datatype: 'FP32', shape: [rows], data: Array.from(scores) }],
      });
    }
    send(res, 404, { error: 'no such route' });
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, { error: String(e) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const stop = (): void => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('message', (m: unknown) => {
    if (z.object({ kind: z.literal('stop') }).safeParse(m).success) stop();
  });
  process.on('disconnect', stop);
  process.send?.({ kind: 'ready', url: `http://127.0.0.1:${port}` });
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
