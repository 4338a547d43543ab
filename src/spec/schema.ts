// Over 350 lines on purpose: it is the single zod schema of promotion.yaml, the source of truth
// with the field descriptions the JSON Schema shows; the gates' part is already in gates-schema.ts.
import { z } from 'zod';
import { TensorSpec } from '../onnx/tensor-spec';
import { isScoreDtype } from '../onnx/score-output';
import { ReplicaDns, ReplicaUrl } from '../routing/replicas';
import { RoutingPercent } from '../routing/schema';
import { MetricsProviderSpec } from './metrics-provider';
import { Gates, HigherIsBetterMetric, LowerIsBetterMetric } from './gates-schema';
import { quote } from './spec-error';
import { Duration, Size } from './units';

/**
 * `promotion.yaml`, the pipeline-as-code spec committed beside model code. This schema is the one
 * truth: the CLI validates with it, the JSON Schema for editors is generated from it, and its parsed
 * output (`PromotionSpec`) is the workflow input, so after parsing it holds only plain JSON data —
 * durations in milliseconds, sizes in bytes. Pure: no Node built-ins (the workflow sandbox imports it).
 */

const Name = z.string().min(1, 'must not be empty');
const Fraction = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const Alpha = z.number().gt(0, 'must be greater than 0').max(0.5, 'must be at most 0.5');

// MLflow alias rules: letters, digits, _ and -; `latest` and `v<digits>` are reserved by MLflow.
const Alias = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'an alias may contain only letters, digits, _ and -')
  .refine((a) => a.toLowerCase() !== 'latest' && !/^v\d+$/i.test(a), {
    message: "'latest' and v<number> are reserved by MLflow and cannot be aliases",
  });

/** Dataset URI schemes prograde can download through MLflow. */
export const DATASET_URI_SCHEMES = ['mlflow-artifacts', 'runs', 'models'] as const;
const URI_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** The scheme of a dataset location written as a URI, or undefined for a file path. */
export function datasetUriScheme(location: string): string | undefined {
  return URI_SCHEME.exec(location)?.[1];
}

/**
 * Refinement option: run a cross-field check as long as the fields it reads parsed, even when
 * sibling fields have problems, so one pass reports everything.
 */
function whenValid(...fields: string[]): { when: (payload: z.core.ParsePayload) => boolean } {
  // A `when` check runs even when the value itself is missing or of the wrong type: guard that first.
  return {
    when: (payload) =>
      isRecord(payload.value) &&
      !payload.issues.some((i) => (i.path?.length ?? 0) === 0 || fields.includes(String(i.path?.[0]))),
  };
}

/** Each name listed more than once, with the index of its last occurrence (one pass: lists may be long). */
function duplicatesOf(names: readonly string[]): Map<string, number> {
  const last = new Map<string, number>();
  const dup = new Map<string, number>();
  names.forEach((n, i) => {
    if (last.has(n)) dup.set(n, i);
    last.set(n, i);
  });
  return dup;
}

