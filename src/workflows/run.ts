import { log, patched, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { GateVerdict } from '../promotion/verdict';
import { PhaseAttr } from '../promotion/search-attributes';
import { clip } from './payloads';
import type {
  AuditEntry,
  LiveState,
  Outcome,
  Phase,
  PromotionInput,
  PromotionState,
  SignedDecisionRecord,
} from '../promotion/state';

export type Activities = ReturnType<typeof activities.createActivities>;

// Activity options. Each module proxies the activities it calls by name with these, as in
// temporalio/samples-typescript. Infrastructure errors (MLflow or gateway down, timeouts) are retried
// with backoff; ProgradeErrors marked terminal arrive as non-retryable ApplicationFailures and end the
// attempt at once.

/** Short calls to a service: MLflow, the gateway's routing, the rollout-lock workflow. */
export const serviceOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
} as const;
/** Downloading models and running the offline gates: long, and heartbeating. */
export const evaluationOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;

/**
 * Changes of the command sequence, each behind a patch so that promotions already in flight when a
 * new worker is deployed replay as they ran (test/unit/workflow-replay.test.ts). Each is decided once,
 * at the start: `patched()` answers false while an old history replays but true once the same run
 * goes on live, and one run must not switch behaviour halfway.
 */
export interface Features {
  /** One live rollout per (model, target): the rollout lock (rollout-lock.ts). */
  readonly rolloutLock: boolean;
  /** Abort, promote --full and pause end every wait at once (approval, timed pause, offline gates). */
  readonly promptControls: boolean;
  /** A candidate that is already @champion ends promoted at once, writing nothing. */
  readonly alreadyPromoted: boolean;
  /**
   * Decisions are signed and verified against the worker's trust file (loaded by an activity at the
   * start), or the spec says `identity: unverified`; operators come from the spec's `operators` and
   * none means nobody. Before: names were typed and anyone named could operate a spec without approvers.
   */
  readonly signedDecisions: boolean;
  /**
   * A rollback whose routing change is refused for good ends the promotion as failed (reason: the
   * routing left serving) and keeps trying to restore the champion while that is safe. Before: the
   * refusal failed the workflow itself, with no outcome recorded (chaos finding F4).
   */
  readonly rollbackSettles: boolean;
}

export const PATCHES = {
  rolloutLock: 'one-live-rollout-per-target',
  promptControls: 'controls-end-every-wait',
  alreadyPromoted: 'already-champion-ends-promoted',
  signedDecisions: 'signed-decisions',
  rollbackSettles: 'rollback-always-ends-with-an-outcome',
} as const;

function decideFeatures(): Features {
  return {
    rolloutLock: patched(PATCHES.rolloutLock),
    promptControls: patched(PATCHES.promptControls),
    alreadyPromoted: patched(PATCHES.alreadyPromoted),
    signedDecisions: patched(PATCHES.signedDecisions),
    rollbackSettles: patched(PATCHES.rollbackSettles),
  };
}

/** Audit entries for ignored signals stop here; later ones are only counted (a flood must not bloat state). */
const MAX_IGNORED_SIGNAL_ENTRIES = 20;

/** Ends the promotion early with a decided outcome; caught once at the top of the workflow. */
export class Stop extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * The running promotion's state and the few ways the workflow changes it. Every change goes
 * through here so the status query, the UI's current details and the search attributes agree.
 */
export class PromotionRun {
  state: PromotionState;
  readonly input: PromotionInput;
  readonly features: Features;

  constructor(input: PromotionInput) {
    const info = workflowInfo();
    const { spec } = input;
    this.input = input;
    this.features = decideFeatures();
    this.state = {
      workflowId: info.workflowId,
      model: spec.model,
      candidate: { version: input.candidateVersion },
      champion: undefined,
      phase: 'resolving',
      gates: [],
      approval: { required: spec.approval.required, approvers: spec.approval.approvers },
      audit: [],
      specFile: input.specFile,
      specSha256: input.specSha256,
      requestedBy: input.requestedBy,
      operators: spec.approval.approvers,
    };
    if (this.features.signedDecisions) {
      // `?? 'verified'`: a spec parsed by an older CLI has no such field, and verified is the default.
      const mode = spec.identity ?? 'verified';
      this.state = {
        ...this.state,
        operators: spec.operators ?? [],
        identity: mode === 'verified' ? { mode, people: [] } : { mode },
        decisions: [],
      };
    }
  }

