import { ProgradeError, messageOf } from '../errors';
import { mergeStats } from '../live/merge-stats';
import type { StatsSnapshot } from '../promotion/stats-snapshot';
import {
  quorumOf,
  resolveReplicas,
  ReplicaResolutionError,
  type DnsLookup,
  type ReplicaSource,
} from '../routing/replicas';
import type { RoutingPut } from '../routing/schema';
import type { AuditEntryView, GatewayAdmin, RoutingView } from '../serving/admin-client';

/**
 * Every gateway replica of a target, driven as one gateway (docs/replicas.md):
 *
 * - The replicas are resolved at every call (a static list, or DNS), so a watch that runs for hours
 *   follows a replica set that scales.
 * - `putRouting` sends the same (generation, body) to every replica at once and succeeds when the
 *   quorum (default: all) has it. The PUT is idempotent per generation, so a retry repeats it safely
 *   and replicas that already have it answer `applied: false`.
 * - `stats` reads every replica's window of the generation and merges them exactly (mergeStats);
 *   fewer than the quorum reporting is GATEWAY_QUORUM_NOT_MET (retryable). A replica that answers with
 *   an older generation (it was down when the routing changed, and its persisted state is older) is
 *   caught up in the background with the routing a current replica holds, so a watch re-applies the
 *   desired generation to lagging replicas at every tick.
 * - `getRouting` answers with the newest generation any replica holds, and first brings the replicas
 *   that answered with an older one up to it.
 */

export interface ReplicaSetOptions {
  readonly source: ReplicaSource;
  readonly quorum?: number;
  readonly clientFor: (baseUrl: string) => GatewayAdmin;
  readonly dns: () => DnsLookup;
  /** Told of background catch-ups (for logs and tests). */
  readonly onCatchUp?: (event: CatchUpEvent) => void;
}

export interface CatchUpEvent {
  readonly replica: string;
  readonly model: string;
  readonly generation: number;
  readonly outcome: 'applied' | 'failed';
  readonly error?: string;
}

interface Answer<T> {
  readonly url: string;
  readonly value?: T;
  readonly error?: unknown;
}

const CATCH_UP_ACTOR = 'prograde replica catch-up';
/** The spec's limit for a static list, applied to what DNS answers too. */
const MAX_REPLICAS = 64;
/** How long a routing read waits for the catch-up of lagging replicas before it answers anyway. */
const CATCH_UP_WAIT_MS = 20_000;

export class ReplicaSetAdmin implements GatewayAdmin {
  private readonly clients = new Map<string, GatewayAdmin>();
  private readonly catchingUp = new Set<string>();

  constructor(private readonly options: ReplicaSetOptions) {}

  /** The replica base URLs now, resolved afresh. */
  async replicas(): Promise<string[]> {
    try {
      const urls = await resolveReplicas(this.options.source, this.options.dns);
      if (urls.length === 0)
        throw new ProgradeError(
          'GATEWAY_REPLICAS_UNRESOLVED',
          `no gateway replica found for ${describe(this.options.source)}`,
          'retryable',
          { target: describe(this.options.source) },
        );
      if (urls.length > MAX_REPLICAS)
        throw new ProgradeError(
          'GATEWAY_REPLICAS_UNRESOLVED',
          `${describe(this.options.source)} names ${urls.length} replicas; at most ${MAX_REPLICAS} are driven at once`,
          'terminal',
          { target: describe(this.options.source), replicas: urls.length },
        );
      return urls;
    } catch (e) {
      if (!(e instanceof ReplicaResolutionError)) throw e;
      throw new ProgradeError('GATEWAY_REPLICAS_UNRESOLVED', e.message, 'retryable', {
        target: describe(this.options.source),
      });
    }
  }

  private client(url: string): GatewayAdmin {
    let c = this.clients.get(url);
    if (!c) {
      c = this.options.clientFor(url);
      this.clients.set(url, c);
    }
    return c;
  }

  private async each<T>(work: (c: GatewayAdmin, url: string) => Promise<T>): Promise<Answer<T>[]> {
    const urls = await this.replicas();
    return Promise.all(
      urls.map((url) =>
        work(this.client(url), url).then(
          (value) => ({ url, value }),
          (error: unknown) => ({ url, error }),
        ),
      ),
    );
  }

  async putRouting(model: string, desired: RoutingPut, actor?: string): Promise<RoutingView> {
    const answers = await this.each((c) => c.putRouting(model, desired, actor));
    const acked = answers.filter((a): a is Answer<RoutingView> & { value: RoutingView } => !!a.value);
    const quorum = quorumOf(this.options.quorum, answers.length);
    const first = acked[0];
    if (first && acked.length >= quorum)
      return { ...first.value, applied: acked.some((a) => a.value.applied !== false) };
    throw this.shortOf(`routing g${desired.generation} of '${model}'`, answers, acked.length, quorum);
  }