/** A list of names that must not repeat, e.g. feature columns or approvers. */
function uniqueNames(what: string) {
  return z.array(Name).superRefine((names, ctx) => {
    for (const [d, last] of duplicatesOf(names)) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} ${quote(d)} is listed more than once`,
        path: [last],
      });
    }
  });
}

export const Aliases = z
  .strictObject({
    champion: Alias.default('champion').meta({
      description: 'Registry alias of the model now serving production',
    }),
    candidate: Alias.default('challenger').meta({
      description:
        'Registry alias of the version to promote: `prograde promote` without --version resolves it in MLflow before starting, and a missing alias is an error (exit 2)',
    }),
  })
  .refine((a) => a.champion !== a.candidate, {
    message: 'the champion and candidate aliases must differ',
    path: ['candidate'],
    ...whenValid('champion', 'candidate'),
  });

export const Task = z.enum(['binary-classification', 'regression']);
export type Task = z.infer<typeof Task>;

const TensorList = z.array(TensorSpec).superRefine((tensors, ctx) => {
  const names = tensors.map((t) => t.name);
  for (const [d, last] of duplicatesOf(names)) {
    ctx.addIssue({
      code: 'custom',
      message: `tensor ${quote(d)} is listed more than once`,
      path: [last, 'name'],
    });
  }
});

export const Contract = z
  .strictObject({
    inputs: TensorList.min(1, 'give at least one input tensor').meta({
      description: 'Input tensors the ONNX model must declare: name, dtype and shape (-1 = free dimension)',
    }),
    outputs: TensorList.min(1, 'give at least one output tensor').meta({
      description: 'Output tensors the ONNX model must declare: name, dtype and shape (-1 = free dimension)',
    }),
    scoreOutput: Name.optional().meta({
      description:
        'Which output holds the score (probability or prediction); default the first float32/float64 output. ' +
        'An output shaped [N] or [N,1] is the score itself; one shaped [N,2] (class probabilities) is scored ' +
        'from column 1, P(class 1). Offline gates and the gateway read scores by this same rule.',
    }),
    maxModelSize: Size.optional().meta({ description: 'Largest allowed ONNX file, e.g. 200MB' }),
  })
  .superRefine(
    (c, ctx) => {
      // Zod runs this refinement even when a field already failed (e.g. `inputs: null`), and that
      // field's own issue says what is wrong: nothing more to check here.
      if (!Array.isArray(c.inputs) || !Array.isArray(c.outputs)) return;
      if (c.scoreOutput !== undefined && !c.outputs.some((o) => o.name === c.scoreOutput)) {
        ctx.addIssue({
          code: 'custom',
          message: `scoreOutput '${c.scoreOutput}' is not an output (outputs: ${c.outputs.map((o) => o.name).join(', ')})`,
          path: ['scoreOutput'],
        });
      }
      // The offline gates feed the evaluation.features to one input tensor [N, k]
      // (src/onnx/session.ts): a second input could never pass the format gate.
      if (c.inputs.length > 1) {
        ctx.addIssue({
          code: 'custom',
          message: `prograde feeds the evaluation.features to one input tensor [N, k]; a model with ${c.inputs.length} inputs cannot be gated: export it with one input (in skl2onnx, one initial_types entry for all feature columns)`,
          path: ['inputs', 1],
        });
      }
      // The output scored (src/onnx/score-output.ts): a fixed width other than 1 or 2 values per row
      // (a multiclass model's [N,3] probabilities) has no score, which the format gate would find only
      // after the promotion started.
      const index =
        c.scoreOutput !== undefined
          ? c.outputs.findIndex((o) => o.name === c.scoreOutput)
          : c.outputs.findIndex((o) => isScoreDtype(o.dtype));
      const scored = c.outputs[index];
      if (scored === undefined || !isScoreDtype(scored.dtype)) return;
      const width = scored.shape.length === 2 ? (scored.shape[1] ?? -1) : scored.shape.length === 1 ? 1 : -2;
      if (width === -1 || width === 1 || width === 2) return;
      ctx.addIssue({
        code: 'custom',
        message:
          width === -2
            ? `score output ${quote(scored.name)} has shape [${scored.shape.join(', ')}]; a score is read from [N], [N,1] or [N,2] (column 1, P(class 1))`
            : `score output ${quote(scored.name)} has ${width} values per row; a score is read from [N], [N,1] or [N,2] (column 1, P(class 1)): prograde judges binary classifiers and regressors, not multiclass models`,
        path: ['outputs', index, 'shape'],
      });
    },
    whenValid('outputs', 'scoreOutput'),
  );
export type Contract = z.infer<typeof Contract>;

/** `{ prefix: f, from: 0, to: 11 }` is shorthand for f0, f1, …, f11. */
const FeatureRange = z
  .strictObject({
    prefix: z.string().meta({ description: 'Column name prefix, e.g. f' }),
    from: z.number().int().min(0).meta({ description: 'First index, inclusive' }),
    to: z.number().int().min(0).meta({ description: 'Last index, inclusive' }),
  })
  .superRefine((r, ctx) => {
    if (r.to < r.from)
      ctx.addIssue({ code: 'custom', message: `'to' (${r.to}) is below 'from' (${r.from})`, path: ['to'] });
    else if (r.to - r.from >= 100_000)
      ctx.addIssue({
        code: 'custom',
        message: 'a feature range may span at most 100000 columns',
        path: ['to'],
      });
  })
  .transform((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => `${r.prefix}${r.from + i}`));

const DatasetLocation = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((location, ctx) => {
    const scheme = datasetUriScheme(location);
    if (scheme !== undefined && !(DATASET_URI_SCHEMES as readonly string[]).includes(scheme)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${scheme}:' is not a supported dataset location; use a path relative to the spec or a ${DATASET_URI_SCHEMES.map((s) => `${s}:`).join(', ')} URI`,
      });
    }
  });

