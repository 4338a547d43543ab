import { HttpError } from './http-util';
import { WindowStats, type WindowSnapshot, type WindowStatsOptions } from './window-stats';

/** Stats of the generations a model went through, newest last; old ones are dropped. */
const KEPT_GENERATIONS = 5;

export interface StatsQuery {
  readonly sinceMs: number;
  readonly generation?: number | undefined;
  readonly threshold: number;
}

/**
 * Live statistics per model and routing generation. Kept per generation so an analysis reads only
 * the requests served under the weights it is judging, never a mix of two steps.
 */
export class StatsStore {
  private readonly byModel = new Map<string, { generation: number; stats: WindowStats }[]>();

  constructor(private readonly options: WindowStatsOptions) {}

  /** The stats of one generation, created on first use. */
  of(model: string, generation: number): WindowStats {
    let list = this.byModel.get(model);
    if (!list) {
      list = [];
      this.byModel.set(model, list);
    }
    const found = list.find((s) => s.generation === generation);
    if (found) return found.stats;
    const stats = new WindowStats(this.options);
    list.push({ generation, stats });
    list.sort((a, b) => a.generation - b.generation);
    while (list.length > KEPT_GENERATIONS) list.shift();
    return stats;
  }

  /** A window of one generation (default `applied`); `applied` undefined means the model has no routing. */
  view(
    model: string,
    applied: number | undefined,
    query: StatsQuery,
  ): WindowSnapshot & { generation: number } {
    if (applied === undefined)
      throw new HttpError(404, 'SERVING_MODEL_NOT_FOUND', `model '${model}' has no routing`, { model });
    const generation = query.generation ?? applied;
    const kept = this.byModel.get(model)?.find((s) => s.generation === generation);
    if (!kept) {
      throw new HttpError(
        409,
        'SERVING_GENERATION_UNKNOWN',
        `no stats for generation ${generation} of '${model}' (applied generation is ${applied})`,
        {
          model,
          generation,
          currentGeneration: applied,
        },
      );
    }
    return { generation, ...kept.stats.query(query.sinceMs, query.threshold) };
  }
}
