import { z } from 'zod';
import { mlflowServerCode } from '../error-codes';
import { CLIENT_CERT_VAR, SERVER_CERT_VAR, type MlflowConfig } from './config';
import { MlflowError, retryClassForStatus } from './errors';
import { DEFAULT_MAX_CONCURRENT_REQUESTS, RequestGate } from './request-gate';
import { TlsTransport, certificateProblem, describeCertificateProblem } from './tls-fetch';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
/** GET parameters; an array repeats the key, which is how MLflow takes lists. */
export type Query = Readonly<Record<string, string | number | readonly string[] | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** A JSON body (objects) or raw bytes (uploads). */
  readonly body?: unknown;
}

const ErrorBody = z.looseObject({ error_code: z.string().min(1), message: z.string().optional() });

const ARTIFACT_FILES = '/api/2.0/mlflow-artifacts/artifacts';

/**
 * A timer that aborts a request when it fires. Re-arming it on every chunk turns it into an idle
 * timeout for downloads, so a large file on a slow link is not cut off while bytes still arrive.
 */
class Deadline {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(private readonly ms: number) {
    this.arm();
  }

  arm(): void {
    this.clear();
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort();
    }, this.ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Low-level errno of a failed fetch; undici nests it in `cause` (sometimes an AggregateError). */
function networkCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur instanceof Error; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const nested = (cur as { errors?: unknown }).errors;
    if (Array.isArray(nested) && nested[0] instanceof Error) {
      const inner = (nested[0] as { code?: unknown }).code;
      if (typeof inner === 'string') return inner;
    }
    cur = cur.cause;
  }
  return undefined;
}