export const Evaluation = z
  .strictObject({
    dataset: DatasetLocation.meta({
      description:
        'CSV holdout set: a path relative to this file, or an mlflow-artifacts:/, runs:/ or models:/ URI',
    }),
    label: Name.meta({ description: 'Column holding the true label (0/1 for classification)' }),
    features: z
      .union([uniqueNames('feature column').min(1, 'give at least one feature column'), FeatureRange])
      .meta({
        description:
          'Feature columns in model input order: a list, or { prefix, from, to } meaning prefix<from>..prefix<to>',
      }),
    sensitive: uniqueNames('sensitive column')
      .default([])
      .meta({ description: 'Columns with group membership for fairness checks, e.g. gender' }),
    threshold: Fraction.default(0.5).meta({ description: 'Decision threshold applied to the score' }),
    seed: z
      .number()
      .int()
      .min(0)
      .default(42)
      .meta({ description: 'Seed for bootstrap resampling, for reproducible verdicts' }),
    bootstrapResamples: z
      .number()
      .int()
      .min(100)
      .max(100_000)
      .default(1000)
      .meta({ description: 'Paired bootstrap resamples for champion comparisons' }),
    maxRows: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: 'Use at most this many rows of the dataset' }),
  })
  .superRefine(
    (e, ctx) => {
      if (e.features.includes(e.label)) {
        ctx.addIssue({
          code: 'custom',
          message: `the label column '${e.label}' is also listed as a feature`,
          path: ['label'],
        });
      }
    },
    whenValid('label', 'features'),
  );
export type Evaluation = z.infer<typeof Evaluation>;

export const Approval = z
  .strictObject({
    required: z
      .boolean()
      .default(false)
      .meta({ description: 'Wait for a person to approve before shadow and canary' }),
    approvers: uniqueNames('approver')
      .default([])
      .meta({ description: 'Who may approve, reject or resume a pause' }),
    timeout: Duration.prefault('24h').meta({ description: 'How long to wait for a decision' }),
    onTimeout: z
      .enum(['reject', 'approve'])
      .default('reject')
      .meta({ description: 'What happens when nobody decides in time' }),
  })
  .superRefine(
    (a, ctx) => {
      if (a.required && a.approvers.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'approval is required but no approvers are given',
          path: ['approvers'],
        });
      }
    },
    whenValid('required', 'approvers'),
  );
export type Approval = z.infer<typeof Approval>;

/**
 * Train/serve skew: each model's live scores against its own scores on the offline holdout
 * (src/live/skew.ts). A population shift moves both models; a shift of the candidate alone is a bug
 * between the holdout and live traffic (a feature sent empty, defaulted or in other units).
 */
export const SkewLimits = z.strictObject({
  maxPsiVsOwnHoldout: z.number().min(0).default(0.25).meta({
    description:
      "PSI(candidate's holdout scores, candidate's live scores) at or below this always passes; 0.25 is the usual 'significant shift' line",
  }),
  maxExcessOverChampion: z.number().min(0).default(0.2).meta({
    description:
      "Above maxPsiVsOwnHoldout, the candidate fails when its own PSI exceeds the champion's PSI(champion's holdout scores, champion's live scores) by more than this: the candidate moved and the population did not",
  }),
});
export type SkewLimits = z.infer<typeof SkewLimits>;

