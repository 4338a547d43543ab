import { appendFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelCache } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { MlflowError } from '../../src/mlflow/errors';
import { registerOnnxModel } from '../../src/mlflow/register';
import { sampleModel } from '../../src/samples/models';
import { usualRows } from '../../src/samples/segments';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';
import { runTraffic } from '../../src/traffic';
import { uniqueModel } from '../support/harness';
import { stack } from '../support/stack';

const TOKEN = 'restore-registry-down-token';

/**
 * A gateway restarted while MLflow is down (chaos: a gateway killed during an MLflow outage stayed
 * unready 46-90 s, its callers answered 503 and the canaries on it starved of samples until they
 * were rolled back). The gateway reaches the real MLflow server through a TCP relay the test closes:
 * the registry is then unreachable, as in an outage. The restart restores the routing from the
 * verified copy in its model cache; a copy that no longer verifies is not served.
 */
describe('gateway restart with the registry unreachable', () => {
  const gateways: GatewayHandle[] = [];
  let relay: Relay | undefined;
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close().catch(() => undefined)));
    await relay?.close();
  });

  it('restores and serves the versions it had from its verified cache, and not a tampered one', async () => {
    relay = await startRelay(new URL(stack.mlflowUri()));
    const client = new MlflowClient({ baseUrl: `http://127.0.0.1:${relay.port}`, timeoutMs: 5_000 });
    const model = uniqueModel('restore-down');
    const { version } = await registerOnnxModel(client, {
      name: model,
      onnxBytes: sampleModel('good', { seed: 5 }),
    });
    const stateDir = mkdtempSync(join(tmpdir(), 'prograde-restore-down-'));
    const start = async (): Promise<GatewayHandle> => {
      const g = await startGateway({
        source: new MlflowModelSource(client, new ModelCache(client, join(stateDir, 'cache'))),
        stateDir,
        port: 0,
        token: TOKEN,
        logger: pino({ level: 'silent' }),
        restoreRetryMs: 300,
        shutdownGraceMs: 1_000,
      });
      gateways.push(g);
      return g;
    };

    const first = await start();
    await first.whenReady();
    await new GatewayAdminClient({ baseUrl: first.url, token: TOKEN }).putRouting(
      model,
      { generation: 1, stable: { version } },
      'test setup',
    );
    const before = await traffic(first.url, model);
    expect(before.ok).toBeGreaterThan(0);
    await first.close();

    // The outage: the registry stops answering.
    await relay.close();
    const down = await client.getModelVersion(model, version).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(down).toBeInstanceOf(MlflowError);
    expect((down as MlflowError).retry).toBe('retryable');

    const second = await start();
    await withinMs(second.whenReady(), 60_000, 'the restarted gateway to restore with MLflow down');
    const admin = new GatewayAdminClient({ baseUrl: second.url, token: TOKEN });
    expect((await admin.getRouting(model))?.spec).toEqual({ stable: { version } });
    const after = await traffic(second.url, model);
    expect(after.errors, JSON.stringify(after.topErrors)).toBe(0);
    expect(after.ok).toBeGreaterThan(0);
    expect(after.byVersion).toEqual({ [version]: after.ok });
    await second.close();

    // A cached file edited in place no longer verifies: nothing is served from it while MLflow is down.
    const onnx = findFile(join(stateDir, 'cache', 'models'), (f) => f.endsWith('.onnx'));
    appendFileSync(onnx, Buffer.from([0]));
    const third = await start();
    // The gateway itself comes up; the model stays unready (retried) and nothing answers from it.
    await withinMs(third.whenReady(), 60_000, 'the third gateway');
    const tampered = await traffic(third.url, model);
    expect(tampered.ok).toBe(0);
    expect(tampered.errors).toBeGreaterThan(0);
    expect(Object.keys(tampered.byStatus)).toEqual(['503']);
  }, 120_000);
});

interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

/** A TCP relay on loopback to `target`; close() stops listening and cuts every open connection. */
async function startRelay(target: URL): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}

async function traffic(url: string, model: string) {
  return runTraffic({
    gatewayUrl: url,
    model,
    rps: 20,
    durationMs: 1_500,
    dataset: usualRows(200, 9),
    requestTimeoutMs: 15_000,
  });
}

function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function findFile(dir: string, match: (name: string) => boolean): string {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      try {
        return findFile(path, match);
      } catch {
        continue;
      }
    }
    if (match(entry)) return path;
  }
  throw new Error(`no matching file under ${dir}`);
}
