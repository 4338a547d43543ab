import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AccessControl, Caller } from './access';
import { openAccess, type AccessOptions } from './access-files';
import type { HttpError } from './http-util';
import type { GatewayMetrics } from './metrics';
import { RefusalLog, type RefusalLogOptions } from './refusal-log';
import { openTls, type TlsFiles, type TlsPair } from './tls';

/**
 * The gateway's security set-up in one place: who is let in (credentials, re-read as they rotate),
 * the TLS certificate (re-read as it is renewed) and the log of refused access.
 */

export interface SecurityOptions {
  /** The single admin token (actor "admin"). */
  readonly token?: string | undefined;
  readonly access?: AccessOptions | undefined;
  readonly tls?: TlsFiles | undefined;
  readonly refusalLog?: Partial<RefusalLogOptions> | undefined;
}

/** What the refusal path knows of a request besides the request itself. */
export interface RequestSeen {
  readonly requestId: string;
  readonly caller: Caller;
}

export interface Security {
  readonly access: AccessControl;
  /** The certificate and key to serve with; undefined for plain HTTP. */
  readonly tls: TlsPair | undefined;
  /** Where a renewed certificate goes (the listener's), once there is one. */
  onTlsReload(apply: (pair: TlsPair) => void): void;
  /** Logs a refused access (401, 403, disabled admin API), rate-limited; other errors are ignored. */
  noteRefusal(req: IncomingMessage, error: HttpError, seen: RequestSeen): void;
  close(): void;
}

function callerLabel(caller: Caller): string {
  if (caller.kind === 'admin') return `admin ${caller.actor}`;
  if (caller.kind === 'inference') return `inference key ${caller.key}`;
  return caller.kind;
}

/** Opens credentials and certificate files, refusing to start on a bad one. */
export async function openSecurity(
  options: SecurityOptions,
  logger: Logger,
  metrics: GatewayMetrics,
): Promise<Security> {
  const access = await openAccess(options.token, options.access ?? {}, logger, metrics);
  let applyTls: ((pair: TlsPair) => void) | undefined;
  let tls;
  try {
    tls = options.tls
      ? await openTls(options.tls, {
          intervalMs: options.access?.reloadIntervalMs ?? 1_000,
          logger,
          onReload: (pair) => applyTls?.(pair),
        })
      : undefined;
  } catch (e) {
    access.close();
    throw e;
  }
  const refusals = new RefusalLog(logger, options.refusalLog);
  return {
    access: access.control,
    tls: tls?.current,
    onTlsReload: (apply) => {
      applyTls = apply;
    },
    noteRefusal: (req, error, seen) => {
      if (!(error.status === 401 || error.status === 403 || error.code === 'SERVING_ADMIN_DISABLED')) return;
      refusals.note({
        remote: req.socket.remoteAddress ?? 'unknown',
        method: (req.method ?? '').slice(0, 16),
        path: (req.url ?? '').split('?')[0]?.slice(0, 200) ?? '',
        status: error.status,
        code: error.code,
        requestId: seen.requestId,
        caller: callerLabel(seen.caller),
      });
    },
    close: () => {
      access.close();
      tls?.close();
      refusals.close();
    },
  };
}
