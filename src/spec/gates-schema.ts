import { z } from 'zod';
import {
  FAIRNESS_METRICS,
  HIGHER_IS_BETTER_METRICS,
  isFairerWhenHigher,
  LOWER_IS_BETTER_METRICS,
} from '../stats/metric-names';
import { Duration } from './units';

/**
 * The offline gates of a promotion spec. These schemas are the single source of truth for what
 * the gate functions in `src/gates/` receive (their parsed output types), so the spec and the
 * code that judges cannot drift apart.
 */

export const HigherIsBetterMetric = z.enum(HIGHER_IS_BETTER_METRICS);
export const LowerIsBetterMetric = z.enum(LOWER_IS_BETTER_METRICS);
type HigherIsBetterMetric = z.infer<typeof HigherIsBetterMetric>;
type LowerIsBetterMetric = z.infer<typeof LowerIsBetterMetric>;
export const PerformanceMetric = z.union([HigherIsBetterMetric, LowerIsBetterMetric]);
export type PerformanceMetric = z.infer<typeof PerformanceMetric>;

const Confidence = z.number().gt(0.5).lt(1).default(0.95);

/** `{ metric: auc, min: 0.8 }` — an absolute bound on the candidate. */
export const AbsoluteCheck = z
  .strictObject({ metric: PerformanceMetric, min: z.number().optional(), max: z.number().optional() })
  .refine((c) => c.min !== undefined || c.max !== undefined, { message: 'give min, max, or both' });

/** `{ metric: auc, maxDropVsChampion: 0.01, confidence: 0.95 }` — paired-bootstrap non-inferiority. */
export const DropVsChampionCheck = z.strictObject({
  metric: HigherIsBetterMetric,
  maxDropVsChampion: z.number().min(0),
  confidence: Confidence,
});

/** `{ metric: log_loss, maxRiseVsChampion: 0.02 }` — non-inferiority for a lower-is-better metric. */
export const RiseVsChampionCheck = z.strictObject({
  metric: LowerIsBetterMetric,
  maxRiseVsChampion: z.number().min(0),
  confidence: Confidence,
});

/** The confidence of a check relative to the champion (its interval's two-sided level). */
const RelativeConfidence = z
  .number()
  .gt(0.5)
  .lt(1)
  .optional()
  .meta({ description: 'relative checks only; default 0.95' });

/** The keys of a performance or fairness check as written, before they are narrowed to one kind. */
interface WrittenCheck {
  readonly metric: string;
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly maxDropVsChampion?: number | undefined;
  readonly maxRiseVsChampion?: number | undefined;
  readonly confidence?: number | undefined;
}

/**
 * Which kind of check the written keys make (absolute, or one direction relative to the champion),
 * or what is wrong with them: the performance and fairness gates read their checks by this one rule.
 * `higher` says whether the metric gets better (or fairer) as it rises.
 */
function checkKindProblem(c: WrittenCheck, higher: boolean, better: 'better' | 'fairer'): string | undefined {
  const absolute = c.min !== undefined || c.max !== undefined;
  const relative = [c.maxDropVsChampion, c.maxRiseVsChampion].filter((x) => x !== undefined).length;
  if (!absolute && relative === 0) return 'give min, max, or both; or maxDropVsChampion / maxRiseVsChampion';
  if (absolute && relative > 0)
    return 'a check is absolute (min/max) or relative to the champion, not both: write two checks';
  if (relative > 1) return 'give maxDropVsChampion or maxRiseVsChampion, not both';
  if (c.maxDropVsChampion !== undefined && !higher)
    return `${c.metric} is ${better} when lower: use maxRiseVsChampion`;
  if (c.maxRiseVsChampion !== undefined && higher)
    return `${c.metric} is ${better} when higher: use maxDropVsChampion`;
  if (absolute && c.confidence !== undefined)
    return 'confidence applies to checks relative to the champion only';
  return undefined;
}
/**
 * One performance check, read as one flat object and then narrowed to its kind. A union of the three
 * objects let zod keep only the branch that did not abort: `{ metric: auc, maxDropVsChampion: 2% }`
 * was told "give min, max, or both" and that maxDropVsChampion is an unknown key. Here the keys
 * written say which kind is meant, and a wrong pairing gets a sentence saying which key fits.
 */
