/**
 * Child-process entry: runs one serving gateway for the gateway benchmark, so its CPU and memory are
 * its own and the load comes from another process. argv[2] is a JSON GatewayChildConfig. Sends
 * `{kind: 'ready', url}` once listening and restored; closes the gateway on `{kind: 'stop'}` or when
 * the parent goes away.
 */
import pino from 'pino';
import { z } from 'zod';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway } from '../../src/serving/server';

export const GatewayChildConfig = z.strictObject({
  modelsRoot: z.string(),
  stateDir: z.string(),
  token: z.string().min(1),
  maxBatchSize: z.number().int().min(1),
  maxWaitMs: z.number().min(0),
});
export type GatewayChildConfig = z.infer<typeof GatewayChildConfig>;

export const ChildReady = z.object({ kind: z.literal('ready'), url: z.string() });

async function main(): Promise<void> {
  const config = GatewayChildConfig.parse(JSON.parse(process.argv[2] ?? ''));
  const handle = await startGateway({
    source: new DirectoryModelSource(config.modelsRoot),
    stateDir: config.stateDir,
    host: '127.0.0.1',
    port: 0,
    token: config.token,
    // Warnings and errors only: per-request logging would be part of what is measured.
    logger: pino({ name: 'bench-gateway', level: 'warn' }, pino.destination(2)),
    batching: { maxBatchSize: config.maxBatchSize, maxWaitMs: config.maxWaitMs },
  });
  await handle.whenReady();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void handle.close().then(() => process.exit(0));
  };
  process.on('message', (m: unknown) => {
    if (z.object({ kind: z.literal('stop') }).safeParse(m).success) stop();
  });
  process.on('disconnect', stop);
  process.send?.({ kind: 'ready', url: handle.url });
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
