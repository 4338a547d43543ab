import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { temporalConnectFailure, temporalSettings, type TemporalSettings } from '../config/temporal';
import { telemetryOf, tracingClientInterceptors } from '../telemetry';

export interface ConnectedClient {
  readonly client: Client;
  readonly settings: TemporalSettings;
  readonly close: () => Promise<void>;
}

/** A Temporal client from the environment; an unreachable server is a clear TEMPORAL_UNREACHABLE error. */
export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<ConnectedClient> {
  const settings = temporalSettings(env);
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({
      ...(settings.connection as ConnectionOptions),
      connectTimeout: 5_000,
    });
    await connection.workflowService.getSystemInfo({});
  } catch (e) {
    // A channel left open would keep retrying (and the process alive) after the error is reported.
    await connection?.close().catch(() => undefined);
    throw await temporalConnectFailure(settings, e);
  }
  // A traced CLI command (src/telemetry): the workflow calls carry its span's context in their headers.
  const tracing = telemetryOf('prograde-cli');
  const interceptors = tracing ? await tracingClientInterceptors(tracing) : undefined;
  return {
    client: new Client({
      connection,
      namespace: settings.namespace,
      ...(interceptors ? { interceptors } : {}),
    }),
    settings,
    close: () => connection.close(),
  };
}
