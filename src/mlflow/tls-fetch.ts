import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * HTTPS with a trust store of the caller's choosing, and the names of what went wrong in a handshake.
 *
 * Node's global `fetch` cannot take a CA bundle per call (its agent class is not exported on
 * Node 20, and NODE_EXTRA_CA_CERTS is read once at start-up and never reports a bad file), so a
 * client that was given a bundle sends through `TlsTransport`: `node:https` with its own keep-alive
 * agent, answering a standard `Response` so the caller's code is the same either way.
 *
 * Lives with the MLflow client (the lowest layer that makes HTTPS calls); the gateway admin client
 * and the traffic tool reuse it.
 */

export interface TlsTrust {
  /** PEM CA bundle. It replaces the default roots for this client, as Python's `requests` `verify=` does. */
  readonly ca?: string;
  /** PEM client certificate and key, for servers that ask for one (mutual TLS). */
  readonly cert?: string;
  readonly key?: string;
}

/** The part of `RequestInit` prograde's clients use. */
export interface TlsFetchInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | null;
  readonly signal?: AbortSignal | null;
}

// Statuses whose Response must have no body (the Response constructor refuses one).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export class TlsTransport {
  private readonly agent: Agent;

  constructor(trust: TlsTrust) {
    // Idle keep-alive sockets are unref'd by the agent, so they never hold a CLI process open.
    this.agent = new Agent({ keepAlive: true, ...trust });
  }

  /** Like `fetch` for an https URL: resolves with the response head, the body streams. */
  readonly fetch = (url: string, init: TlsFetchInit = {}): Promise<Response> => {
    const target = new URL(url);
    if (target.protocol !== 'https:') {
      return Promise.reject(new TypeError(`TlsTransport only sends https requests, not ${target.protocol}`));
    }
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = { ...init.headers };
    const body = init.body ?? undefined;
    // A length rather than chunked encoding: MLflow's WSGI server reads an upload by its length.
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        target,
        { method, headers, agent: this.agent, ...(init.signal ? { signal: init.signal } : {}) },
        (res) => {
          try {
            resolve(toResponse(res, method));
          } catch (e) {
            res.destroy();
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };

  close(): void {
    this.agent.destroy();
  }
}

function toResponse(res: IncomingMessage, method: string): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) throw new Error(`server answered HTTP status ${status}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const noBody = NULL_BODY.has(status) || method === 'HEAD';
  if (noBody) res.resume();
  const stream = noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
  return new Response(stream, { status, statusText: res.statusMessage ?? '', headers });
}

/** What a failed TLS handshake says about the certificates, in words a person can act on. */
export type CertificateProblem =
  | 'untrusted' // the chain does not lead to a trusted CA
  | 'wrong-host' // the certificate does not name the host dialled
  | 'expired' // outside its validity period
  | 'client-refused' // the server refused us: it wants a (different) client certificate
  | 'not-tls'; // the server does not speak TLS on this port

const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

// gRPC clients report the handshake only as text: grpc-js (OpenSSL's words) and Temporal's Rust
// core (rustls' words) for the CLI client and the worker.
// rustls names are matched case-sensitively as its error variants (`InvalidCertificate(Expired)`), so
// that an unrelated message ("API key expired") is not read as a certificate problem.
const TEXT_PATTERNS: readonly (readonly [RegExp, CertificateProblem])[] = [
  [
    /UnknownIssuer|BadSignature|unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate verify failed/,
    'untrusted',
  ],
  [
    /NotValidForName|Hostname\/IP does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/,
    'wrong-host',
  ],
  [
    /certificate has expired|certificate is not yet valid|InvalidCertificate\((Expired|NotValidYet)/,
    'expired',
  ],
  [
    /CertificateRequired|certificate required|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE_REQUIRED|alert bad certificate|alert unknown ca/,
    'client-refused',
  ],
  [/WRONG_VERSION_NUMBER|wrong version number|InvalidContentType|CorruptMessage/, 'not-tls'],
];

function codeOf(e: Error): string | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function classifyCode(code: string): CertificateProblem | undefined {
  if (UNTRUSTED_CODES.has(code)) return 'untrusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'wrong-host';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'expired';
  if (/ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|HANDSHAKE_FAILURE)/.test(code))
    return 'client-refused';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'not-tls';
  return undefined;
}

/** The certificate problem behind an error, looking through `cause` chains and aggregate errors. */
export function certificateProblem(e: unknown): { problem: CertificateProblem; detail: string } | undefined {
  const queue: unknown[] = [e];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const cur = queue.shift();
    if (!(cur instanceof Error)) continue;
    const code = codeOf(cur);
    const byCode = code ? classifyCode(code) : undefined;
    if (byCode && code) return { problem: byCode, detail: code };
    for (const [pattern, problem] of TEXT_PATTERNS) {
      const hit = pattern.exec(cur.message);
      if (hit) return { problem, detail: hit[0] };
    }
    const nested = (cur as { errors?: unknown }).errors;
    if (Array.isArray(nested)) queue.push(...(nested as unknown[]));
    queue.push(cur.cause);
  }
  return undefined;
}

/** Names of the variables a message should point at. */
export interface TlsVariables {
  /** Where the CA bundle is set, e.g. MLFLOW_TRACKING_SERVER_CERT_PATH. */
  readonly ca: string;
  /** Its value when set: then the bundle itself does not cover the server. */
  readonly caPath?: string | undefined;
  /** Where a client certificate is set, for servers that require one. */
  readonly clientCert?: string;
}

/** One sentence saying what is wrong with the TLS set-up and which variable fixes it. */
export function describeCertificateProblem(
  problem: CertificateProblem,
  detail: string,
  host: string,
  vars: TlsVariables,
): string {
  switch (problem) {
    case 'untrusted':
      return vars.caPath
        ? `certificate not trusted: ${host}'s certificate does not lead to a CA in ${vars.ca}=${vars.caPath} (${detail})`
        : `certificate not trusted: ${host}'s certificate is not signed by a known CA (${detail}); set ${vars.ca} to the CA bundle that signed it`;
    case 'wrong-host':
      return `${host}'s certificate does not name the host dialled (${detail}); connect by a name the certificate lists`;
    case 'expired':
      return `${host}'s certificate is outside its validity period (${detail})`;
    case 'client-refused':
      return `${host} refused the TLS handshake (${detail}); it may require a client certificate${vars.clientCert ? ` (${vars.clientCert})` : ''} signed by a CA it trusts`;
    case 'not-tls':
      return `${host} does not speak TLS on this port (${detail}); use http:// or the server's TLS port`;
  }
}