export const ShadowChecks = z.strictObject({
  minAgreement: Fraction.default(0.7).meta({
    description:
      'Sanity check against the champion on the same mirrored rows: least share where both decide alike at evaluation.threshold. Loose on purpose: a better model decides differently on some rows; this catches swapped classes or a wholesale break',
  }),
  maxPsi: z.number().min(0).optional().meta({
    description:
      "Largest PSI between the champion's and the candidate's live scores on the same requests. Off by default: a better model of another family scores differently (PSI near 2 is common); preprocessing bugs are caught by `skew`",
  }),
  maxKsStatistic: Fraction.optional().meta({
    description: "Largest Kolmogorov-Smirnov distance between the champion's and the candidate's live scores",
  }),
  maxErrorRate: Fraction.default(0.01).meta({
    description: 'Largest share of candidate requests that may fail',
  }),
  maxLatencyRatio: z.number().gt(0).optional().meta({
    description:
      "Largest candidate/champion ratio of p95 latency. The candidate may instead exceed the champion's p95 by maxLatencyIncreaseMs, whichever is larger: on sub-millisecond p95s a ratio alone calls scheduling noise a regression",
  }),
  maxLatencyIncreaseMs: z.number().min(0).max(60_000).optional().meta({
    description:
      "Absolute allowance on p95 latency, ms: the candidate's p95 may exceed the champion's by this much, whatever the ratio. With maxLatencyRatio it defaults to 0.5; given alone, it is the whole limit (p95 at most the champion's plus this)",
  }),
  skew: SkewLimits.prefault({}).meta({
    description:
      "Train/serve skew: each model's live scores against its own holdout scores; the candidate fails when it moved and the champion did not",
  }),
});

export const Shadow = z
  .strictObject({
    sampleRate: RoutingPercent.default(100).meta({
      description: 'Percent of live requests mirrored to the candidate',
    }),
    minRequests: z
      .number()
      .int()
      .min(1)
      .default(200)
      .meta({ description: 'Mirrored requests needed before judging' }),
    minDuration: Duration.prefault('30s').meta({ description: 'Shadow at least this long' }),
    maxDuration: Duration.prefault('10m').meta({ description: 'Fail if minRequests is not reached by then' }),
    checks: ShadowChecks.prefault({}).meta({
      description:
        'Pass criteria: skew against each model’s own holdout scores, sanity checks against the champion on the same requests, errors and latency',
    }),
  })
  .superRefine(
    (s, ctx) => {
      if (s.maxDuration < s.minDuration) {
        ctx.addIssue({
          code: 'custom',
          message: 'maxDuration is shorter than minDuration',
          path: ['maxDuration'],
        });
      }
    },
    whenValid('minDuration', 'maxDuration'),
  );
export type Shadow = z.infer<typeof Shadow>;

/** `{}` or `{ approvers: [...] }` waits for a person; `{ duration: 1m }` waits that long. */
const Pause = z
  .strictObject({
    duration: Duration.optional().meta({ description: 'Resume by itself after this long' }),
    approvers: uniqueNames('approver')
      .min(1, 'give at least one approver, or leave approvers out to use approval.approvers')
      .optional()
      .meta({ description: 'Who may resume; default approval.approvers' }),
  })
  .refine((p) => p.duration === undefined || p.approvers === undefined, {
    message: 'a pause either waits a duration or waits for approvers, not both',
  });

const SetWeightStep = z.strictObject({
  // The gateway's canary weight, by the same schema, so a spec that validates is a routing it applies.
  setWeight: RoutingPercent.meta({ description: 'Percent of traffic to the candidate' }),
});
const BakeBounds = z
  .strictObject({
    min: Duration.meta({
      description: 'Hold the weight at least this long, even when every check is already non-inferior',
    }),
    max: Duration.meta({
      description: 'Hold it at most this long; then onInconclusive decides for checks still undecided',
    }),
  })
  .refine((b) => b.min <= b.max, { message: 'min must not be longer than max', path: ['min'] });
// Parsed as { bake: max, minBake: min }; a plain duration is a fixed bake (min = max), so specs written
// before bakes had bounds, and workflow histories holding them, keep their meaning.
const BakeStep = z
  .strictObject({
    bake: z.union([Duration, BakeBounds]).meta({
      description:
        'A duration (fixed bake) or { min, max }: analysis runs throughout, a clear fail rolls back at once, and in sequential mode the step ends after min once every check is non-inferior',
    }),
  })
  .transform(({ bake }): { bake: number; minBake?: number } =>
    typeof bake === 'number' ? { bake } : { bake: bake.max, minBake: bake.min },
  );
