import { readStackState } from '../devstack/local-stack';

/** Base URL of the Temporal Web UI: PROGRADE_TEMPORAL_UI_URL, else the local stack's, else the default. */
export function temporalUiBase(env: NodeJS.ProcessEnv = process.env): string {
  return env.PROGRADE_TEMPORAL_UI_URL ?? (readStackState()?.temporal.uiUrl || 'http://localhost:8233');
}
