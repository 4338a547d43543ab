import { ProgradeError, type ErrorCode, type RetryClass } from '../errors';

export interface MlflowErrorInit {
  readonly code: ErrorCode;
  readonly message: string;
  readonly retry: RetryClass;
  /** The path called, e.g. `/api/2.0/mlflow/registered-models/get`. */
  readonly endpoint: string;
  /** HTTP status, or undefined when no response arrived. */
  readonly status?: number;
  /** The server's own `error_code`, when its answer carried one. */
  readonly serverErrorCode?: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/**
 * An MLflow call that failed. `code` is `MLFLOW_<error_code>` for the errors the server is known to
 * report (e.g. `MLFLOW_RESOURCE_DOES_NOT_EXIST`) and `MLFLOW_SERVER_ERROR` for any other (the
 * server's code is in `serverErrorCode`; see `mlflowServerCode`), or one of `MLFLOW_UNREACHABLE`,
 * `MLFLOW_TIMEOUT`, `MLFLOW_HTTP_ERROR` (status in `status`), `MLFLOW_BAD_RESPONSE` for failures
 * around the call.
 */
export class MlflowError extends ProgradeError {
  override readonly name = 'MlflowError';
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly serverErrorCode: string | undefined;

  constructor(init: MlflowErrorInit) {
    super(
      init.code,
      init.message,
      init.retry,
      {
        endpoint: init.endpoint,
        status: init.status,
        serverErrorCode: init.serverErrorCode,
        ...init.details,
      },
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.endpoint = init.endpoint;
    this.status = init.status;
    this.serverErrorCode = init.serverErrorCode;
  }
}

/** Server overload and transient failures are worth retrying; any other 4xx means the request is wrong. */
export function retryClassForStatus(status: number): RetryClass {
  return status >= 500 || status === 429 || status === 408 ? 'retryable' : 'terminal';
}

export function isMlflowNotFound(e: unknown): boolean {
  return e instanceof MlflowError && e.code === 'MLFLOW_RESOURCE_DOES_NOT_EXIST';
}