  async getRouting(model: string): Promise<RoutingView | undefined> {
    const answers = await this.each((c) => c.getRouting(model));
    const answered = answers.filter((a) => a.error === undefined);
    const quorum = quorumOf(this.options.quorum, answers.length);
    if (answered.length < quorum)
      throw this.shortOf(`the routing of '${model}'`, answers, answered.length, quorum);
    let newest: RoutingView | undefined;
    for (const a of answered)
      if (a.value && (!newest || a.value.generation > newest.generation)) newest = a.value;
    // Replicas behind the newest (down when it was applied) get it now: this read starts a rollout and
    // precedes the release of a retained champion, so a replica that missed a rollout's last change is
    // caught up before the next one builds on it. Best effort: one that cannot take it stays as it is.
    const behind = answered.filter((a) => newest && (a.value?.generation ?? 0) < newest.generation);
    if (newest && behind.length > 0) {
      const { generation, spec } = newest;
      // Loading versions can take long on a big model: wait a while, then let it finish behind us.
      let timer: NodeJS.Timeout | undefined;
      const patience = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CATCH_UP_WAIT_MS);
        timer.unref();
      });
      const catchUps = Promise.all(
        behind.map(({ url }) =>
          this.client(url)
            .putRouting(model, { ...spec, generation }, CATCH_UP_ACTOR)
            .then(
              () => this.options.onCatchUp?.({ replica: url, model, generation, outcome: 'applied' }),
              (e: unknown) =>
                this.options.onCatchUp?.({
                  replica: url,
                  model,
                  generation,
                  outcome: 'failed',
                  error: messageOf(e),
                }),
            ),
        ),
      );
      await Promise.race([catchUps, patience]);
      clearTimeout(timer);
    }
    return newest;
  }

  async stats(
    model: string,
    query: { sinceMs?: number; generation?: number; threshold?: number } = {},
  ): Promise<StatsSnapshot> {
    const answers = await this.each((c) => c.stats(model, query));
    const ok = answers.filter((a): a is Answer<StatsSnapshot> & { value: StatsSnapshot } => !!a.value);
    // Without a generation asked, each replica answers for its own: merge only the newest one's.
    const generation = query.generation ?? Math.max(...ok.map((a) => a.value.generation));
    const current = ok.filter((a) => a.value.generation === generation);
    const lagging = answers.filter((a) => a.error !== undefined && isLagging(a.error));
    const source = current[0];
    if (source && lagging.length > 0) this.catchUp(model, generation, source.url, lagging);
    const quorum = quorumOf(this.options.quorum, answers.length);
    if (source && current.length >= quorum) return mergeStats(current.map((a) => a.value));
    throw this.shortOf(`statistics of '${model}' g${generation}`, answers, current.length, quorum);
  }

  /** Every replica's audit records, oldest first. */
  async audit(model?: string): Promise<AuditEntryView[]> {
    const answers = await this.each((c) => c.audit(model));
    const failed = answers.find((a) => a.error !== undefined);
    if (failed) throw failed.error;
    return answers.flatMap((a) => a.value ?? []).sort((x, y) => x.at.localeCompare(y.at));
  }

  /**
   * Brings lagging replicas to `generation` with the routing `sourceUrl` holds, in the background:
   * loading versions can take a while, and the watch tick that noticed must not wait for it.
   */
  private catchUp(model: string, generation: number, sourceUrl: string, lagging: readonly Answer<unknown>[]) {
    for (const { url } of lagging) {
      const key = `${url} ${model}`;
      if (this.catchingUp.has(key)) continue;
      this.catchingUp.add(key);
      void (async () => {
        try {
          const view = await this.client(sourceUrl).getRouting(model);
          if (!view || view.generation !== generation) return;
          await this.client(url).putRouting(model, { ...view.spec, generation }, CATCH_UP_ACTOR);
          this.options.onCatchUp?.({ replica: url, model, generation, outcome: 'applied' });
        } catch (e) {
          this.options.onCatchUp?.({
            replica: url,
            model,
            generation,
            outcome: 'failed',
            error: messageOf(e),
          });
        } finally {
          this.catchingUp.delete(key);
        }
      })();
    }
  }

  /**
   * Too few replicas: retryable while the missing ones may come back (unreachable, 5xx, lagging); the
   * first terminal error (a rejected version, a conflict) when the quorum cannot be met without them.
   */
  private shortOf(what: string, answers: readonly Answer<unknown>[], got: number, quorum: number) {
    const failed = answers.filter((a) => a.error !== undefined);
    const terminal = failed.filter((a) => isTerminal(a.error) && !isLagging(a.error));
    if (answers.length - terminal.length < quorum && terminal[0]) return terminal[0].error;
    const detail = failed.map((a) => `${a.url}: ${messageOf(a.error)}`).join('; ');
    return new ProgradeError(
      'GATEWAY_QUORUM_NOT_MET',
      `${what}: ${got} of ${answers.length} replicas, quorum ${quorum}${detail ? ` (${detail})` : ''}`,
      'retryable',
      {
        got,
        quorum,
        replicas: answers.map((a) => a.url),
        failed: failed.map((a) => ({ replica: a.url, error: messageOf(a.error) })),
      },
    );
  }
}

/**
 * A replica that is behind (or ahead): it knows another generation than the one asked for, or has no
 * routing for the model at all (a replica that scaling just added).
 */
function isLagging(e: unknown): boolean {
  if (!(e instanceof ProgradeError)) return false;
  if (e.code === 'GATEWAY_MODEL_NOT_FOUND') return true;
  return (
    e.code === 'GATEWAY_ROUTING_CONFLICT' &&
    (e.details as { serverCode?: unknown }).serverCode === 'SERVING_GENERATION_UNKNOWN'
  );
}

function isTerminal(e: unknown): boolean {
  return e instanceof ProgradeError ? e.retry === 'terminal' : false;
}

function describe(s: ReplicaSource): string {
  if (s.dns) return `${s.dns.type} ${s.dns.name}`;
  if (s.replicas) return s.replicas.join(', ');
  return s.url ?? '?';
}
