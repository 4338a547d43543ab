import type { AuditEntry } from '../promotion/state';
import type { GateVerdict, VerdictStatus } from '../promotion/verdict';

/**
 * The rollout of one attempt over time, read from its audit trail and verdicts: the candidate's
 * traffic weight after each routing change, each live verdict (shadow, every canary step), and the
 * moments that changed course (rollback, pause, extension, promote --full).
 *
 * Weights are read from the routing entries the workflow writes (src/workflows/live.ts:
 * `g<n>: canary v<c> at <w>% …`, `g<n>: shadow …`, `g<n>: stable v<c> at 100%…`, `g<n>: rollback to …`);
 * test/unit/report-html.test.ts pins those forms.
 */
export interface RolloutTimeline {
  readonly weights: readonly { readonly at: number; readonly weight: number; readonly text: string }[];
  readonly verdicts: readonly {
    readonly at: number;
    readonly gate: string;
    readonly status: VerdictStatus;
    readonly summary: string;
    readonly weight: number;
  }[];
  readonly markers: readonly {
    readonly at: number;
    readonly kind: 'rollback' | 'pause' | 'extension' | 'promote-full';
    readonly text: string;
  }[];
}

const LIVE_GATES = new Set(['shadow', 'canary']);

/** The candidate's weight a routing entry sets, or undefined when it does not change it. */
export function weightOf(message: string, candidate: string): number | undefined {
  const canary = /^g\d+: canary v\S+ at (\d+(?:\.\d+)?)%/.exec(message);
  if (canary) return Number(canary[1]);
  if (/^g\d+: (shadow|rollback to) /.test(message)) return 0;
  const stable = /^g\d+: stable v(\S+) at 100%/.exec(message);
  if (stable) return stable[1] === candidate ? 100 : 0;
  return undefined;
}

export function rolloutTimeline(r: {
  readonly candidateVersion: string;
  readonly gates: readonly GateVerdict[];
  readonly audit: readonly AuditEntry[];
}): RolloutTimeline {
  const weights: { at: number; weight: number; text: string }[] = [];
  const verdicts: RolloutTimeline['verdicts'][number][] = [];
  const markers: RolloutTimeline['markers'][number][] = [];
  const seen = new Map<string, number>();
  let weight = 0;
  for (const a of r.audit) {
    const at = Date.parse(a.at);
    if (!Number.isFinite(at)) continue;
    if (a.kind === 'routing') {
      const w = weightOf(a.message, r.candidateVersion);
      if (w !== undefined) {
        weight = w;
        weights.push({ at, weight: w, text: a.message });
      }
      if (/^g\d+: rollback to /.test(a.message)) markers.push({ at, kind: 'rollback', text: a.message });
    } else if (a.kind.startsWith('gate:')) {
      const gate = a.kind.slice('gate:'.length);
      const k = seen.get(gate) ?? 0;
      seen.set(gate, k + 1);
      if (!LIVE_GATES.has(gate)) continue;
      const verdict = r.gates.filter((g) => g.gate === gate)[k];
      if (verdict) verdicts.push({ at, gate, status: verdict.status, summary: verdict.summary, weight });
    } else if (a.kind === 'paused') markers.push({ at, kind: 'pause', text: a.message });
    else if (a.kind === 'canary-extended') markers.push({ at, kind: 'extension', text: a.message });
    else if (a.kind === 'promote-full') markers.push({ at, kind: 'promote-full', text: a.message });
  }
  return { weights, verdicts, markers };
}