const PauseStep = z.strictObject({
  pause: Pause.meta({
    description: '{} waits for an approver to resume; { duration: 1m } waits that long',
  }),
});
const AnalysisStep = z.strictObject({
  analysis: z
    .strictObject({ maxDuration: Duration.meta({ description: 'Give up as inconclusive after this long' }) })
    .meta({ description: 'Run analysis until it passes or fails, or maxDuration passes' }),
});

export const CANARY_STEP_KINDS = ['setWeight', 'bake', 'pause', 'analysis'] as const;
export type CanaryStepKind = (typeof CANARY_STEP_KINDS)[number];

/** Says which kind a step is before the union parses it, so a wrong key gets one clear message. */
function checkOneStepKey(step: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof step !== 'object' || step === null || Array.isArray(step)) return step;
  const keys = Object.keys(step);
  const allowed = CANARY_STEP_KINDS.join(', ');
  if (keys.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message:
        keys.length === 0
          ? `a step needs one key: ${allowed}`
          : `a step has exactly one key (${allowed}); this one has ${keys.length}: ${keys.join(', ')}`,
    });
  } else if (!(CANARY_STEP_KINDS as readonly string[]).includes(keys[0] ?? '')) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown step '${keys[0]}' (allowed: ${allowed})`,
      path: [keys[0] ?? ''],
    });
  }
  return step;
}

const CanaryStepInput = z.preprocess(
  checkOneStepKey,
  z.union([SetWeightStep, BakeStep, PauseStep, AnalysisStep]),
);

export const CanaryAnalysis = z.strictObject({
  provider: MetricsProviderSpec.optional().meta({
    description:
      'Where the numbers come from: the gateway’s own statistics (default), or { type: prometheus, url, labels?, queries? } (docs/metrics-providers.md)',
  }),
  mode: z.enum(['sequential', 'bonferroni']).default('sequential').meta({
    description:
      'sequential: anytime-valid tests judged every tick, each alpha divided by the bake and analysis steps only, a step may end early once non-inferior; bonferroni: fixed-sample tests at each alpha divided by every planned look, bakes run their full time',
  }),
  interval: Duration.prefault('5s')
    .refine((ms) => ms >= 1000, 'must be at least 1s')
    .meta({ description: 'How often canary metrics are judged' }),
  minSamples: z
    .number()
    .int()
    .min(1)
    .default(50)
    .meta({ description: 'Requests needed per variant before judging' }),
  maxErrorRateIncrease: Fraction.default(0.01).meta({
    description:
      'Non-inferiority margin of the error rate: canary minus stable, on the same traffic over the same step',
  }),
  errorRateAlpha: Alpha.default(0.05).meta({
    description:
      'Chance of a false error-rate rollback over the whole canary (sequential: e-process; bonferroni: Wald z)',
  }),
  latency: z
    .strictObject({
      alpha: Alpha.default(0.02).meta({
        description:
          'Chance of a false latency rollback over the whole canary (sequential: median-ratio e-process; bonferroni: Mann-Whitney)',
      }),
      maxIncreaseRatio: z.number().min(1).default(1.2).meta({
        description:
          'Non-inferiority margin of latency: canary/stable median latency ratio, same traffic and step',
      }),
      // A ratio alone reads sub-millisecond medians as noise: at 0.1 ms a scheduler hiccup or one
      // more ONNX op is 1.3×. An absolute allowance leaves slower models (median ≥ 2.5 ms at the
      // defaults) judged by the ratio alone.
      maxIncreaseMs: z.number().min(0).max(60_000).default(0.5).meta({
        description:
          'Absolute part of the latency margin: the canary median may exceed the stable median by maxIncreaseRatio× or by this many milliseconds, whichever is larger (0: the ratio alone)',
      }),
    })
    .prefault({}),
  prediction: z
    .strictObject({
      // A better model of another family scores differently from the champion (PSI 2-2.8 measured for
      // gradient boosting replacing a logistic regression), so the default only bounds a wholesale
      // break; preprocessing bugs are the shadow's skew check, against each model's own holdout.
      maxPsi: z.number().min(0).default(3).meta({
        description:
          'Loose bound on how differently the canary scores: PSI(stable scores, canary scores), same step',
      }),
      ksAlpha: Alpha.default(0.01).meta({
        description:
          'Chance of a false score rollback over the whole canary (sequential: PSI confidence sequence; bonferroni: Kolmogorov-Smirnov)',
      }),
    })
    .prefault({}),
  onInconclusive: z
    .strictObject({
      extendBy: Duration.prefault('30s').meta({ description: 'Extra time to gather samples' }),
      maxExtensions: z
        .number()
        .int()
        .min(0)
        // Each extension is one more watch activity (~10 history events) per bake step; with the
        // step cap below a canary's history stays near 11,000 events (bench/RESULTS.md "scale").
        .max(10, 'at most 10 extensions per step')
        .default(3)
        .meta({ description: 'How many times to extend' }),
      then: z
        .enum(['fail', 'pause'])
        .default('fail')
        .meta({ description: 'After the last extension: roll back, or pause for a person' }),
    })
    .prefault({}),
});
export type CanaryAnalysis = z.infer<typeof CanaryAnalysis>;

export const Canary = z.strictObject({
  steps: z
    .array(CanaryStepInput)
    .min(1, 'give at least one step')
    // ~11 history events per step: 100 steps keeps a whole canary far below Temporal's 51,200.
    .max(100, 'at most 100 steps')
    .superRefine((steps, ctx) => {
      let previous: { weight: number; index: number } | undefined;
      steps.forEach((step, index) => {
        if (!('setWeight' in step)) return;
        if (previous !== undefined && step.setWeight < previous.weight) {
          ctx.addIssue({
            code: 'custom',
            message: `weight ${step.setWeight} is below the earlier weight ${previous.weight} (steps[${previous.index}]); weights may not decrease`,
            path: [index, 'setWeight'],
          });
        }
        previous = { weight: step.setWeight, index };
      });
      if (previous === undefined)
        ctx.addIssue({ code: 'custom', message: 'a canary needs at least one setWeight step' });
    })
    .meta({ description: 'Ordered steps, each exactly one of setWeight, bake, pause, analysis' }),
  analysis: CanaryAnalysis.prefault({}).meta({
    description: 'How canary metrics are judged while steps run',
  }),
});

export const Rollback = z.strictObject({
  automatic: z
    .boolean()
    .default(true)
    .meta({ description: 'Roll back by itself when shadow or canary fails' }),
  keepPreviousFor: Duration.prefault('1h').meta({
    description: 'Keep the previous champion loaded this long after promotion, for instant rollback',
  }),
});

export type Rollback = z.infer<typeof Rollback>;

export const Target = z
  .strictObject({
    type: z.literal('gateway').default('gateway').meta({ description: 'Serving target kind' }),
    url: ReplicaUrl.optional().meta({
      description: 'Base URL of the prograde gateway (one replica; or give replicas, or dns)',
    }),
    replicas: z
      .array(ReplicaUrl)
      .min(1, 'list at least one replica URL')
      .max(64, 'at most 64 replicas')
      .refine((urls) => new Set(urls.map((u) => u.replace(/\/+$/, ''))).size === urls.length, {
        message: 'a replica URL is listed twice',
      })
      .optional()
      .meta({ description: 'Base URLs of every gateway replica: routing goes to all of them' }),
    dns: ReplicaDns.optional().meta({
      description:
        'DNS name of the gateway replicas (A or SRV records), resolved at every routing change and watch tick',
    }),
    quorum: z.number().int().min(1, 'must be at least 1').max(64).optional().meta({
      description:
        'Replicas that must apply a routing change (and report statistics) before a step goes on; default: all',
    }),
    tokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .meta({ description: 'Environment variable holding the gateway admin token' }),
    whenBusy: z
      .enum(['queue', 'refuse'])
      .optional()
      .meta({
        description:
          'When another promotion of this model holds the target: queue (default; offline gates run at once, ' +
          'the live rollout waits its turn) or refuse (rejected at start)',
      }),
  })
  .superRefine((t, ctx) => {
    const given = (['url', 'replicas', 'dns'] as const).filter((k) => t[k] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? 'name the gateway: url (one), replicas (a list) or dns (a service name)'
            : `give one of url, replicas and dns, not ${given.join(' and ')}`,
      });
    if (t.quorum !== undefined && t.replicas !== undefined && t.quorum > t.replicas.length)
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `quorum ${t.quorum} is more than the ${t.replicas.length} replicas listed`,
      });
    if (t.quorum !== undefined && t.url !== undefined && t.quorum > 1)
      ctx.addIssue({ code: 'custom', path: ['quorum'], message: 'one url is one replica: quorum must be 1' });
  })
  // `url` always names the target: the rollout lock is keyed on it, and status lines show it.
  .transform((t) => ({ ...t, url: t.url ?? targetName(t) }));

/** The name of a replicated target: its first replica (sorted), or its DNS name as a URL. */
function targetName(t: { replicas?: readonly string[] | undefined; dns?: ReplicaDns | undefined }): string {
  const first = t.replicas ? [...t.replicas].map((u) => u.replace(/\/+$/, '')).sort()[0] : undefined;
  if (first !== undefined) return first;
  const d = t.dns;
  return d ? `${d.scheme}://${d.name.replace(/\.$/, '')}${d.port !== undefined ? `:${d.port}` : ''}` : '';
}

