import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { sampleModel, type ModelVariant } from '../../src/samples/models';
import { GatewayAdminClient } from '../../src/serving/admin-client';
import { writeModelVersion } from '../../src/serving/model-directory';
import { DirectoryModelSource } from '../../src/serving/model-source';
import { startGateway, type GatewayHandle } from '../../src/serving/server';

export interface SampleGateway {
  readonly gw: GatewayHandle;
  readonly admin: GatewayAdminClient;
  close(): Promise<void>;
}

/**
 * A real gateway serving sample model versions from a models folder in a temp dir — no MLflow —
 * for tests of the gateway's consumers (traffic, watch loops). `versions` maps a version to a
 * sample variant and optional seed.
 */
export async function startSampleGateway(
  prefix: string,
  model: string,
  versions: Readonly<Record<string, ModelVariant | { variant: ModelVariant; seed: number }>>,
  token: string,
): Promise<SampleGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), `prograde-${prefix}-`));
  const models = path.join(dir, 'models');
  for (const [version, v] of Object.entries(versions)) {
    const bytes = typeof v === 'string' ? sampleModel(v) : sampleModel(v.variant, { seed: v.seed });
    await writeModelVersion(models, model, version, bytes);
  }
  const gw = await startGateway({
    source: new DirectoryModelSource(models),
    stateDir: path.join(dir, 'state'),
    token,
    logger: pino({ level: 'silent' }),
  });
  await gw.whenReady();
  return {
    gw,
    admin: new GatewayAdminClient({ baseUrl: gw.url, token }),
    close: async () => {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
