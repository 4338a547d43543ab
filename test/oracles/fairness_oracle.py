"""Reference values for src/stats/fairness-bootstrap.ts, computed with fairlearn's metrics.

Reads {"cases": [{"id": str, "fn": str, "args": {...}}]} as JSON on stdin and prints
{"results": {id: {"value": ...} | {"error": str}}}, like stats_oracle.py. Test-only.

The paired bootstrap is recomputed the slow, obvious way: for every resample (a row weighting the
test passes in, drawn by src/stats/resample.ts), fairlearn's metric of each model with
`sample_weight`, then candidate minus champion. Nothing of the TypeScript is reused: no cells, no lane
sums, no packed weights. The judged groups are those with at least `min_group_size` rows in the full
data; rows of other groups are dropped before fairlearn sees them. A resample that leaves a judged
group without weight, or whose metric is not finite (a 0/0 ratio), is skipped and counted.

The simultaneous interval (src/stats/fairness-contrasts.ts) is recomputed from its definition with
numpy: the champion's per-group rates under each weighting, every ordered-pair contrast, the bootstrap
standard deviations, the max-T quantiles, and the extreme of the per-contrast bounds.
"""

import math
from collections import Counter

import numpy as np
from fairlearn import metrics as flm
from oracle_protocol import serve


def _pred(scores, threshold):
    return (np.asarray(scores, dtype=float) >= threshold).astype(int)


def _group_rates(y, pred, groups, judged, w):
    rates = {"sel": [], "tpr": [], "fpr": []}
    for g in judged:
        m = groups == g
        n, pos = w[m].sum(), (w[m] * y[m]).sum()
        neg = n - pos
        rates["sel"].append((w[m] * pred[m]).sum() / n)
        rates["tpr"].append((w[m] * y[m] * pred[m]).sum() / pos if pos > 0 else 0.0)
        rates["fpr"].append((w[m] * (1 - y[m]) * pred[m]).sum() / neg if neg > 0 else 0.0)
    return {k: np.asarray(v) for k, v in rates.items()}


def _contrasts(metric, champion_rates):
    kinds = {"equalized_odds_difference": ["tpr", "fpr"], "equal_opportunity_difference": ["tpr"]}.get(metric, ["sel"])
    ratio = metric == "demographic_parity_ratio"
    g = len(champion_rates["sel"])
    pairs = [(k, i, j) for k in kinds for i in range(g) for j in range(g)
             if i != j and not (ratio and champion_rates["sel"][j] == 0)]
    return ratio, pairs


def _contrast_deltas(ratio, pairs, candidate_metric, r):
    return np.array([candidate_metric - (r[k][i] / r[k][j] if ratio else r[k][i] - r[k][j]) for k, i, j in pairs])


def _simultaneous(ratio, full, stars, confidence):
    stars = np.asarray(stars)
    se = stars.std(axis=0, ddof=1) if len(stars) > 1 else np.zeros(len(full))
    safe = np.where(se > 0, se, 1.0)
    t = np.where(se > 0, (stars - full) / safe, 0.0)
    level = 1 - (1 - confidence) / 2
    c_lower = np.quantile(np.maximum(t.max(axis=1), 0), level)
    c_upper = np.quantile(np.maximum((-t).max(axis=1), 0), level)
    pick = np.max if ratio else np.min
    return float(pick(full - c_lower * se)), float(pick(full + c_upper * se))


def paired_fairness_deltas(a):
    y = np.asarray(a["labels"], dtype=int)
    groups = np.asarray(a["groups"])
    counts = Counter(groups.tolist())
    judged = sorted(g for g, c in counts.items() if c >= a["min_group_size"])
    keep = np.isin(groups, judged)
    y, groups = y[keep], groups[keep]
    cand = _pred(a["candidate"], a["threshold"])[keep]
    champ = _pred(a["champion"], a["threshold"])[keep]
    alpha = (1 - a["confidence"]) / 2

    def value(metric, pred, w):
        fn = getattr(flm, metric)
        return fn(y[w > 0], pred[w > 0], sensitive_features=groups[w > 0], sample_weight=w[w > 0])

    full = np.ones(len(y))
    out = {}
    for metric in a["metrics"]:
        candidate_full = value(metric, cand, full)
        ratio, pairs = _contrasts(metric, _group_rates(y, champ, groups, judged, full))
        full_contrasts = _contrast_deltas(ratio, pairs, candidate_full, _group_rates(y, champ, groups, judged, full))
        deltas, stars, skipped = [], [], 0
        for w in a["weights"]:
            w = np.asarray(w, dtype=float)[keep]
            present = set(groups[w > 0].tolist())
            if any(g not in present for g in judged):
                skipped += 1
                continue
            cm = value(metric, cand, w)
            d = cm - value(metric, champ, w)
            star = _contrast_deltas(ratio, pairs, cm, _group_rates(y, champ, groups, judged, w))
            if not math.isfinite(d) or not np.all(np.isfinite(star)):
                skipped += 1
                continue
            deltas.append(float(d))
            stars.append(star)
        lower, upper = np.quantile(deltas, [alpha, 1 - alpha]).tolist() if deltas else (None, None)
        sim_lower, sim_upper = _simultaneous(ratio, full_contrasts, stars, a["confidence"])
        out[metric] = {
            "candidate": float(candidate_full),
            "champion": float(value(metric, champ, full)),
            "deltas": sorted(deltas),
            "skipped": skipped,
            "lower": lower,
            "upper": upper,
            "simultaneous": {"lower": sim_lower, "upper": sim_upper, "contrasts": len(pairs)},
        }
    return out


if __name__ == "__main__":
    serve({"paired_fairness_deltas": paired_fairness_deltas})
