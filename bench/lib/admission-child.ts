/**
 * Child-process entry: one serving gateway for the admission benchmark (bench/admission.ts). Models
 * load from a folder; the registry that answers "does this model exist?" is an MLflow address that
 * accepts connections and never answers (a frozen registry), so every unknown model name in the
 * flood meets the lookup timeout, cap and negative cache. argv[2] is a JSON AdmissionChildConfig.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { z } from 'zod';
import { ModelCache } from '../../src/mlflow/cache';
import { MlflowClient } from '../../src/mlflow/client';
import { MlflowModelSource } from '../../src/serving/mlflow-source';
import { DirectoryModelSource, type ModelSource } from '../../src/serving/model-source';
import { startGateway } from '../../src/serving/server';

export const AdmissionChildConfig = z.strictObject({
  modelsRoot: z.string(),
  stateDir: z.string(),
  token: z.string().min(1),
  frozenRegistryUrl: z.string(),
  limits: z.record(z.string(), z.number()),
});
export type AdmissionChildConfig = z.infer<typeof AdmissionChildConfig>;

export const AdmissionChildReady = z.object({ kind: z.literal('ready'), url: z.string(), port: z.number() });

/** Event-loop delay of the gateway since the last `{kind: 'eld-reset'}`, ms, on `{kind: 'eld-read'}`. */
export const EventLoopDelay = z.object({
  kind: z.literal('eld'),
  p50: z.number(),
  p99: z.number(),
  max: z.number(),
});
export type EventLoopDelay = z.infer<typeof EventLoopDelay>;

async function main(): Promise<void> {
  const config = AdmissionChildConfig.parse(JSON.parse(process.argv[2] ?? ''));
  const directory = new DirectoryModelSource(config.modelsRoot);
  const client = new MlflowClient({ baseUrl: config.frozenRegistryUrl, timeoutMs: 30_000 });
  const registry = new MlflowModelSource(client, new ModelCache(client, `${config.stateDir}/cache`));
  const source: ModelSource = {
    description: 'models folder, frozen registry for lookups',
    load: (model, version) => directory.load(model, version),
    hasModel: (model) => registry.hasModel(model),
  };
  const handle = await startGateway({
    source,
    stateDir: config.stateDir,
    host: '127.0.0.1',
    port: 0,
    token: config.token,
    logger: pino({ name: 'bench-admission', level: 'warn' }, pino.destination(2)),
    limits: config.limits,
  });
  await handle.whenReady();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void handle.close().then(() => process.exit(0));
  };
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  process.on('message', (m: unknown) => {
    const kind = z.object({ kind: z.string() }).safeParse(m).data?.kind;
    if (kind === 'stop') stop();
    else if (kind === 'eld-reset') eld.reset();
    else if (kind === 'eld-read')
      process.send?.({
        kind: 'eld',
        p50: eld.percentile(50) / 1e6,
        p99: eld.percentile(99) / 1e6,
        max: eld.max / 1e6,
      });
  });
  process.on('disconnect', stop);
  process.send?.({ kind: 'ready', url: handle.url, port: handle.port });
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
