import { readStackState } from '../devstack/local-stack';
import { MlflowClient } from '../mlflow/client';

/**
 * The MLflow client for a CLI command or worker: MLFLOW_TRACKING_URI (and its auth variables) when
 * set, else the local stack of `prograde dev up` when it runs — the same rule as for Temporal.
 */
export function mlflowClient(env: NodeJS.ProcessEnv = process.env): MlflowClient {
  if (env.MLFLOW_TRACKING_URI === undefined) {
    const stack = readStackState();
    if (stack) return MlflowClient.fromEnv({ ...env, MLFLOW_TRACKING_URI: stack.mlflow.url });
  }
  return MlflowClient.fromEnv(env);
}
