"""Reference values for src/stats/sequential.ts, computed with PyPI `savvi` and scipy.

Reads {"cases": [{"id": str, "fn": str, "args": {...}}]} as JSON on stdin and prints
{"results": {id: {"value": ...} | {"error": str}}}, like stats_oracle.py. Test-only.

The mixture martingale itself comes from savvi (Lindon and Malek's Dirichlet-multinomial test,
`savvi.Multinomial`, whose `odds` after `update(counts)` is the mixture likelihood ratio against the
null `theta_0` with the prior Dirichlet(k * theta_0)); savvi updates it one batch at a time, so this
also checks the closed form the TypeScript uses. Truncation to one side uses scipy's beta tails. The
infima over nuisance values and thresholds are taken by brute force (dense grids, then scipy's bounded
scalar minimiser), not by the TypeScript's search, and interval ends by scipy's brentq.
"""


import math

import mpmath
import numpy as np
from savvi.multinomial import Multinomial
from scipy import optimize, special, stats
from oracle_protocol import serve

EDGE = 1e-12


def savvi_log_mixture(s, n, theta0, k):
    """log odds of savvi's two-cell Multinomial test after observing s successes in n trials."""
    t = min(1 - EDGE, max(EDGE, theta0))
    # savvi checks that theta_0 sums to exactly 1; 1 - t can round, so build the pair from one value.
    theta = np.array([t, 1.0 - t])
    if theta.sum() != 1:
        theta = np.array([1.0 - (1.0 - t), 1.0 - t])
    m = Multinomial(0.05, theta, k=k)
    if n > 0:
        # Two batches, so savvi's own sequential update is exercised, not just one closed form.
        first = np.array([s // 2, (n - s) // 2], dtype=np.int64)
        second = np.array([s - s // 2, (n - s) - (n - s) // 2], dtype=np.int64)
        m.update(first)
        m.update(second)
    return float(math.log(m.odds)) if m.odds > 0 else -math.inf


def closed_log_mixture(s, n, theta0, k):
    t = min(1 - EDGE, max(EDGE, theta0))
    a0, b0 = k * t, k * (1 - t)
    return float(
        special.betaln(a0 + s, b0 + n - s) - special.betaln(a0, b0) - special.xlogy(s, t) - special.xlogy(n - s, 1 - t)
    )


def one_sided(s, n, theta0, k, side, log_mixture=savvi_log_mixture):
    t = min(1 - EDGE, max(EDGE, theta0))
    a0, b0 = k * t, k * (1 - t)
    a, b = a0 + s, b0 + n - s
    return log_mixture(s, n, t, k) + log_tail(t, a, b, side) - log_tail(t, a0, b0, side)


def log_tail(x, a, b, side):
    """log P(Beta(a, b) > x) ('greater') or ≤ x ('less'); mpmath where scipy's double underflows."""
    v = float(stats.beta.logsf(x, a, b) if side == "greater" else stats.beta.logcdf(x, a, b))
    if math.isfinite(v) and v > -700:
        return v
    # I_y(p, q) = y^p (1 − y)^q / (p B(p, q)) · 2F1(p + q, 1; p + 1; y), in 50-digit arithmetic.
    mpmath.mp.dps = 50
    y, p, q = (1 - mpmath.mpf(x), b, a) if side == "greater" else (mpmath.mpf(x), a, b)
    log_i = (
        p * mpmath.log(y)
        + q * mpmath.log(1 - y)
        - mpmath.log(p)
        - mpmath.log(mpmath.beta(p, q))
        + mpmath.log(mpmath.hyp2f1(p + q, 1, p + 1, y))
    )
    return float(mpmath.re(log_i))


def ks_of(k):
    return list(k) if isinstance(k, (list, tuple)) else [k]


def mean_exp(logs):
    """log of the equal-weight average of exp(logs)."""
    return float(special.logsumexp(logs) - math.log(len(logs)))


def hedged(x):
    return float(np.logaddexp(0.0, x) - math.log(2))


def special_fns(a):
    return {
        "gammaln": [float(special.gammaln(x)) for x in a["xs"]],
        "betaln": [float(special.betaln(p, q)) for p, q in a["pairs"]],
        "logcdf": [float(stats.beta.logcdf(x, p, q)) for x, p, q in a["triples"]],
        "logsf": [float(stats.beta.logsf(x, p, q)) for x, p, q in a["triples"]],
    }


def mixture(a):
    return savvi_log_mixture(a["s"], a["n"], a["theta0"], a["k"])


def one_sided_fn(a):
    return one_sided(a["s"], a["n"], a["theta0"], a["k"], a["side"])


def _log_tail_vec(x, a, b, side):
    """Vectorised log_tail: scipy on the whole grid, mpmath only where scipy's double underflows."""
    v = np.asarray(stats.beta.logsf(x, a, b) if side == "greater" else stats.beta.logcdf(x, a, b), dtype=float)
    bad = ~np.isfinite(v) | (v <= -700)
    for i in np.flatnonzero(bad):
        v[i] = log_tail(float(x[i]), float(a[i]), float(b[i]), side)
    return v


def difference(a):
    """inf over nu of M_A(nu + margin) * (1 + M_B(nu)) / 2, by a dense grid and a bounded minimiser."""
    sa, na, sb, nb = a["sA"], a["nA"], a["sB"], a["nB"]
    margin, side, ka, kb = a["margin"], a["side"], a["kA"], a["kB"]
    lo = (max(0.0, -margin) if side == "greater" else 0.0) + EDGE
    hi = (1.0 if side == "greater" else min(1.0, 1.0 - margin)) - EDGE

    def f(nu, log_mixture=closed_log_mixture):
        u = nu + margin
        vacuous = u >= 1 - EDGE if side == "greater" else u <= EDGE
        term_a = 0.0 if vacuous else mean_exp([one_sided(sa, na, u, k, side, log_mixture) for k in ks_of(ka)])
        return term_a + hedged(mean_exp([log_mixture(sb, nb, nu, k) for k in ks_of(kb)]))

    def f_grid(nus):
        # The same as f, evaluated on the whole grid at once with scipy's vectorised special functions.
        nus = np.clip(nus, EDGE, 1 - EDGE)
        u = nus + margin
        vacuous = u >= 1 - EDGE if side == "greater" else u <= EDGE
        t = np.clip(u, EDGE, 1 - EDGE)
        terms_a = []
        for k in ks_of(ka):
            a0, b0 = k * t, k * (1 - t)
            mix_a = special.betaln(a0 + sa, b0 + na - sa) - special.betaln(a0, b0) - special.xlogy(sa, t) - special.xlogy(na - sa, 1 - t)
            tail = _log_tail_vec(t, a0 + sa, b0 + na - sa, side) - _log_tail_vec(t, a0, b0, side)
            terms_a.append(mix_a + tail)
        term_a = np.where(vacuous, 0.0, special.logsumexp(np.array(terms_a), axis=0) - math.log(len(terms_a)))
        terms_b = []
        for k in ks_of(kb):
            c0, d0 = k * nus, k * (1 - nus)
            terms_b.append(special.betaln(c0 + sb, d0 + nb - sb) - special.betaln(c0, d0) - special.xlogy(sb, nus) - special.xlogy(nb - sb, 1 - nus))
        mix_b = special.logsumexp(np.array(terms_b), axis=0) - math.log(len(terms_b))
        return term_a + np.logaddexp(0.0, mix_b) - math.log(2)

    # Grid: uniform in logit over the whole range, plus a fine uniform grid over [lo, min(hi, 0.25)]
    # where the rates of these tests live.
    logit = lo + (hi - lo) * special.expit(np.linspace(-30, 30, 1500))
    fine = np.linspace(lo, min(hi, 0.25), 4000)
    grid = np.unique(np.concatenate([logit, fine, [lo, hi]]))
    values = f_grid(grid)
    i = int(np.argmin(values))
    left, right = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    best_x, best = grid[i], values[i]
    if right > left:
        r = optimize.minimize_scalar(f, bounds=(left, right), method="bounded", options={"xatol": 1e-14})
        if r.fun < best:
            best_x, best = r.x, r.fun
    # The least-favourable point's value once more, pointwise and through savvi itself.
    return {"logE": float(best), "nuisance": float(best_x), "savviAtNuisance": float(f(best_x, savvi_log_mixture))}


def quantile(a):
    """inf over every threshold q of the two indicator mixtures, by brute force over all thresholds."""
    x = np.sort(np.asarray(a["a"], dtype=float))
    y = np.sort(np.asarray(a["b"], dtype=float))
    p, k, ratio, side, combine = a["p"], a["k"], a["ratio"], a["side"], a["combine"]
    z = np.sort(ratio * y)
    na, nb = len(x), len(z)
    qs = np.concatenate([x, z, [-np.inf, np.inf]])
    if side == "greater":
        ca = na - np.searchsorted(x, qs, side="right")  # #{a > q}
        cb = np.searchsorted(z, qs, side="left")  # #{r b < q}
        ta, tb = 1 - p, p
    else:
        ca = np.searchsorted(x, qs, side="left")  # #{a < q}
        cb = nb - np.searchsorted(z, qs, side="right")  # #{r b > q}
        ta, tb = p, 1 - p
    best = math.inf
    cache = {}
    for i, j in zip(ca.tolist(), cb.tolist()):
        if (i, j) in cache:
            continue
        la = mean_exp([one_sided(i, na, ta, kk, "greater", closed_log_mixture) for kk in ks_of(k)])
        lb = mean_exp([one_sided(j, nb, tb, kk, "greater", closed_log_mixture) for kk in ks_of(k)])
        v = la + hedged(lb) if combine == "product" else float(np.logaddexp(la, lb) - math.log(2))
        cache[(i, j)] = v
        best = min(best, v)
    return best


def proportion_bounds(a):
    s, n, alpha, k = a["s"], a["n"], a["alpha"], a["k"]
    limit = math.log(1 / alpha)
    rate = s / n

    def g(t):
        return savvi_log_mixture(s, n, t, k) - limit

    lower = 0.0 if rate <= EDGE or g(EDGE) < 0 else optimize.brentq(g, EDGE, rate, xtol=1e-12)
    upper = 1.0 if rate >= 1 - EDGE or g(1 - EDGE) < 0 else optimize.brentq(g, rate, 1 - EDGE, xtol=1e-12)
    return {"lower": lower, "upper": upper}


def psi_bounds(a):
    ref, cur, alpha, k, eps = a["reference"], a["current"], a["alpha"], a["k"], a["epsilon"]
    bins = len(ref)
    level = alpha / (2 * bins)
    nr, nc = sum(ref), sum(cur)
    rb = [proportion_bounds({"s": x, "n": nr, "alpha": level, "k": k}) for x in ref]
    cb = [proportion_bounds({"s": x, "n": nc, "alpha": level, "k": k}) for x in cur]

    def term(c, r):
        c, r = max(c, eps), max(r, eps)
        return (c - r) * math.log(c / r)

    # The least PSI over each bin's box by a bounded search on a grid, not by the closed form.
    lower = 0.0
    upper = 0.0
    for r, c in zip(rb, cb):
        rs = np.linspace(r["lower"], r["upper"], 201)
        cs = np.linspace(c["lower"], c["upper"], 201)
        vals = np.array([[term(ci, ri) for ri in rs] for ci in cs])
        lower += float(vals.min())
        upper += float(vals.max())
    return {"lower": lower, "upper": upper}


FUNCTIONS = {
    "special": special_fns,
    "mixture": mixture,
    "one_sided": one_sided_fn,
    "difference": difference,
    "quantile": quantile,
    "proportion_bounds": proportion_bounds,
    "psi_bounds": psi_bounds,
}


if __name__ == "__main__":
    serve(FUNCTIONS)
