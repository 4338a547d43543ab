import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the real MLflow server the integration run started, e.g. http://127.0.0.1:41234 */
    mlflowUri: string;
    /** host:port of the real Temporal dev server the integration run started. */
    temporalAddress: string;
    /** Temporal Web UI base URL of the test server, e.g. http://localhost:41235 */
    temporalUiUrl: string;
    /** Temporal namespace to use (the dev server's `default`). */
    temporalNamespace: string;
    /** Scratch folder of this test run (servers' data lives under it). */
    stackDir: string;
    /** Process id of the `mlflow server` the integration run started (the root of its process tree). */
    mlflowPid: number;
  }
}

export const stack = {
  mlflowUri: (): string => inject('mlflowUri'),
  temporalAddress: (): string => inject('temporalAddress'),
  temporalNamespace: (): string => inject('temporalNamespace'),
  temporalUiUrl: (): string => inject('temporalUiUrl'),
  stackDir: (): string => inject('stackDir'),
  mlflowPid: (): number => inject('mlflowPid'),
};
