import type { HoldoutScores, ScoreSketch } from '../promotion/contracts';
import type { CheckResult } from '../promotion/verdict';
import type { SkewLimits } from '../spec/schema';
import { binShares, psiFromShares } from '../stats/drift';
import { evenSubsample, finite, round } from './evidence';

/**
 * Train/serve skew: is the candidate, on live traffic, still the model that was evaluated offline?
 *
 * Each model's live scores are compared with ITS OWN scores on the offline holdout, in the holdout's
 * decile bins (the `ScoreSketch` the evaluation made): psiCandidate = PSI(candidate holdout, candidate
 * live) and psiChampion = PSI(champion holdout, champion live), on the same live population (the same
 * mirrored requests in shadow; the same traffic split at random in canary). The champion is the
 * control: a shift of the population moves both, a preprocessing bug the candidate alone depends on
 * (a feature sent empty, defaulted, or in other units) moves only the candidate.
 *
 * Decision rule, judged on point estimates once each side has `MIN_SKEW_SCORES` finite live scores
 * (the larger side is first thinned evenly to the smaller one's count, so both PSIs carry the same
 * small-sample bias, about (bins − 1)·(1/live + 1/holdout), which then cancels in the difference):
 *   failed  ⇔ psiCandidate > maxPsiVsOwnHoldout  AND  psiCandidate − psiChampion > maxExcessOverChampion
 *   passed  otherwise.
 * The first condition keeps small shifts out of it altogether; the second forgives a shift the
 * champion shows too. At 100 scores a side the bias is about 0.09 and the difference of two PSIs
 * varies by about 0.06 (sd) when nothing moved, so the 0.2 default is more than three sd away.
 * Champion and candidate are never compared with each other: a better model of another family is
 * supposed to score differently.
 *
 * What it cannot tell apart: a genuine population shift in a feature only the candidate uses looks
 * like skew (it is rolled back, and the evidence says which model moved and by how much).
 */

/** Fewer live scores than this a side and the check waits: below it, 10 bins are too noisy. */
export const MIN_SKEW_SCORES = 100;

export type SkewRole = 'shadow' | 'canary';

export interface SkewInput {
  readonly reference: HoldoutScores;
  /** The candidate's live scores (the shadow or the canary variant). */
  readonly candidate: readonly number[];
  /** The champion's live scores over the same window. */
  readonly champion: readonly number[];
  readonly limits: SkewLimits;
  readonly role: SkewRole;
}

export interface SkewMeasure {
  readonly psiCandidate: number;
  readonly psiChampion: number;
  readonly excess: number;
  readonly failed: boolean;
  readonly candidateLiveShares: readonly number[];
  readonly championLiveShares: readonly number[];
}

/** PSI of live scores against a holdout sketch, in the sketch's bins. */
function psiVsHoldout(sketch: ScoreSketch, live: readonly number[]): { psi: number; shares: number[] } {
  const shares = binShares(live, sketch.edges, 'live scores');
  return { psi: psiFromShares(sketch.shares, shares), shares };
}

/** The decision rule above, on finite live scores (both non-empty). */
export function measureSkew(
  reference: HoldoutScores,
  candidate: readonly number[],
  champion: readonly number[],
  limits: SkewLimits,
): SkewMeasure {
  const c = psiVsHoldout(reference.candidate, candidate);
  const s = psiVsHoldout(reference.champion, champion);
  const excess = c.psi - s.psi;
  return {
    psiCandidate: c.psi,
    psiChampion: s.psi,
    excess,
    failed: c.psi > limits.maxPsiVsOwnHoldout && excess > limits.maxExcessOverChampion,
    candidateLiveShares: c.shares,
    championLiveShares: s.shares,
  };
}

const rounded = (xs: readonly number[]): number[] => xs.map((x) => round(x, 3));

export function skewCheck(input: SkewInput): CheckResult {
  const { reference, limits, role } = input;
  const candAll = finite(input.candidate);
  const champAll = finite(input.champion);
  const n = Math.min(candAll.length, champAll.length);
  const cand = evenSubsample(candAll, n);
  const champ = evenSubsample(champAll, n);
  const base = {
    name: 'train/serve skew',
    metric: `PSI(candidate holdout scores, ${role} live scores) − PSI(champion holdout scores, stable live scores)`,
    threshold: limits.maxExcessOverChampion,
    comparator: '<=' as const,
    sampleSize: cand.length,
  };
  const holdout = {
    datasetSha256: reference.datasetSha256,
    candidateHoldoutRows: reference.candidate.rows,
    championHoldoutRows: reference.champion.rows,
  };
  if (n < MIN_SKEW_SCORES) {
    return {
      ...base,
      status: 'inconclusive',
      message: `train/serve skew: waiting for live scores: ${role} ${Math.min(candAll.length, MIN_SKEW_SCORES)}/${MIN_SKEW_SCORES}, stable ${Math.min(champAll.length, MIN_SKEW_SCORES)}/${MIN_SKEW_SCORES}`,
      evidence: { ...holdout, liveCandidate: candAll.length, liveChampion: champAll.length },
    };
  }
  const m = measureSkew(reference, cand, champ, limits);
  const own = `candidate live vs its holdout PSI ${round(m.psiCandidate, 3)}`;
  const control = `champion live vs its holdout PSI ${round(m.psiChampion, 3)}`;
  const message = m.failed
    ? `train/serve skew: ${own} > ${limits.maxPsiVsOwnHoldout} while ${control}, ${round(m.excess, 3)} more > ${limits.maxExcessOverChampion}: the candidate moved and the population did not (a feature it relies on may arrive empty, defaulted or in other units)`
    : m.psiCandidate <= limits.maxPsiVsOwnHoldout
      ? `train/serve skew: ${own} ≤ ${limits.maxPsiVsOwnHoldout} (${control})`
      : `train/serve skew: ${own} > ${limits.maxPsiVsOwnHoldout}, but ${control} moved alike (excess ${round(m.excess, 3)} ≤ ${limits.maxExcessOverChampion}): a population shift`;
  return {
    ...base,
    status: m.failed ? 'failed' : 'passed',
    value: round(m.excess),
    message,
    evidence: {
      ...holdout,
      psiCandidateVsOwnHoldout: round(m.psiCandidate),
      psiChampionVsOwnHoldout: round(m.psiChampion),
      maxPsiVsOwnHoldout: limits.maxPsiVsOwnHoldout,
      liveCandidate: candAll.length,
      liveChampion: champAll.length,
      comparedPerSide: n,
      candidateBins: {
        edges: rounded(reference.candidate.edges),
        holdout: rounded(reference.candidate.shares),
        live: rounded(m.candidateLiveShares),
      },
      championBins: {
        edges: rounded(reference.champion.edges),
        holdout: rounded(reference.champion.shares),
        live: rounded(m.championLiveShares),
      },
    },
  };
}