export type Target = z.infer<typeof Target>;
export type Aliases = z.infer<typeof Aliases>;
export type ShadowChecks = z.infer<typeof ShadowChecks>;

const SpecObject = z.strictObject({
  apiVersion: z.literal('prograde/v1').meta({ description: 'Spec format version; must be prograde/v1' }),
  model: Name.meta({ description: 'MLflow registered model name' }),
  aliases: Aliases.prefault({}).meta({
    description: 'Registry aliases naming the champion and the candidate',
  }),
  task: Task.default('binary-classification').meta({ description: 'What the model predicts' }),
  contract: Contract.meta({ description: 'The input/output signature the candidate must have' }),
  evaluation: Evaluation.meta({ description: 'Offline evaluation on a holdout dataset' }),
  gates: Gates.prefault({}).meta({ description: 'Offline checks: performance, fairness, latency' }),
  approval: Approval.prefault({}).meta({ description: 'Human approval before live traffic' }),
  operators: uniqueNames('operator').default([]).meta({
    description:
      'Who may pause, resume, abort or promote --full; none listed: nobody may (each must be trusted in the worker trust file)',
  }),
  identity: z.enum(['verified', 'unverified']).default('verified').meta({
    description:
      'verified (default): decisions are signed with SSH keys the worker trust file pins; unverified: names are typed (--as), say so only for tests and demos',
  }),
  shadow: Shadow.optional().meta({
    description: 'Mirror live traffic to the candidate without serving its answers',
  }),
  canary: Canary.optional().meta({ description: 'Shift live traffic to the candidate in steps' }),
  rollback: Rollback.prefault({}).meta({
    description: 'What happens when a live phase fails, and after promotion',
  }),
  target: Target.optional().meta({ description: 'Where the models are served' }),
});
type SpecObject = z.infer<typeof SpecObject>;

