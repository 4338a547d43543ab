import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Caller } from './access';
import type { Ticket } from './admission';
import { sendText } from './answers';
import { HttpError, quoted } from './http-util';

/** One request being served: the parsed URL, its path parameters and what it holds of the budgets. */
export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Raw path segments bound to `:name` parts of the route (decode with `pathName`). */
  readonly params: Readonly<Record<string, string>>;
  readonly ticket: Ticket;
  /** The request's id: echoed in `x-request-id`, written to logs and the prediction log. */
  readonly requestId: string;
  /** Who sent it, from its bearer token (authorization has already passed for this path). */
  readonly caller: Caller;
  /** A query parameter (null when absent); a target without a query is not parsed as a URL for it. */
  query(name: string): string | null;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

export interface Route {
  /** Segments; `:x` binds a parameter. */
  readonly path: readonly string[];
  readonly methods: Readonly<Partial<Record<'GET' | 'PUT' | 'POST', Handler>>>;
}

/**
 * Request targets made of plain segments only (no query, no percent-escape, no `.`/`..` segment, no
 * empty segment, no backslash): their path is the target itself, so the per-request `new URL` (a
 * measurable share of the event loop with 1-row bodies) is skipped. Anything else goes through URL.
 */
const PLAIN_TARGET = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

/**
 * One request's context. The URL is parsed on first use only: the inference routes read no query
 * unless the target has one.
 */
class RequestCtx implements Ctx {
  private parsedUrl: URL | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly ticket: Ticket,
    readonly requestId: string,
    readonly caller: Caller,
    readonly params: Readonly<Record<string, string>>,
  ) {}

  get url(): URL {
    this.parsedUrl ??= new URL(this.req.url ?? '/', 'http://gateway');
    return this.parsedUrl;
  }

  query(name: string): string | null {
    return this.req.url?.includes('?') ? this.url.searchParams.get(name) : null;
  }
}

/** The path segments of a request target (400 when it is no valid URL path). */
function pathParts(target: string): { parts: string[]; pathname: string } {
  if (PLAIN_TARGET.test(target)) return { parts: target.slice(1).split('/'), pathname: target };
  let url: URL;
  try {
    url = new URL(target, 'http://gateway');
  } catch {
    throw new HttpError(400, 'SERVING_URL_INVALID', 'the request target is not a valid URL path');
  }
  return { parts: url.pathname.split('/').filter((p) => p !== ''), pathname: url.pathname };
}

/** A route with what is derived from it once, not per request: its `Allow` value, its parameters. */
interface CompiledRoute {
  readonly route: Route;
  readonly allow: string;
  /** Index of each segment that binds a parameter, and the parameter's name. */
  readonly binds: readonly (readonly [number, string])[];
}

/** The first route whose segments match (a plain loop: this runs for every request). */
function matchRoute(
  routes: readonly CompiledRoute[],
  parts: readonly string[],
): { compiled: CompiledRoute; params: Record<string, string> } | undefined {
  for (const compiled of routes) {
    const path = compiled.route.path;
    if (path.length !== parts.length) continue;
    let ok = true;
    for (let i = 0; i < path.length && ok; i++) {
      const p = path[i] as string;
      ok = p.charCodeAt(0) === 58 /* ':' */ || p === parts[i];
    }
    if (!ok) continue;
    const params: Record<string, string> = {};
    for (const [i, name] of compiled.binds) params[name] = parts[i] as string;
    return { compiled, params };
  }
  return undefined;
}

/** The routes prepared for `dispatch`. */
export function compileRoutes(routes: readonly Route[]): readonly CompiledRoute[] {
  return routes.map((route) => {
    const allowed = Object.keys(route.methods);
    const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    const binds = route.path.flatMap((p, i) => (p.startsWith(':') ? [[i, p.slice(1)] as const] : []));
    return { route, allow, binds };
  });
}

/**
 * Finds the route of a request and runs its handler: 404 for an unknown path, 405 with `Allow` for a
 * known path and a wrong method, 204 with `Allow` for OPTIONS; HEAD runs GET. `authorize` runs first
 * with the path's segments, matched or not, so the shape of a protected API (which admin routes and
 * models exist) is hidden from strangers.
 */
export function dispatch(
  routes: readonly CompiledRoute[],
  ctx: Omit<Ctx, 'url' | 'params' | 'query'>,
  authorize: (caller: Caller, parts: readonly string[]) => void,
): Promise<void> | void {
  const { req, res } = ctx;
  const { parts, pathname } = pathParts(req.url ?? '/');
  authorize(ctx.caller, parts);
  const match = matchRoute(routes, parts);
  if (!match)
    throw new HttpError(
      404,
      'SERVING_ROUTE_NOT_FOUND',
      `no route for ${quoted(req.method ?? '')} ${quoted(pathname)}`,
    );
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const { route, allow } = match.compiled;
  const handler = route.methods[method as keyof Route['methods']];
  if (method === 'OPTIONS') {
    sendText(res, 204, '', { allow });
    return;
  }
  if (!handler)
    throw new HttpError(
      405,
      'SERVING_METHOD_NOT_ALLOWED',
      `method ${quoted(req.method ?? '')} is not allowed on ${quoted(pathname)}; allowed: ${allow}`,
      {},
      { headers: { allow } },
    );
  return handler(new RequestCtx(req, res, ctx.ticket, ctx.requestId, ctx.caller, match.params));
}
