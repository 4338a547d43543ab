// Over 350 lines on purpose: shadow, the canary steps and the rollback saga share the gateway
// driver and the operator controls; the saga stays beside every step that can start it.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type { HoldoutReference, TargetRef, WatchCanaryOutput } from '../promotion/contracts';
import type { GateVerdict } from '../promotion/verdict';
import { analysisMode, plannedTests } from '../live/alpha-spending';
import type { RoutingSpec } from '../routing/schema';
import type { CanaryStep } from '../spec/schema';
import { serviceOptions, Stop, type Activities, type PromotionRun } from './run';
import type { OperatorRequest } from '../promotion/state';

/**
 * The live phases: shadow, staged canary, promotion on the serving target, and the rollback saga.
 *
 * Why one heartbeating watch activity per step instead of a timer per tick: a tick every second for
 * 24 hours would be ~86,400 timers plus activities — past Temporal's 51,200-event history limit. A
 * watch activity ticks inside the worker, reports progress in heartbeats (which are not history
 * events) and returns one verdict, so history grows per step, not per tick. A crash resumes the
 * watch from its heartbeat at the same deadline.
 */

/** Operator intents set by update handlers; the live loop reacts to them between and during steps. */
export interface Control {
  abort?: OperatorRequest;
  promoteFull?: OperatorRequest;
  /** A go-ahead for a manual pause step, or a resume after an operator pause. */
  resume?: OperatorRequest | undefined;
}

const WATCH_HEARTBEAT_TIMEOUT = '30 seconds';

// Every call passes its own options (timeouts scale with the step); these are only the proxies' defaults.
const { readRouting, applyRouting, watchShadow, watchCanary } = proxyActivities<Activities>(serviceOptions);

/** Applies desired routing with generations the workflow chooses, so retries change nothing twice. */
export class GatewayDriver {
  private base = 0;
  private readonly actor: string;

  constructor(
    private readonly run: PromotionRun,
    readonly target: TargetRef,
  ) {
    this.actor = `prograde ${run.state.workflowId}`;
  }

  get touched(): boolean {
    return this.run.state.live?.generation != null;
  }

  /** The generation the next `apply` sends (a refused one is sent again by the next try). */
  get nextGeneration(): number {
    return (this.run.state.live?.generation ?? this.base) + 1;
  }

  async init(steps: number): Promise<void> {
    const current = await readRouting.executeWithOptions(
      {
        startToCloseTimeout: '1 minute',
        retry: { maximumAttempts: 20 },
        summary: 'read routing on the gateway',
      },
      [{ model: this.run.state.model, target: this.target }],
    );
    this.base = current.generation;
    this.run.updateLive({ generation: null, weight: 0, step: null, steps });
  }

  /**
   * Applies `routing` as the next generation; returns the workflow time it took effect. The contract's
   * scoreOutput travels with it, so the gateway scores live requests by the offline gates' rule.
   */
  async apply(routing: RoutingSpec, why: string, options: RoutingOptions = ROUTING_OPTIONS): Promise<number> {
    const generation = this.nextGeneration;
    const { scoreOutput } = this.run.spec.contract;
    const desired: RoutingSpec = scoreOutput !== undefined ? { ...routing, scoreOutput } : routing;
    await applyRouting.executeWithOptions({ ...options, summary: `routing g${generation}: ${why}` }, [
      { model: this.run.state.model, target: this.target, generation, desired, actor: this.actor },
    ]);
    const weight =
      desired.canary?.weight ?? (desired.stable.version === this.run.state.candidate.version ? 100 : 0);
    this.run.updateLive({ generation, weight });
    this.run.audit('routing', `g${generation}: ${why}`);
    return Date.now();
  }
}

// Loading a version on the gateway (download, warm-up) can take a while; the PUT returns when done.
const ROUTING_OPTIONS = {
  startToCloseTimeout: '5 minutes',
  // The activity heartbeats while the PUT is in flight: a dead worker's attempt is retried within
  // 30 s instead of at the 5-minute timeout (chaos F2). Options are not part of replayed commands.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', maximumAttempts: 30 },
} as const;

type RoutingOptions = Omit<Parameters<typeof applyRouting.executeWithOptions>[0], 'summary'>;

