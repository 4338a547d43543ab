"""Reference values for src/stats/fairness-bootstrap.ts, computed with fairlearn's metrics.

Reads {"cases": [{"id": str, "fn": str, "args": {...}}]} as JSON on stdin and prints
{"results": {id: {"value": ...} | {"error": str}}}, like stats_oracle.py. Test-only.

The paired bootstrap is recomputed the slow, obvious way: for every resample (a row weighting the
test passes in, drawn by src/stats/resample.ts), fairlearn's metric of each model with
`sample_weight`, then candidate minus champion. Nothing of the TypeScript is reused: no cells, no lane
sums, no packed weights. The judged groups are those with at least `min_group_size` rows in the full
data; rows of other groups are dropped before fairlearn sees them. A resample that leaves a judged
group without weight, or whose metric is not finite (a 0/0 ratio), is skipped and counted.
"""

import math
from collections import Counter

import numpy as np
from fairlearn import metrics as flm
from oracle_protocol import serve


def _pred(scores, threshold):
    return (np.asarray(scores, dtype=float) >= threshold).astype(int)


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
        deltas, skipped = [], 0
        for w in a["weights"]:
            w = np.asarray(w, dtype=float)[keep]
            present = set(groups[w > 0].tolist())
            if any(g not in present for g in judged):
                skipped += 1
                continue
            d = value(metric, cand, w) - value(metric, champ, w)
            if not math.isfinite(d):
                skipped += 1
                continue
            deltas.append(float(d))
        lower, upper = np.quantile(deltas, [alpha, 1 - alpha]).tolist() if deltas else (None, None)
        out[metric] = {
            "candidate": float(value(metric, cand, full)),
            "champion": float(value(metric, champ, full)),
            "deltas": sorted(deltas),
            "skipped": skipped,
            "lower": lower,
            "upper": upper,
        }
    return out


if __name__ == "__main__":
    serve({"paired_fairness_deltas": paired_fairness_deltas})