  /** Records an accepted signed decision (history, the report, and later the MLflow version). */
  recordSigned(record: SignedDecisionRecord): void {
    this.state = { ...this.state, decisions: [...(this.state.decisions ?? []), record] };
  }

  get spec(): PromotionInput['spec'] {
    return this.input.spec;
  }

  now(): string {
    return new Date().toISOString();
  }

  update(patch: Partial<PromotionState>): void {
    this.state = { ...this.state, ...patch };
  }

  updateLive(patch: Partial<LiveState>): void {
    const base: LiveState = this.state.live ?? { generation: null, weight: 0, step: null, steps: 0 };
    this.state = { ...this.state, live: { ...base, ...patch } };
    this.refreshDetails();
  }

  audit(kind: string, message: string, by?: string): void {
    const entry: AuditEntry =
      by === undefined ? { at: this.now(), kind, message } : { at: this.now(), kind, message, by };
    this.state = { ...this.state, audit: [...this.state.audit, entry] };
  }

  /**
   * A signal that cannot be obeyed (malformed, unknown, or refused by the rules): recorded and
   * otherwise ignored, since a signal, unlike an update, cannot be refused to its sender.
   */
  ignoreSignal(signal: string, problem: string, by?: string): void {
    const count = (this.state.ignoredSignals ?? 0) + 1;
    this.state = { ...this.state, ignoredSignals: count };
    log.warn('ignored signal', { signal: clip(signal, 100), problem });
    if (count > MAX_IGNORED_SIGNAL_ENTRIES) return;
    const more = count === MAX_IGNORED_SIGNAL_ENTRIES ? ' (later ignored signals are only counted)' : '';
    this.audit(
      'ignored-signal',
      `${clip(signal, 100)} signal ignored: ${problem}${more}`,
      by === undefined ? undefined : clip(by, 100),
    );
  }

  enter(phase: Phase, waiting?: string): void {
    this.state = { ...this.state, phase };
    upsertSearchAttributes([{ key: PhaseAttr, value: phase }]);
    this.waitFor(waiting ?? `${phase}…`);
    log.info('phase', { phase });
  }

  waitFor(what: string | undefined): void {
    if (what === undefined) {
      const { waitingFor: _omit, ...rest } = this.state;
      this.state = rest;
    } else {
      this.state = { ...this.state, waitingFor: what };
    }
    this.refreshDetails();
  }

  /** Records a verdict; a failed or inconclusive gate ends the promotion as rejected. */
  recordGate(verdict: GateVerdict, onNotPassed: Outcome = 'rejected'): void {
    this.state = { ...this.state, gates: [...this.state.gates, verdict] };
    this.audit(`gate:${verdict.gate}`, verdict.summary);
    if (verdict.status === 'failed') throw new Stop(onNotPassed, verdict.summary);
    if (verdict.status === 'inconclusive') {
      throw new Stop(onNotPassed, `${verdict.gate} gate was inconclusive: ${verdict.summary}`);
    }
  }

  /** Records a verdict that does not end the promotion by itself (live steps decide what follows). */
  recordGateQuietly(verdict: GateVerdict): void {
    this.state = { ...this.state, gates: [...this.state.gates, verdict] };
    this.audit(`gate:${verdict.gate}`, verdict.summary);
  }

  /** The "current details" panel in the Temporal UI: where the promotion is and what it waits for. */
  private refreshDetails(): void {
    const s = this.state;
    const lines = [
      `**${s.model}** v${s.candidate.version}` +
        (s.champion
          ? ` vs champion v${s.champion.version}`
          : s.champion === null
            ? ' (no champion yet)'
            : ''),
      `Phase: **${s.phase}**${s.outcome ? ` — outcome **${s.outcome}**` : ''}`,
    ];
    if (s.waitingFor) lines.push(`Waiting for: ${s.waitingFor}`);
    if (s.identity?.mode === 'unverified') {
      lines.push(
        'Identity: **unverified** (the spec says so: decisions carry typed names, nothing proves them)',
      );
    }
    if (s.live) {
      const step = s.live.step === null ? '' : `, step ${s.live.step + 1}/${s.live.steps}`;
      lines.push(
        `Live: candidate at **${s.live.weight}%**${step}${s.live.paused ? ` — PAUSED by ${s.live.paused.by}: ${s.live.paused.reason}` : ''}`,
      );
    }
    for (const g of s.gates) lines.push(`- ${g.gate}: ${g.status} — ${g.summary}`);
    setCurrentDetails(lines.join('\n\n'));
  }
}
