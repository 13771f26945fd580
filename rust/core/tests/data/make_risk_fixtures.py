#!/usr/bin/env python3
"""Reference values for rust/core/tests/risk_vs_scipy.rs, computed with numpy/scipy only.

Inputs: close-to-close log returns of data/bars/btc_perp_1m_2022-01.csv.gz, and a 3-asset
portfolio made of that file's close, high and low log returns (three strongly but not
perfectly correlated real series). Writes risk_fixtures.json next to this script
(`pip install numpy scipy`, then `python3 make_risk_fixtures.py` in this directory).

Every value is computed independently of the Rust code: quantiles with np.quantile,
normal quantiles with scipy.stats.norm, moments with scipy.stats, the Cornish-Fisher ES
by numerical integration of the Cornish-Fisher quantile (scipy.integrate.quad, where the
Rust code uses a closed form), covariance with np.cov and a recursive EWMA, chi-square
p-values with scipy.stats.chi2, discrete Kelly by root-finding the derivative of the
expected log growth, multi-asset Kelly with np.linalg.solve.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os

import numpy as np
from scipy import integrate, optimize, special, stats

HERE = os.path.dirname(os.path.abspath(__file__))
BARS = os.path.join(HERE, "..", "..", "..", "..", "data", "bars", "btc_perp_1m_2022-01.csv.gz")
CONFIDENCES = [0.95, 0.99]
WEIGHTS = [0.5, 0.3, 0.2]
EWMA_LAMBDA = 0.94
BACKTEST_WINDOW = 1440  # one day of minutes
BACKTEST_CONFIDENCE = 0.99


def load() -> dict[str, np.ndarray]:
    cols: dict[str, list[float]] = {"close": [], "high": [], "low": []}
    with gzip.open(BARS, "rt") as f:
        for row in csv.DictReader(f):
            for k in cols:
                cols[k].append(float(row[k]))
    # math.log (the C library's log, as Rust's f64::ln) so both sides see the same bits.
    out = {}
    for k, v in cols.items():
        logs = [math.log(x) for x in v]
        out[k] = np.array([b - a for a, b in zip(logs, logs[1:])])
    return out


def hist(r: np.ndarray, c: float) -> dict:
    q = float(np.quantile(r, 1 - c))  # numpy's default linear interpolation
    return {"var": -q, "es": -float(r[r <= q].mean())}


def normal(mu: float, sd: float, c: float) -> dict:
    z = stats.norm.ppf(c)
    return {"var": -mu + sd * z, "es": -mu + sd * stats.norm.pdf(z) / (1 - c)}


def cornish_fisher(r: np.ndarray, c: float) -> dict:
    mu, sd = r.mean(), r.std(ddof=1)
    s, k = stats.skew(r), stats.kurtosis(r)  # biased, excess

    def zcf(z: float) -> float:
        return z + (z * z - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s * s / 36

    var = -(mu + sd * zcf(stats.norm.ppf(1 - c)))
    # ES: average of the CF quantile over the tail probabilities u in (0, 1 - c), integrated
    # in z = Phi^-1(u) (du = phi(z) dz) for accuracy near u = 0.
    integral, _ = integrate.quad(
        lambda z: zcf(z) * stats.norm.pdf(z), -np.inf, stats.norm.ppf(1 - c), epsabs=0, epsrel=1e-13, limit=200
    )
    return {"var": float(var), "es": float(-(mu + sd * integral / (1 - c)))}


def ewma_cov(R: np.ndarray, lam: float) -> np.ndarray:
    s = np.zeros((R.shape[1], R.shape[1]))
    for row in R:  # RiskMetrics recursion from zero, then normalized by the weight sum
        s = lam * s + (1 - lam) * np.outer(row, row)
    return s / (1 - lam ** R.shape[0])


def lr_tests(exc: np.ndarray, c: float) -> dict:
    t, x = len(exc), int(exc.sum())
    p = 1 - c
    ll0 = special.xlogy(t - x, 1 - p) + special.xlogy(x, p)
    ll1 = special.xlogy(t - x, 1 - x / t) + special.xlogy(x, x / t)
    pof = -2 * (ll0 - ll1)
    a, b = exc[:-1].astype(int), exc[1:].astype(int)
    n00 = int(((a == 0) & (b == 0)).sum())
    n01 = int(((a == 0) & (b == 1)).sum())
    n10 = int(((a == 1) & (b == 0)).sum())
    n11 = int(((a == 1) & (b == 1)).sum())
    pi0 = n01 / (n00 + n01)
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    l0 = special.xlogy(n00 + n10, 1 - pi) + special.xlogy(n01 + n11, pi)
    l1 = (
        special.xlogy(n00, 1 - pi0)
        + special.xlogy(n01, pi0)
        + special.xlogy(n10, 1 - pi1)
        + special.xlogy(n11, pi1)
    )
    ind = -2 * (l0 - l1)
    return {
        "n": t,
        "exceptions": x,
        "transitions": [n00, n01, n10, n11],
        "kupiec_lr": float(pof),
        "kupiec_p": float(stats.chi2.sf(pof, 1)),
        "christoffersen_lr": float(ind),
        "christoffersen_p": float(stats.chi2.sf(ind, 1)),
        "cc_lr": float(pof + ind),
        "cc_p": float(stats.chi2.sf(pof + ind, 2)),
    }


def kelly_discrete(p: float, b: float) -> float:
    # Root of d/df [p ln(1 + b f) + (1 - p) ln(1 - f)], bracketed inside (-1/b, 1).
    g = lambda f: p * b / (1 + b * f) - (1 - p) / (1 - f)  # noqa: E731
    return optimize.brentq(g, -1 / b + 1e-12, 1 - 1e-12, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def main() -> None:
    data = load()
    r = data["close"]
    R = np.column_stack([data["close"], data["high"], data["low"]])
    w = np.array(WEIGHTS)
    rp = R @ w
    mu_r, sd_r = float(r.mean()), float(r.std(ddof=1))
    means = R.mean(axis=0)
    cov = np.cov(R.T, ddof=1)
    cov_ewma = ewma_cov(R, EWMA_LAMBDA)

    out: dict = {"n_returns": len(r), "weights": WEIGHTS, "ewma_lambda": EWMA_LAMBDA}
    out["moments"] = {
        "mean": mu_r,
        "std": sd_r,
        "skew": float(stats.skew(r)),
        "excess_kurtosis": float(stats.kurtosis(r)),
    }
    out["single"] = {}
    out["portfolio"] = {}
    for c in CONFIDENCES:
        key = str(c)
        out["single"][key] = {
            "historical": hist(r, c),
            "normal": normal(mu_r, sd_r, c),
            "cornish_fisher": cornish_fisher(r, c),
        }
        sd_p = float(np.sqrt(w @ cov @ w))
        out["portfolio"][key] = {
            "historical": hist(rp, c),
            "normal_sample_cov": normal(float(means @ w), sd_p, c),
            "normal_ewma_cov_zero_mean": normal(0.0, float(np.sqrt(w @ cov_ewma @ w)), c),
            "cornish_fisher": cornish_fisher(rp, c),
        }
    out["means"] = means.tolist()
    out["cov_sample"] = cov.ravel().tolist()
    out["cov_ewma"] = cov_ewma.ravel().tolist()

    # Backtest: a rolling one-day historical VaR forecast for each later minute.
    n = len(r)
    var = np.full(n, np.nan)
    for t in range(BACKTEST_WINDOW, n):
        var[t] = -np.quantile(r[t - BACKTEST_WINDOW : t], 1 - BACKTEST_CONFIDENCE)
    exc = r[BACKTEST_WINDOW:] < -var[BACKTEST_WINDOW:]
    out["backtest"] = {"window": BACKTEST_WINDOW, "confidence": BACKTEST_CONFIDENCE, **lr_tests(exc, BACKTEST_CONFIDENCE)}

    out["kelly"] = {
        "discrete": [{"p": p, "b": b, "f": kelly_discrete(p, b)} for p, b in [(0.6, 1.0), (0.55, 2.0), (0.3, 4.0), (0.52, 0.9)]],
        "continuous": float(mu_r / r.var(ddof=1)),
        "multi_asset": np.linalg.solve(cov, means).tolist(),
    }
    out["special"] = {
        "norm_ppf": [[p, float(stats.norm.ppf(p))] for p in [1e-12, 1e-6, 0.001, 0.01, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99, 0.999999]],
        "norm_cdf": [[x, float(stats.norm.cdf(x))] for x in [-8.0, -3.0, -1.5, -0.1, 0.0, 0.4, 2.0, 5.0]],
        "chi2_sf": [[x, k, float(stats.chi2.sf(x, k))] for x in [0.001, 0.5, 1.0, 3.84, 10.0, 40.0] for k in [1, 2, 5]],
    }
    with open(os.path.join(HERE, "risk_fixtures.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