function authHeader(config: MlflowConfig): string | undefined {
  const auth = config.auth;
  if (!auth) return undefined;
  if (auth.kind === 'bearer') return `Bearer ${auth.token}`;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** fetch against one MLflow server: base URL, auth, timeouts, and typed errors. Knows no endpoints. */
export class MlflowHttp {
  /** Set when the server is https and the environment named a CA bundle or client certificate. */
  private readonly tls: TlsTransport | undefined;
  /** The bound on requests in flight (DEFAULT_MAX_CONCURRENT_REQUESTS), and what was sent. */
  readonly gate: RequestGate;

  constructor(readonly config: MlflowConfig) {
    this.tls =
      config.tls && config.baseUrl.startsWith('https:') ? new TlsTransport(config.tls.trust) : undefined;
    this.gate = new RequestGate(config.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS);
  }

  /** Calls a JSON endpoint and validates the answer with `schema`. */
  async json<S extends z.ZodType>(
    method: HttpMethod,
    path: string,
    schema: S,
    options: RequestOptions = {},
  ): Promise<z.output<S>> {
    const release = await this.gate.acquire();
    const deadline = new Deadline(this.config.timeoutMs);
    try {
      const response = await this.send(method, path, options, deadline);
      const text = await this.readText(response, path, deadline);
      let raw: unknown;
      try {
        raw = text.trim() === '' ? {} : JSON.parse(text);
      } catch (cause) {
        throw this.badResponse(path, response.status, `is not JSON: ${text.slice(0, 200)}`, cause);
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success)
        throw this.badResponse(
          path,
          response.status,
          `does not match the expected shape: ${z.prettifyError(parsed.error)}`,
          parsed.error,
        );
      return parsed.data;
    } finally {
      deadline.clear();
      release();
    }
  }

  /** Sends raw bytes (artifact upload); the answer's body is ignored. */
  async put(path: string, bytes: Uint8Array): Promise<void> {
    const release = await this.gate.acquire();
    const deadline = new Deadline(this.config.timeoutMs);
    try {
      const response = await this.send('PUT', path, { body: bytes }, deadline);
      await this.readText(response, path, deadline);
    } finally {
      deadline.clear();
      release();
    }
  }

  /** Streams a response body; the timeout is the longest wait for the next chunk. */
  async *stream(path: string, query?: Query): AsyncGenerator<Uint8Array> {
    // The slot is held until the answer's headers arrive, not while the caller reads the body at its
    // own pace: a consumer that made another request mid-download could otherwise wait on itself.
    let release: (() => void) | undefined = await this.gate.acquire();
    const deadline = new Deadline(this.config.timeoutMs);
    try {
      let response: Response;
      try {
        response = await this.send('GET', path, query ? { query } : {}, deadline);
      } finally {
        release();
        release = undefined;
      }
      if (!response.body) return;
      const reader = response.body.getReader();
      try {
        for (;;) {
          deadline.arm();
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (cause) {
            throw this.transportError(path, cause, deadline);
          }
          if (chunk.done) return;
          yield chunk.value;
        }
      } finally {
        reader.releaseLock();
        if (!deadline.fired) await response.body.cancel().catch(() => undefined);
      }
    } finally {
      deadline.clear();
      release?.();
    }
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.config.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      const values = typeof value === 'string' || typeof value === 'number' ? [String(value)] : value;
      for (const v of values) url.searchParams.append(key, v);
    }
    return url.toString();
  }

  private async send(
    method: HttpMethod,
    path: string,
    options: RequestOptions,
    deadline: Deadline,
  ): Promise<Response> {
    // Artifact files by their endpoint, not by their path: a count per kind of call.
    const artifact = path.startsWith(`${ARTIFACT_FILES}/`);
    this.gate.count(`${method} ${artifact ? `${ARTIFACT_FILES}/…` : path}`);
    const headers: Record<string, string> = { accept: 'application/json' };
    const auth = authHeader(this.config);
    if (auth) headers['authorization'] = auth;
    let body: string | Uint8Array | undefined;
    if (options.body instanceof Uint8Array) {
      body = options.body;
      headers['content-type'] = 'application/octet-stream';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    let response: Response;
    try {
      const init = { method, headers, body: body ?? null, signal: deadline.controller.signal };
      const url = this.url(path, options.query);
      response = await (this.tls ? this.tls.fetch(url, init) : fetch(url, init));
    } catch (cause) {
      throw this.transportError(path, cause, deadline);
    }
    if (!response.ok) throw await this.statusError(response, path, deadline);
    return response;
  }

  private async readText(response: Response, path: string, deadline: Deadline): Promise<string> {
    try {
      return await response.text();
    } catch (cause) {
      throw this.transportError(path, cause, deadline);
    }
  }

  private async statusError(response: Response, path: string, deadline: Deadline): Promise<MlflowError> {
    const text = await this.readText(response, path, deadline).catch(() => '');
    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(text);
    } catch {
      parsedBody = undefined;
    }
    const body = ErrorBody.safeParse(parsedBody);
    const retry = retryClassForStatus(response.status);
    const status = response.status;
    if (body.success) {
      const serverErrorCode = body.data.error_code;
      const msg = body.data.message ?? serverErrorCode;
      return new MlflowError({
        code: mlflowServerCode(serverErrorCode),
        message: `MLflow ${path} failed (${status}): ${msg}`,
        retry,
        endpoint: path,
        status,
        serverErrorCode,
      });
    }
    return new MlflowError({
      code: 'MLFLOW_HTTP_ERROR',
      message: `MLflow ${path} failed with HTTP ${status}: ${text.slice(0, 200) || response.statusText}`,
      retry,
      endpoint: path,
      status,
    });
  }

  private transportError(path: string, cause: unknown, deadline: Deadline): MlflowError {
    if (cause instanceof MlflowError) return cause;
    const base = this.config.baseUrl;
    if (deadline.fired) {
      return new MlflowError({
        code: 'MLFLOW_TIMEOUT',
        message: `MLflow at ${base} did not answer ${path} within ${this.config.timeoutMs} ms (PROGRADE_MLFLOW_TIMEOUT_MS)`,
        retry: 'retryable',
        endpoint: path,
        details: { baseUrl: base, timeoutMs: this.config.timeoutMs },
        cause,
      });
    }
    const tls = certificateProblem(cause);
    if (tls) {
      const why = describeCertificateProblem(tls.problem, tls.detail, new URL(base).host, {
        ca: SERVER_CERT_VAR,
        caPath: this.config.tls?.caPath,
        clientCert: CLIENT_CERT_VAR,
      });
      return new MlflowError({
        code: 'MLFLOW_TLS_FAILED',
        message: `Cannot reach MLflow at ${base} calling ${path}: ${why}`,
        retry: 'terminal',
        endpoint: path,
        details: { baseUrl: base, tlsProblem: tls.problem, tlsDetail: tls.detail },
        cause,
      });
    }
    const code = networkCode(cause);
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : (code ?? (cause instanceof Error ? cause.message : String(cause)));
    return new MlflowError({
      code: 'MLFLOW_UNREACHABLE',
      message: `Cannot reach MLflow at ${base} (${why} calling ${path}); check MLFLOW_TRACKING_URI and that the MLflow server is running`,
      retry: 'retryable',
      endpoint: path,
      details: { baseUrl: base, networkCode: code },
      cause,
    });
  }

  private badResponse(path: string, status: number, what: string, cause: unknown): MlflowError {
    return new MlflowError({
      code: 'MLFLOW_BAD_RESPONSE',
      message: `MLflow ${path} answer ${what}`,
      retry: 'terminal',
      endpoint: path,
      status,
      cause,
    });
  }
}
