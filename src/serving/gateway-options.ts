import type { Logger } from 'pino';
import type { AccessOptions } from './access-files';
import type { BatchingOptions } from './batcher';
import type { GatewayLimits } from './limits';
import type { ModelSource } from './model-source';
import type { RateLimit } from './rate-limit';
import type { RefusalLogOptions } from './refusal-log';
import type { TlsFiles } from './tls';
import type { WindowStatsOptions } from './window-stats';
import type { InlineOptions } from './worker/inline-runner';

/** How a gateway is started (`startGateway` in server.ts; the CLI's `prograde gateway` flags map here). */
export interface GatewayOptions {
  readonly source: ModelSource;
  /** Routing state and audit log live here. */
  readonly stateDir: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** This replica's name in the audit and prediction logs and /v2/health; default `<hostname>:<port>`. */
  readonly replicaId?: string;
  readonly host?: string;
  /**
   * Bearer token of the admin API (actor "admin"); falls back to PROGRADE_GATEWAY_TOKEN. Without it
   * and without `access.adminTokensFile` the admin API answers 503.
   */
  readonly token?: string | undefined;
  /** Inference keys, per-actor admin tokens, /metrics protection, force-variant (all off by default). */
  readonly access?: AccessOptions;
  /** Serve HTTPS with these PEM files (re-read when they change); plain HTTP without. */
  readonly tls?: TlsFiles | undefined;
  /** Bounds on the log lines of refused access (defaults: DEFAULT_REFUSAL_LOG). */
  readonly refusalLog?: Partial<RefusalLogOptions>;
  readonly logger?: Logger;
  /** Inference threads for traffic (default 2) and for shadow copies (default 1). */
  readonly workers?: number;
  readonly shadowWorkers?: number;
  readonly intraOpNumThreads?: number;
  readonly warmupRuns?: number;
  readonly batching?: Partial<BatchingOptions>;
  /** Largest request body accepted, bytes (default 8 MiB); the same as `limits.maxBodyBytes`. */
  readonly maxBodyBytes?: number;
  /** Parse limits, in-flight budgets, timeouts (defaults: DEFAULT_LIMITS in src/serving/limits.ts). */
  readonly limits?: Partial<GatewayLimits>;
  /** Token bucket per model; `perModel` overrides the default for named models. Unset: unlimited. */
  readonly rateLimit?: {
    readonly default?: RateLimit;
    readonly perModel?: Readonly<Record<string, RateLimit>>;
  };
  readonly stats?: Partial<WindowStatsOptions>;
  /** Score threshold for shadow agreement when the stats query does not give one (default 0.5). */
  readonly agreementThreshold?: number;
  readonly maxShadowBacklog?: number;
  /** Pause between attempts to reload a model that failed to restore at boot (default 5 s). */
  readonly restoreRetryMs?: number;
  /** How long close() lets open connections finish before cutting them (default 10 s). */
  readonly shutdownGraceMs?: number;
  /**
   * Inference on the event loop for small requests, in runs whose estimated cost is at most
   * `maxBlockMs` (default 1 ms), on models of at most `maxModelBytes` (default 4 MiB); `maxBlockMs: 0`
   * turns it off. Under concurrency, a batch estimated at `spillMinMs` (default 0.25 ms) or more goes
   * to an idle inference thread instead (inline-lane.ts). See worker/inline-runner.ts. Shadow copies
   * never run inline.
   */
  readonly inline?: Partial<InlineOptions>;
  /** Sampled prediction logging; default off. */
  readonly predictionLog?: { readonly file?: string; readonly sampleRate: number };
}