const CLASSIFICATION_ONLY: readonly string[] = [...HigherIsBetterMetric.options, 'log_loss', 'brier'];
const REGRESSION_ONLY: readonly string[] = LowerIsBetterMetric.options.filter(
  (m) => m === 'rmse' || m === 'mae',
);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The canary steps that already have a problem, so a check across sections need not pile on. */
function stepsWithIssues(ctx: z.RefinementCtx): Set<unknown> {
  return new Set(
    ctx.issues.filter((i) => i.path?.[0] === 'canary' && i.path[1] === 'steps').map((i) => i.path?.[2]),
  );
}

/**
 * Checks across sections. It reads the payload as unknown so it can run — and report — even while
 * other sections still have problems; a person fixing the spec then sees everything at once.
 */
function checkAcrossSections(spec: unknown, ctx: z.RefinementCtx): void {
  if (!isRecord(spec)) return;
  const { gates, evaluation, contract, task, approval, canary } = spec;
  const sensitive =
    isRecord(evaluation) && Array.isArray(evaluation['sensitive']) ? evaluation['sensitive'] : undefined;
  if (isRecord(gates) && gates['fairness'] !== undefined && sensitive?.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'fairness checks need evaluation.sensitive columns; none are given',
      path: ['gates', 'fairness'],
    });
  }

  if (
    isRecord(gates) &&
    Array.isArray(gates['performance']) &&
    (task === 'binary-classification' || task === 'regression')
  ) {
    const wrong = task === 'regression' ? CLASSIFICATION_ONLY : REGRESSION_ONLY;
    gates['performance'].forEach((check: unknown, i) => {
      if (isRecord(check) && typeof check['metric'] === 'string' && wrong.includes(check['metric'])) {
        ctx.addIssue({
          code: 'custom',
          message: `metric '${check['metric']}' does not apply to task ${task}`,
          path: ['gates', 'performance', i, 'metric'],
        });
      }
    });
  }
  if (task === 'regression' && isRecord(gates) && gates['fairness'] !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'fairness checks apply to binary-classification only',
      path: ['gates', 'fairness'],
    });
  }

  const features =
    isRecord(evaluation) && Array.isArray(evaluation['features']) ? evaluation['features'] : undefined;
  const inputs =
    isRecord(contract) && Array.isArray(contract['inputs']) ? (contract['inputs'] as unknown[]) : undefined;
  const only = inputs?.length === 1 && isRecord(inputs[0]) ? inputs[0] : undefined;
  const shape = only !== undefined && Array.isArray(only['shape']) ? (only['shape'] as unknown[]) : undefined;
  const width = shape?.length === 2 ? shape[1] : undefined;
  if (features !== undefined && typeof width === 'number' && width > 0 && features.length !== width) {
    ctx.addIssue({
      code: 'custom',
      message: `${features.length} feature columns are listed but contract input ${quote(String(only?.['name']))} takes ${width}`,
      path: ['evaluation', 'features'],
    });
  }

  const approvers = isRecord(approval) && Array.isArray(approval['approvers']) ? approval['approvers'] : [];
  if (isRecord(canary) && Array.isArray(canary['steps']) && approvers.length === 0) {
    const withIssues = stepsWithIssues(ctx);
    canary['steps'].forEach((step: unknown, i) => {
      const pause = isRecord(step) && isRecord(step['pause']) ? step['pause'] : undefined;
      if (pause === undefined || withIssues.has(i)) return;
      if (pause['duration'] === undefined && pause['approvers'] === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            'a manual pause needs someone to resume it; give pause.approvers, approval.approvers, or a duration',
          path: ['canary', 'steps', i, 'pause'],
        });
      }
    });
  }
}

