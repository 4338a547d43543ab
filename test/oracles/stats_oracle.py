"""Reference values for src/stats, computed with scikit-learn, scipy and fairlearn.

Reads {"cases": [{"id": str, "fn": str, "args": {...}}]} as JSON on stdin and prints
{"results": {id: {"value": ...} | {"error": str}}}. One process answers a whole test file, so the
TypeScript tests pay the Python start-up once. Test-only: product code never runs Python.
"""

import math

import numpy as np
from fairlearn import metrics as flm
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm
from oracle_protocol import serve


def _pred(a):
    return (np.asarray(a["scores"], dtype=float) >= a["threshold"]).astype(int)


def metric(a):
    s = np.asarray(a["scores"], dtype=float)
    y = np.asarray(a["labels"], dtype=float)
    w = a.get("weights")
    w = None if w is None else np.asarray(w, dtype=float)
    name = a["name"]
    pred = _pred(a)
    yi = y.astype(int) if name not in ("rmse", "mae") else y
    if name == "accuracy":
        return skm.accuracy_score(yi, pred, sample_weight=w)
    if name == "precision":
        return skm.precision_score(yi, pred, zero_division=0, sample_weight=w)
    if name == "recall":
        return skm.recall_score(yi, pred, zero_division=0, sample_weight=w)
    if name == "f1":
        return skm.f1_score(yi, pred, zero_division=0, sample_weight=w)
    if name == "auc":
        return skm.roc_auc_score(yi, s, sample_weight=w)
    if name == "log_loss":
        return skm.log_loss(yi, s, labels=[0, 1], sample_weight=w)
    if name == "brier":
        return skm.brier_score_loss(yi, s, sample_weight=w, labels=[0, 1])
    if name == "rmse":
        return skm.root_mean_squared_error(y, s, sample_weight=w)
    if name == "mae":
        return skm.mean_absolute_error(y, s, sample_weight=w)
    raise ValueError(f"unknown metric {name}")


def paired_deltas(a):
    """Δ = metric(candidate) − metric(champion) under each given row weighting (a bootstrap resample),
    with scikit-learn's sample_weight; rows of weight 0 are dropped first, so a resample that leaves one
    class has no AUC (ValueError) and is skipped, as in src/stats/bootstrap.ts."""
    labels = np.asarray(a["labels"], dtype=float)
    cand = np.asarray(a["candidate"], dtype=float)
    champ = np.asarray(a["champion"], dtype=float)
    alpha = (1 - a["confidence"]) / 2
    out = {}
    for name in a["metrics"]:
        deltas, skipped = [], 0
        for w in a["weights"]:
            w = np.asarray(w, dtype=float)
            keep = w > 0
            try:
                args = {"name": name, "labels": labels[keep], "threshold": a["threshold"], "weights": w[keep]}
                d = metric({**args, "scores": cand[keep]}) - metric({**args, "scores": champ[keep]})
            except ValueError:
                skipped += 1
                continue
            if not math.isfinite(d):
                skipped += 1
                continue
            deltas.append(float(d))
        lower, upper = np.quantile(deltas, [alpha, 1 - alpha]).tolist() if deltas else (None, None)
        out[name] = {"deltas": deltas, "skipped": skipped, "lower": lower, "upper": upper}
    return out


def poisson_cdf_2_32(a):
    """round(P(X <= k) * 2**32) for X ~ Poisson(mu), k = 0..k_max."""
    return [int(round(stats.poisson.cdf(k, a["mu"]) * 2**32)) for k in range(a["k_max"] + 1)]


def fairness(a):
    y = np.asarray(a["labels"], dtype=int)
    pred = _pred(a)
    g = np.asarray(a["groups"])
    fn = getattr(flm, a["metric"])
    return float(fn(y, pred, sensitive_features=g))


def group_rates(a):
    y = np.asarray(a["labels"], dtype=int)
    pred = _pred(a)
    mf = flm.MetricFrame(
        metrics={
            "selectionRate": flm.selection_rate,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
            "count": flm.count,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=np.asarray(a["groups"]),
    )
    table = mf.by_group
    return {str(k): {c: float(table.loc[k, c]) for c in table.columns} for k in table.index}


def _bins(ref, bins):
    edges = np.unique(np.quantile(ref, [k / bins for k in range(1, bins)]))
    return edges


def _shares(x, edges):
    idx = np.searchsorted(edges, x, side="left")
    return np.bincount(idx, minlength=len(edges) + 1) / len(x)


def psi(a):
    ref = np.asarray(a["reference"], dtype=float)
    cur = np.asarray(a["current"], dtype=float)
    edges = _bins(ref, a["bins"])
    r = np.maximum(_shares(ref, edges), a["epsilon"])
    c = np.maximum(_shares(cur, edges), a["epsilon"])
    return {"psi": float(np.sum((c - r) * np.log(c / r))), "edges": edges.tolist(),
            "js": float(jensenshannon(_shares(ref, edges), _shares(cur, edges), base=2))}


def ks(a):
    r = stats.ks_2samp(a["x"], a["y"], method=a.get("method", "exact"))
    return {"statistic": float(r.statistic), "pValue": float(r.pvalue)}


def mwu(a):
    r = stats.mannwhitneyu(a["x"], a["y"], alternative=a["alternative"], method="asymptotic")
    return {"statistic": float(r.statistic), "pValue": float(r.pvalue)}


def hodges_lehmann(a):
    return float(np.median(np.subtract.outer(np.asarray(a["x"]), np.asarray(a["y"]))))


def ztest(a):
    x1, n1, x2, n2 = a["x1"], a["n1"], a["x2"], a["n2"]
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    alt = a["alternative"]
    pv = 2 * stats.norm.sf(abs(z)) if alt == "two-sided" else (stats.norm.sf(z) if alt == "greater" else stats.norm.cdf(z))
    return {"statistic": z, "pValue": float(pv)}


def mcnemar(a):
    b, c = a["b"], a["c"]
    n = b + c
    if n < 25:
        return {"statistic": min(b, c), "pValue": float(stats.binomtest(min(b, c), n, 0.5).pvalue) if n else 1.0}
    chi = (abs(b - c) - 1) ** 2 / n
    return {"statistic": chi, "pValue": float(stats.chi2.sf(chi, 1))}


def quantile(a):
    return np.quantile(np.asarray(a["values"], dtype=float), a["ps"]).tolist()


def norm(a):
    z = np.asarray(a["zs"], dtype=float)
    p = np.asarray(a["ps"], dtype=float)
    return {"cdf": stats.norm.cdf(z).tolist(), "sf": stats.norm.sf(z).tolist(), "ppf": stats.norm.ppf(p).tolist()}


FUNCTIONS = {
    "metric": metric,
    "paired_deltas": paired_deltas,
    "poisson_cdf_2_32": poisson_cdf_2_32,
    "fairness": fairness,
    "group_rates": group_rates,
    "psi": psi,
    "ks": ks,
    "mwu": mwu,
    "hodges_lehmann": hodges_lehmann,
    "ztest": ztest,
    "mcnemar": mcnemar,
    "quantile": quantile,
    "norm": norm,
}


if __name__ == "__main__":
    serve(FUNCTIONS)
