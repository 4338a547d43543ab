import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { mlflowAnswers, startMlflowServer } from './mlflow-server';
import { isAlive, stopProcessGroup } from './service';
import { temporalAnswers, startTemporalServer } from './temporal-server';
import { repoRoot } from './tools';

/**
 * The embedded local stack behind `prograde dev up|down|status`: a Temporal dev server and an MLflow
 * server, detached, with all state under `.data/`. What `up` started is written to `.data/stack.json`
 * so `down` stops exactly those processes and nothing else.
 */
const StackState = z.object({
  temporal: z.object({ pid: z.number(), address: z.string(), uiUrl: z.string(), logFile: z.string() }),
  mlflow: z.object({ pid: z.number(), url: z.string(), logFile: z.string() }),
  startedAt: z.string(),
});
export type StackState = z.infer<typeof StackState>;

export const dataDir = (): string => process.env.PROGRADE_DATA_DIR ?? join(repoRoot, '.data');
const stateFile = (): string => join(dataDir(), 'stack.json');

export function readStackState(): StackState | undefined {
  if (!existsSync(stateFile())) return undefined;
  const parsed = StackState.safeParse(JSON.parse(readFileSync(stateFile(), 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

function writeStackState(state: StackState): void {
  const tmp = `${stateFile()}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, stateFile());
}

export interface StackHealth {
  readonly state: StackState;
  readonly temporal: boolean;
  readonly mlflow: boolean;
}

export async function stackHealth(state = readStackState()): Promise<StackHealth | undefined> {
  if (!state) return undefined;
  const [temporal, mlflow] = await Promise.all([
    isAlive(state.temporal.pid) && temporalAnswers(state.temporal.address).catch(() => false),
    isAlive(state.mlflow.pid) && mlflowAnswers(state.mlflow.url).catch(() => false),
  ]);
  return { state, temporal, mlflow };
}

/** Starts whatever is not already running; returns the running stack. Idempotent. */
export async function stackUp(log: (line: string) => void): Promise<StackState> {
  const health = await stackHealth();
  if (health?.temporal && health.mlflow) {
    log('local stack already running');
    return health.state;
  }
  if (health) await stackDown(() => undefined);
  const root = dataDir();
  mkdirSync(join(root, 'temporal'), { recursive: true });
  mkdirSync(join(root, 'mlflow'), { recursive: true });
  log('starting Temporal dev server and MLflow server…');
  const [temporal, mlflow] = await Promise.all([
    startTemporalServer({ dataDir: join(root, 'temporal'), port: 7233, uiPort: 8233, detached: true }),
    startMlflowServer({ dataDir: join(root, 'mlflow'), port: 5000, detached: true }),
  ]);
  const state: StackState = {
    temporal: {
      pid: temporal.process.pid,
      address: temporal.address,
      uiUrl: temporal.uiUrl ?? '',
      logFile: temporal.process.logFile,
    },
    mlflow: { pid: mlflow.process.pid, url: mlflow.url, logFile: mlflow.process.logFile },
    startedAt: new Date().toISOString(),
  };
  writeStackState(state);
  return state;
}

/** Stops only the processes recorded by `up`. */
export async function stackDown(log: (line: string) => void): Promise<boolean> {
  const state = readStackState();
  if (!state) {
    log('no local stack recorded in .data/stack.json; nothing to stop');
    return false;
  }
  await Promise.all([stopProcessGroup(state.temporal.pid), stopProcessGroup(state.mlflow.pid)]);
  rmSync(stateFile(), { force: true });
  log(
    `stopped Temporal (pid ${state.temporal.pid}) and MLflow (pid ${state.mlflow.pid}); data kept in ${dataDir()}`,
  );
  return true;
}

/** Environment a client of the local stack needs. */
export function stackEnv(state: StackState): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: state.temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    MLFLOW_TRACKING_URI: state.mlflow.url,
  };
}