/** A canary step as the workflow receives it: a manual pause always names its approvers. */
export type CanaryStep =
  | { setWeight: number }
  | { bake: number; minBake?: number }
  | { pause: { duration: number } }
  | { pause: { approvers: string[] } }
  | { analysis: { maxDuration: number } };

export type Canary = Omit<z.infer<typeof Canary>, 'steps'> & { steps: CanaryStep[] };

export type PromotionSpec = Omit<SpecObject, 'canary'> & { canary?: Canary };

function withResolvedPauses(spec: SpecObject): PromotionSpec {
  const { canary, ...rest } = spec;
  if (canary === undefined) return rest;
  const steps = canary.steps.map((step): CanaryStep => {
    if (!('pause' in step)) return step;
    const { duration, approvers } = step.pause;
    return duration !== undefined
      ? { pause: { duration } }
      : { pause: { approvers: approvers ?? spec.approval.approvers } };
  });
  return { ...rest, canary: { ...canary, steps } };
}

export const PromotionSpec = SpecObject.check(
  z.superRefine(checkAcrossSections, { when: (payload) => isRecord(payload.value) }),
).transform(withResolvedPauses);

/** What a person writes (durations and sizes as text, defaults optional). */
export type PromotionSpecInput = z.input<typeof PromotionSpec>;

/** Which of the four kinds a canary step is. */
export function canaryStepKind(step: CanaryStep): CanaryStepKind {
  if ('setWeight' in step) return 'setWeight';
  if ('bake' in step) return 'bake';
  if ('pause' in step) return 'pause';
  return 'analysis';
}