/**
 * The rollback's routing change is retried without a maximum while its failure is retryable (a gateway
 * down, restarting or reloading the champion, the registry away): giving up would leave the candidate
 * serving. Only a refusal (a non-retryable failure) ends it (chaos finding F4).
 */
const ROLLBACK_OPTIONS: RoutingOptions = {
  ...ROUTING_OPTIONS,
  // Infinity is the SDK's "unlimited" (it refuses 0, and a missing maximum takes the proxy's 20).
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '15s',
    maximumAttempts: Number.POSITIVE_INFINITY,
  },
};

/** After a refused rollback and the recorded outcome: how long, and how often, the champion is tried again. */
const RESTORE_FOR_MS = 60 * 60_000;
const RESTORE_FIRST_PAUSE_MS = 1_000;
const RESTORE_MAX_PAUSE_MS = 5 * 60_000;

/** A rollback the gateway refused: what it asked for, to try again while the routing is still ours. */
interface RefusedRollback {
  readonly routing: RoutingSpec;
  readonly why: string;
  readonly generation: number;
  lastError: string;
}

type Interrupt = 'abort' | 'promoteFull' | 'pause';

/**
 * Runs `work` (offline steps: resolve, fetch, gates, approval) until it finishes or an operator
 * aborts; an abort cancels the work's activities and ends the promotion as aborted at once.
 */
export async function abortable<T>(control: Control, work: () => Promise<T>): Promise<T> {
  const scope = new CancellationScope();
  const result = scope.run(work);
  let settled = false;
  const done = result.then(
    () => (settled = true),
    () => (settled = true),
  );
  await Promise.race([done, condition(() => control.abort !== undefined)]);
  const abort = settled ? undefined : control.abort;
  if (!abort) return result;
  scope.cancel();
  await done; // let cancelled activities settle; whatever they ended with, the abort decides
  throw new Stop('aborted', `aborted by ${abort.operator}: ${abort.reason}`);
}

/**
 * Runs `work` until it finishes or an operator interrupts; on interruption the work's scope is
 * cancelled (the watch activity sees it at its next heartbeat) and the reason is returned.
 */
async function interruptible<T>(
  run: PromotionRun,
  control: Control,
  work: () => Promise<T>,
): Promise<T | Interrupt> {
  const reason = (): Interrupt | undefined =>
    control.abort
      ? 'abort'
      : control.promoteFull
        ? 'promoteFull'
        : run.state.live?.paused
          ? 'pause'
          : undefined;
  const now = reason();
  if (now) return now;
  const scope = new CancellationScope();
  const result = scope.run(work);
  let settled = false;
  const done = result.then(
    () => (settled = true),
    () => (settled = true),
  );
  await Promise.race([done, condition(() => reason() !== undefined)]);
  if (settled) return result;
  scope.cancel();
  try {
    await result;
  } catch (e) {
    if (!isCancellation(e)) throw e;
  }
  return reason() ?? 'pause';
}

export class LiveRollout {
  readonly driver: GatewayDriver;
  /** Set when the gateway refused the rollback: `keepRestoring` tries it again. */
  private refused: RefusedRollback | undefined;

  constructor(
    private readonly run: PromotionRun,
    private readonly control: Control,
    target: TargetRef,
    private readonly champion: string,
  ) {
    this.driver = new GatewayDriver(run, target);
  }

  private get candidate(): string {
    return this.run.state.candidate.version;
  }

  /** Shadow, then canary steps. Returns normally when the candidate earned promotion. */
  async runPhases(): Promise<void> {
    const { spec } = this.run;
    const steps = spec.canary?.steps ?? [];
    await this.driver.init(steps.length);
    if (spec.shadow && !this.control.promoteFull) await this.shadowPhase();
    if (spec.canary && !this.control.promoteFull) await this.canaryPhase(steps);
    if (this.control.promoteFull) {
      const r = this.control.promoteFull;
      this.run.audit('promote-full', `remaining steps skipped: ${r.reason}`, r.operator);
    }
  }

