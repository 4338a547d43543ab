import type { TrafficSummary } from './run';

/**
 * What a finished traffic run says about itself, for the CLI's exit code:
 * - `unreachable`: no request got any answer: the gateway is down or the URL is wrong.
 * - `all-failed`:  requests were sent and none succeeded; the gateway answered (some of) them with
 *                  errors, e.g. HTTP 400 for a request the model cannot take.
 * - `ok`:          at least one request succeeded; `warning` is set when most of them failed.
 * Requests we aborted ourselves (Ctrl-C) count neither way.
 */
export type TrafficVerdict =
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'all-failed'; readonly message: string }
  | { readonly kind: 'ok'; readonly warning?: string };

export function trafficVerdict(s: TrafficSummary): TrafficVerdict {
  const judged = s.ok + s.errors;
  if (judged === 0) return { kind: 'ok' };
  const cause = s.topErrors.map((e) => `${e.count}× ${e.status}: ${e.message}`).join('; ');
  if (s.ok === 0) {
    const network = s.byStatus['network'] ?? 0;
    if (network === judged)
      return { kind: 'unreachable', message: `no request got an answer from ${s.target} (${cause})` };
    return { kind: 'all-failed', message: `all ${judged} requests failed (${cause})` };
  }
  if (s.errors * 2 > judged)
    return { kind: 'ok', warning: `${s.errors} of ${judged} requests failed (${cause})` };
  return { kind: 'ok' };
}
