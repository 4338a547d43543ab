import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Caller } from './access';
import type { Ticket } from './admission';
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
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

export interface Route {
  /** Segments; `:x` binds a parameter. */
  readonly path: readonly string[];
  readonly methods: Readonly<Partial<Record<'GET' | 'PUT' | 'POST', Handler>>>;
}

function matchRoute(
  routes: readonly Route[],
  parts: readonly string[],
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.path.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = route.path.every((p, i) => {
      const part = parts[i] as string;
      if (p.startsWith(':')) {
        params[p.slice(1)] = part;
        return true;
      }
      return p === part;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/**
 * Finds the route of a request and runs its handler: 404 for an unknown path, 405 with `Allow` for a
 * known path and a wrong method, 204 with `Allow` for OPTIONS; HEAD runs GET. `authorize` runs first
 * with the path's segments, matched or not, so the shape of a protected API (which admin routes and
 * models exist) is hidden from strangers.
 */
export async function dispatch(
  routes: readonly Route[],
  ctx: Omit<Ctx, 'url' | 'params'>,
  authorize: (parts: readonly string[]) => void,
): Promise<void> {
  const { req, res } = ctx;
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://gateway');
  } catch {
    throw new HttpError(400, 'SERVING_URL_INVALID', 'the request target is not a valid URL path');
  }
  const parts = url.pathname.split('/').filter((p) => p !== '');
  authorize(parts);
  const match = matchRoute(routes, parts);
  if (!match)
    throw new HttpError(
      404,
      'SERVING_ROUTE_NOT_FOUND',
      `no route for ${quoted(req.method ?? '')} ${quoted(url.pathname)}`,
    );
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const handler = match.route.methods[method as keyof Route['methods']];
  const allowed = Object.keys(match.route.methods);
  const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
  if (method === 'OPTIONS') {
    res.writeHead(204, { allow });
    res.end();
    return;
  }
  if (!handler)
    throw new HttpError(
      405,
      'SERVING_METHOD_NOT_ALLOWED',
      `method ${quoted(req.method ?? '')} is not allowed on ${quoted(url.pathname)}; allowed: ${allow}`,
      {},
      { headers: { allow } },
    );
  await handler({ ...ctx, url, params: match.params });
}