  private async shadowPhase(): Promise<void> {
    const shadow = this.run.spec.shadow;
    if (!shadow) return;
    this.run.enter(
      'shadow',
      `mirroring ${shadow.sampleRate}% of requests to v${this.candidate}; judging after ${shadow.minRequests} requests and ${shadow.minDuration / 1000}s`,
    );
    const startedAtMs = await this.driver.apply(
      {
        stable: { version: this.champion },
        shadow: { version: this.candidate, sampleRate: shadow.sampleRate },
      },
      `shadow v${this.candidate} at ${shadow.sampleRate}% beside stable v${this.champion}`,
    );
    for (;;) {
      const generation = this.run.state.live?.generation ?? 0;
      const outcome = await interruptible(this.run, this.control, () =>
        watchShadow.executeWithOptions(
          {
            startToCloseTimeout: shadow.maxDuration + 10 * 60_000,
            heartbeatTimeout: WATCH_HEARTBEAT_TIMEOUT,
            retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 20 },
            summary: `watch shadow (≥${shadow.minRequests} requests, ≥${shadow.minDuration / 1000}s)`,
          },
          [
            {
              model: this.run.state.model,
              target: this.driver.target,
              generation,
              shadow,
              startedAtMs,
              // Activity input only (the commands are the same): the keys of both models' holdout
              // scores, for the train/serve skew check.
              ...this.holdoutReference(),
            },
          ],
        ),
      );
      if (outcome === 'pause') {
        await this.holdWhilePaused();
        continue;
      }
      if (outcome === 'abort' || outcome === 'promoteFull') return this.throwIfAborted(outcome);
      await this.judge(outcome, 'shadow');
      return;
    }
  }

  /** Where the offline gates scored both models on the holdout; nothing when a sha256 is unknown. */
  private holdoutReference(): { reference?: HoldoutReference } {
    const { spec, input, state } = this.run;
    const candidate = state.candidate.sha256;
    const champion = state.champion?.sha256;
    if (candidate === undefined || champion === undefined || !state.champion) return {};
    const model = state.model;
    return {
      reference: {
        model,
        task: spec.task,
        contract: spec.contract,
        dataset: input.dataset,
        evaluation: spec.evaluation,
        candidate: { model, version: state.candidate.version, sha256: candidate },
        champion: { model, version: state.champion.version, sha256: champion },
      },
    };
  }

  private async canaryPhase(steps: readonly CanaryStep[]): Promise<void> {
    const analysis = this.run.spec.canary?.analysis;
    if (!analysis) return;
    this.run.enter('canary', 'starting canary steps');
    for (let index = 0; index < steps.length; index++) {
      if (this.control.promoteFull) return;
      if (this.control.abort) return this.throwIfAborted('abort');
      const step = steps[index];
      if (!step) continue;
      if (this.run.features.promptControls && this.run.state.live?.paused) {
        // An operator's pause between steps holds the next weight change too.
        await this.holdWhilePaused();
        if (this.control.promoteFull) return;
      }
      this.run.updateLive({ step: index });
      if ('setWeight' in step) {
        this.run.waitFor(`setting canary weight to ${step.setWeight}%`);
        await this.driver.apply(
          { stable: { version: this.champion }, canary: { version: this.candidate, weight: step.setWeight } },
          `canary v${this.candidate} at ${step.setWeight}% (step ${index + 1})`,
        );
      } else if ('bake' in step) {
        await this.watchStep(index, step.bake, false, step.minBake ?? step.bake);
      } else if ('analysis' in step) {
        await this.watchStep(index, step.analysis.maxDuration, true);
      } else if ('duration' in step.pause) {
        if (this.run.features.promptControls) {
          await this.timedPause(index, step.pause.duration);
        } else {
          this.run.waitFor(`timed pause of ${step.pause.duration / 1000}s (step ${index + 1})`);
          await sleep(step.pause.duration, {
            summary: `pause ${step.pause.duration / 1000}s (step ${index + 1})`,
          });
        }
      } else {
        await this.awaitGoAhead(index, step.pause.approvers);
      }
    }
  }

  /**
   * A timed pause step that an operator can cut short: abort and promote --full end it at once, and
   * an operator's pause stops its clock until resume.
   */
  private async timedPause(index: number, durationMs: number): Promise<void> {
    let remaining = durationMs;
    while (remaining > 0) {
      this.run.waitFor(`timed pause of ${Math.round(remaining / 1000)}s (step ${index + 1})`);
      const began = Date.now();
      const interrupted = await condition(
        () => !!this.control.abort || !!this.control.promoteFull || !!this.run.state.live?.paused,
        remaining,
        { summary: `pause ${Math.round(remaining / 1000)}s (step ${index + 1})` },
      );
      if (!interrupted) return;
      remaining = Math.max(0, remaining - (Date.now() - began));
      if (this.control.abort) return this.throwIfAborted('abort');
      if (this.control.promoteFull) return;
      await this.holdWhilePaused();
      if (this.control.promoteFull) return;
    }
  }

  /**
   * A bake or an analysis step (ends once conclusive), with pause and extensions. A bake runs its whole
   * (maximum) time in bonferroni mode; in sequential mode it ends once it passes after its minimum.
   */
  private async watchStep(
    index: number,
    durationMs: number,
    stopWhenConclusive: boolean,
    minDurationMs = 0,
  ): Promise<void> {
    const canary = this.run.spec.canary;
    if (!canary) return;
    const { analysis } = canary;
    const mode = analysisMode(analysis);
    const looks = plannedTests(canary, mode);
    let remaining = durationMs;
    let extensions = 0;
    let conclusiveOnly = stopWhenConclusive;
    // Every watch of this step (after a pause, or an extension) judges the step's whole window: an
    // extension exists to gather more samples, so it must not throw away the ones already seen.
    const stepStartedAt = Date.now();
    for (;;) {
      const label = `${conclusiveOnly ? 'analysis' : 'bake'} ${Math.round(remaining / 1000)}s at ${this.run.state.live?.weight ?? 0}% (step ${index + 1})`;
      this.run.waitFor(`${label}; analysis every ${analysis.interval / 1000}s`);
      const began = Date.now();
      const generation = this.run.state.live?.generation ?? 0;
      const watched: WatchCanaryOutput | Interrupt = await interruptible(this.run, this.control, () =>
        watchCanary.executeWithOptions(
          {
            startToCloseTimeout: remaining + 10 * 60_000,
            heartbeatTimeout: WATCH_HEARTBEAT_TIMEOUT,
            retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 20 },
            summary: `watch canary: ${label}`,
          },
          [
            {
              model: this.run.state.model,
              target: this.driver.target,
              generation,
              analysis,
              looks,
              startedAtMs: stepStartedAt,
              durationMs: remaining,
              // Activity input only: the commands the workflow issues are the same in both modes.
              ...(mode === 'sequential'
                ? { stopWhenConclusive: true, minDurationMs: conclusiveOnly ? 0 : minDurationMs }
                : { stopWhenConclusive: conclusiveOnly }),
            },
          ],
        ),
      );
      remaining = Math.max(0, remaining - (Date.now() - began));
      if (watched === 'pause') {
        await this.holdWhilePaused();
        continue;
      }
      if (watched === 'abort' || watched === 'promoteFull') return this.throwIfAborted(watched);
      const verdict = labelled(watched.verdict, `step ${index + 1}, ${watched.ticks} ticks`);
      if (verdict.status !== 'inconclusive') return this.judge(verdict, 'canary');
      // Inconclusive at the end: gather more samples, up to the spec's limit.
      const rule = analysis.onInconclusive;
      if (extensions < rule.maxExtensions) {
        extensions++;
        remaining = rule.extendBy;
        conclusiveOnly = true;
        this.run.audit(
          'canary-extended',
          `inconclusive (${verdict.summary}); extending ${rule.extendBy / 1000}s (${extensions}/${rule.maxExtensions})`,
        );
        continue;
      }
      if (rule.then === 'fail') return this.judge({ ...verdict, status: 'failed' }, 'canary');
      this.run.recordGateQuietly(verdict);
      await this.pauseForHuman(
        `canary still inconclusive after ${extensions} extensions: ${verdict.summary}`,
      );
      return;
    }
  }

  /** A passed verdict is recorded; a failed one rolls back (or holds for a person when automatic rollback is off). */
  private async judge(verdict: GateVerdict, gate: 'shadow' | 'canary'): Promise<void> {
    if (verdict.status === 'passed') {
      this.run.recordGateQuietly(verdict);
      return;
    }
    if (this.run.spec.rollback.automatic) {
      this.run.recordGate({ ...verdict, status: 'failed' }, 'rolled-back');
      return;
    }
    this.run.recordGateQuietly(verdict);
    await this.pauseForHuman(`${gate} failed and automatic rollback is off: ${verdict.summary}`);
  }

  /** Holds the rollout at its current weights until someone resumes, aborts or forces promotion. */
  private async pauseForHuman(reason: string): Promise<void> {
    this.run.updateLive({ paused: { by: 'prograde', reason, at: this.run.now() } });
    this.run.audit('paused', reason, 'prograde');
    await this.holdWhilePaused();
    if (this.control.abort) return this.throwIfAborted('abort');
  }

  private async holdWhilePaused(): Promise<void> {
    const paused = this.run.state.live?.paused;
    this.run.waitFor(
      `resume, abort or promote --full (paused by ${paused?.by ?? '?'}: ${paused?.reason ?? ''})`,
    );
    await condition(() => !this.run.state.live?.paused || !!this.control.abort || !!this.control.promoteFull);
    if (this.control.abort) this.throwIfAborted('abort');
  }

  private async awaitGoAhead(index: number, approvers: readonly string[]): Promise<void> {
    this.run.updateLive({ awaitingGoAhead: approvers });
    this.run.waitFor(`a go-ahead (resume) from ${approvers.join(', ')} (step ${index + 1})`);
    this.control.resume = undefined;
    await condition(() => !!this.control.resume || !!this.control.abort || !!this.control.promoteFull);
    const { awaitingGoAhead: _done, ...rest } = this.run.state.live ?? {
      generation: null,
      weight: 0,
      step: null,
      steps: 0,
    };
    this.run.update({ live: rest });
    if (this.control.abort) this.throwIfAborted('abort');
  }

  /** Ends the promotion as aborted on an abort; on promote --full it returns, and the caller moves on. */
  private throwIfAborted(kind: 'abort' | 'promoteFull'): void {
    if (kind === 'abort') {
      const r = this.control.abort;
      throw new Stop('aborted', `aborted by ${r?.operator ?? '?'}: ${r?.reason ?? ''}`);
    }
  }

  /** Final step on the target: the candidate serves everything; the old champion stays loaded. */
  async promoteOnTarget(): Promise<void> {
    await this.driver.apply(
      { stable: { version: this.candidate }, retain: [this.champion] },
      `stable v${this.candidate} at 100%; previous champion v${this.champion} kept loaded`,
    );
  }

  /**
   * The rollback saga: champion back to 100%, candidate removed. Idempotent by generation. Returns
   * whether traffic is back on the champion. Retryable failures are retried without a maximum; a
   * refusal ends the promotion as failed, the reason naming the routing left serving, and
   * `keepRestoring` tries again once the outcome is recorded. Without the patch (runs started before
   * it), a refusal fails the workflow as it did.
   */
  async rollback(reason: string): Promise<boolean> {
    if (!this.driver.touched) return true;
    const routing: RoutingSpec = { stable: { version: this.champion } };
    const why = `rollback to v${this.champion}: ${reason}`;
    if (!this.run.features.rollbackSettles) {
      await this.driver.apply(routing, why, ROLLBACK_OPTIONS);
      return true;
    }
    const generation = this.driver.nextGeneration;
    try {
      await this.driver.apply(routing, why, ROLLBACK_OPTIONS);
      return true;
    } catch (e) {
      if (isCancellation(e)) throw e;
      const error = failureText(e);
      this.refused = { routing, why, generation, lastError: error };
      const left = await this.routingLeft();
      const intended = this.run.state.outcome ?? 'failed';
      this.run.update({
        outcome: 'failed',
        reason: `${intended} (${reason}), but the rollback to v${this.champion} (g${generation}) was refused: ${error}; ${left}`,
      });
      this.run.audit('rollback-refused', `g${generation} refused: ${error}; ${left}`);
      return false;
    }
  }

  /** What serves on the gateway now, said for a person: read from it, or else what this run last applied. */
  private async routingLeft(): Promise<string> {
    const live = this.run.state.live;
    const ours = `this promotion last applied g${live?.generation ?? '?'} (candidate v${this.candidate} at ${live?.weight ?? '?'}%)`;
    try {
      const now = await readRouting.executeWithOptions(
        {
          startToCloseTimeout: '1 minute',
          retry: { maximumAttempts: 3 },
          summary: 'read the routing left serving',
        },
        [{ model: this.run.state.model, target: this.driver.target }],
      );
      return `routing left serving: g${now.generation} ${describeRouting(now.routing)}; ${ours}`;
    } catch (e) {
      if (isCancellation(e)) throw e;
      return `routing on the gateway unknown (${failureText(e)}); ${ours}`;
    }
  }

  /**
   * After a refused rollback, once the outcome is recorded: tries the same rollback again, pausing
   * longer each time, for up to an hour, while the routing on the gateway is still this promotion's
   * (its last generation, or the rollback's own). Once anyone else has changed it, or the workflow is
   * cancelled, their state wins and nothing more is sent. The recorded outcome stays failed; the audit
   * says whether traffic came back.
   */
  async keepRestoring(): Promise<void> {
    const refused = this.refused;
    if (!refused) return;
    const ours = [refused.generation - 1, refused.generation];
    const until = Date.now() + RESTORE_FOR_MS;
    this.run.enter(
      'rolling-back',
      `the champion v${this.champion} again: the rollback was refused (${refused.lastError}); trying until ${new Date(until).toISOString()} while the routing is still this promotion's`,
    );
    let pause = RESTORE_FIRST_PAUSE_MS;
    try {
      while (Date.now() + pause < until) {
        await sleep(pause, { summary: `wait ${pause / 1000}s before trying the rollback again` });
        pause = Math.min(pause * 2, RESTORE_MAX_PAUSE_MS);
        let now;
        try {
          now = await readRouting.executeWithOptions(
            {
              startToCloseTimeout: '1 minute',
              retry: { maximumAttempts: 3 },
              summary: 'read routing before trying the rollback again',
            },
            [{ model: this.run.state.model, target: this.driver.target }],
          );
        } catch (e) {
          if (isCancellation(e)) throw e;
          refused.lastError = failureText(e);
          continue;
        }
        if (!ours.includes(now.generation)) {
          this.run.audit(
            'rollback-abandoned',
            `the routing moved to g${now.generation} (${describeRouting(now.routing)}), not this promotion's g${ours.join('/g')}: left as it is`,
          );
          return;
        }
        try {
          await this.driver.apply(refused.routing, refused.why, {
            ...ROUTING_OPTIONS,
            retry: { ...ROUTING_OPTIONS.retry, maximumAttempts: 3 },
          });
          this.run.audit(
            'rolled-back',
            `traffic back on the champion v${this.champion} after the refused rollback (the recorded outcome stays failed)`,
          );
          return;
        } catch (e) {
          if (isCancellation(e)) throw e;
          refused.lastError = failureText(e);
          if (failureType(e) === 'GATEWAY_ROUTING_CONFLICT') {
            this.run.audit('rollback-abandoned', `someone else changed the routing: ${refused.lastError}`);
            return;
          }
        }
      }
      this.run.audit(
        'rollback-given-up',
        `the rollback to v${this.champion} was still refused after ${RESTORE_FOR_MS / 60_000} min (${refused.lastError}); the routing needs a person`,
      );
    } catch (e) {
      if (!isCancellation(e)) throw e;
      this.run.audit('rollback-given-up', 'the workflow was cancelled while retrying the refused rollback');
    }
  }
}

function describeRouting(routing: RoutingSpec | null): string {
  if (!routing) return '(no routing)';
  const parts = [`stable v${routing.stable.version}`];
  if (routing.canary) parts.push(`canary v${routing.canary.version} at ${routing.canary.weight}%`);
  if (routing.shadow) parts.push(`shadow v${routing.shadow.version} at ${routing.shadow.sampleRate}%`);
  return parts.join(', ');
}

/** The ApplicationFailure an activity ended with (a workflow sees it as the ActivityFailure's cause). */
function applicationFailureIn(e: unknown): ApplicationFailure | undefined {
  if (e instanceof ApplicationFailure) return e;
  const cause = e instanceof Error ? (e as { cause?: unknown }).cause : undefined;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

function failureType(e: unknown): string | undefined {
  return applicationFailureIn(e)?.type ?? undefined;
}

function failureText(e: unknown): string {
  const app = applicationFailureIn(e);
  if (app) return `${app.type ?? 'Error'}: ${app.message}`;
  return e instanceof Error ? e.message : String(e);
}

function labelled(verdict: GateVerdict, where: string): GateVerdict {
  return { ...verdict, summary: `${where}: ${verdict.summary}` };
}
