import {
  log,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { GateVerdict } from '../gates/verdict';
import { PhaseAttr } from './search-attributes';
import type { AuditEntry, LiveState, Outcome, Phase, PromotionInput, PromotionState } from './state';

export type Activities = ReturnType<typeof activities.createActivities>;

// Infrastructure errors (MLflow or gateway down, timeouts) are retried with backoff; ProgradeErrors
// marked terminal arrive as non-retryable ApplicationFailures and end the attempt at once.
export const registryOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
} as const;
export const evaluationOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;

export const registry = proxyActivities<Activities>(registryOptions);
export const evaluation = proxyActivities<Activities>(evaluationOptions);

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
export class Run {
  state: PromotionState;
  readonly input: PromotionInput;

  constructor(input: PromotionInput) {
    const info = workflowInfo();
    const { spec } = input;
    this.input = input;
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