export const PerformanceCheck = z
  .strictObject({
    metric: PerformanceMetric,
    maxDropVsChampion: z.number().min(0).optional(),
    confidence: RelativeConfidence,
    maxRiseVsChampion: z.number().min(0).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .superRefine((c, ctx) => {
    const higher = (HIGHER_IS_BETTER_METRICS as readonly string[]).includes(c.metric);
    const problem = checkKindProblem(c, higher, 'better');
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform(
    (
      c,
    ):
      | z.infer<typeof DropVsChampionCheck>
      | z.infer<typeof RiseVsChampionCheck>
      | z.infer<typeof AbsoluteCheck> => {
      const confidence = c.confidence ?? 0.95;
      if (c.maxDropVsChampion !== undefined)
        return {
          metric: c.metric as HigherIsBetterMetric,
          maxDropVsChampion: c.maxDropVsChampion,
          confidence,
        };
      if (c.maxRiseVsChampion !== undefined)
        return {
          metric: c.metric as LowerIsBetterMetric,
          maxRiseVsChampion: c.maxRiseVsChampion,
          confidence,
        };
      return {
        metric: c.metric,
        ...(c.min === undefined ? {} : { min: c.min }),
        ...(c.max === undefined ? {} : { max: c.max }),
      };
    },
  );
export type PerformanceCheck = z.output<typeof PerformanceCheck>;

export const FairnessMetric = z.enum(FAIRNESS_METRICS);
export type FairnessMetric = z.infer<typeof FairnessMetric>;

/**
 * One fairness check: absolute (`min`/`max` on the candidate's metric) or relative to the champion,
 * named like the performance gate's: `maxDropVsChampion` for the metric that is fairer when higher
 * (demographic_parity_ratio), `maxRiseVsChampion` for those fairer when lower (the differences). A
 * relative check is a paired bootstrap of Δ = candidate − champion (`confidence`, default 0.95). One
 * flat object with a refinement, not a union, so a wrong pairing gets a sentence saying which key fits.
 */
export const FairnessCheck = z
  .strictObject({
    metric: FairnessMetric,
    min: z.number().optional(),
    max: z.number().optional(),
    maxDropVsChampion: z.number().min(0).optional(),
    maxRiseVsChampion: z.number().min(0).optional(),
    confidence: RelativeConfidence,
  })
  .superRefine((c, ctx) => {
    const problem = checkKindProblem(c, isFairerWhenHigher(c.metric), 'fairer');
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
export type FairnessCheck = z.infer<typeof FairnessCheck>;

export const FairnessGate = z.strictObject({
  /** Groups smaller than this are reported but not judged (ratios of tiny groups are noise). */
  minGroupSize: z.number().int().min(1).default(30),
  /**
   * What a check relative to the champion does when there is none (the first model): `skip` (the
   * default: it passes, saying so) or `fail` (a person must promote the first model another way).
   */
  withoutChampion: z
    .enum(['skip', 'fail'])
    .optional()
    .meta({ description: 'relative checks with no champion: skip (default) or fail' }),
  checks: z.array(FairnessCheck).min(1),
});
export type FairnessGate = z.infer<typeof FairnessGate>;

export const LatencyGate = z.strictObject({
  batchSize: z.number().int().min(1).default(1),
  warmup: z.number().int().min(0).default(20),
  iterations: z.number().int().min(10).default(200),
  p50: Duration.optional(),
  p95: Duration.optional(),
  p99: Duration.optional(),
  /** Candidate p95 may be at most this multiple of the champion's, measured the same way. */
  maxRatioVsChampion: z.number().gt(0).optional(),
});
export type LatencyGate = z.infer<typeof LatencyGate>;

export const Gates = z.strictObject({
  performance: z.array(PerformanceCheck).default([]),
  fairness: FairnessGate.optional(),
  latency: LatencyGate.optional(),
});
export type Gates = z.infer<typeof Gates>;
