"""The distributions every forecast model shares, on arrays: one scipy call for many trials or sites.

Closed forms (lambda a Poisson rate with a Gamma(a, b) posterior, b per unit of time):
- the time R to k more enrolments at rate lambda is Gamma(k, lambda); mixed over lambda, R/b is beta prime,
  R = b*B/(1 - B) with B ~ Beta(k, a): quantiles from Beta quantiles, P(R <= t) = I_{t/(b+t)}(k, a).
- the number X enrolled in the next H units of time is Poisson(lambda*H); mixed over lambda, X is negative
  binomial with size a and success probability b/(b + H) (mean a*H/b).
- a sum of independent negative binomials with one probability p is NegBin(sum of sizes, p) exactly;
  with different probabilities its pmf is the convolution of theirs (multi.total_pmf).
scipy.stats checks its arguments on every call, which costs more than the arithmetic of one value: the
summary of 150 trials calls these functions on arrays once rather than 1,500 times one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBS = (0.05, 0.5, 0.95)
TAIL = 1e-12  # the probability a pmf may leave out beyond its last count


def stats():
    """scipy.stats, imported on first use: half a second that a command without a forecast
    (the command line's `extracts`, `validate`, `ingest`) need not pay."""
    from scipy import stats as scipy_stats

    return scipy_stats


def time_quantiles(a, b, k, probs=PROBS) -> np.ndarray:
    """Quantiles of R = b*B/(1-B), B ~ Beta(k, a), for arrays a, b, k (one row per element, one column per
    prob). B/(1-B) with 1-B ~ Beta(a, k) taken from its own quantile: no cancellation when B is near 1."""
    a, b, k = (np.asarray(x, dtype=float)[..., None] for x in (a, b, k))
    p = np.asarray(probs)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # inf days for a near-vague prior
        return b * stats().beta.ppf(p, k, a) / stats().beta.ppf(1 - p, a, k)


def time_cdf(a, b, k, left) -> np.ndarray:
    """P(R <= left) for R as in time_quantiles; 0 where left <= 0."""
    a, b, k, left = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (a, b, k, left)))
    positive = left > 0
    x = np.where(positive, left / (b + np.where(positive, left, 1.0)), 0.5)
    return np.where(positive, stats().beta.cdf(x, k, a), 0.0)


@dataclass(frozen=True)
class Prediction:
    """The number enrolled by a day: median and 90% interval (5% and 95% quantiles)."""

    median: int
    p05: int
    p95: int


def negbin_quantiles(enrolled, shape, rate, exposure, probs=PROBS) -> np.ndarray:
    """m + the quantiles of NegBin(shape, rate/(rate + H)) for arrays (rows) and probs (columns); m itself
    where H <= 0 (nothing more)."""
    m, a, b, h = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (enrolled, shape, rate, exposure)))
    ahead = h > 0
    p = np.where(ahead, b / (b + np.where(ahead, h, 1.0)), 0.5)
    q = stats().nbinom.ppf(np.asarray(probs), a[..., None], p[..., None])
    return m[..., None] + np.where(ahead[..., None], q, 0.0)


def negbin_reaching(enrolled, needed, shape, rate, exposure) -> np.ndarray:
    """P(m + X >= needed), X ~ NegBin(shape, rate/(rate + H)): 1 when m >= needed, else 0 when H <= 0."""
    m, n, a, b, h = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (enrolled, needed, shape, rate, exposure)))
    ahead = h > 0
    p = np.where(ahead, b / (b + np.where(ahead, h, 1.0)), 0.5)
    sf = stats().nbinom.sf(n - m - 1, a, p)
    return np.where(m >= n, 1.0, np.where(ahead, sf, 0.0))


def predict_enrolled(enrolled: int, shape: float, rate: float, exposure: float) -> Prediction:
    """m + X where X | lambda ~ Poisson(lambda*H) and lambda ~ Gamma(a, b): X is negative binomial with
    size a and success probability b/(b + H), exactly (H = 0: nothing more)."""
    p05, median, p95 = negbin_quantiles(enrolled, shape, rate, exposure)
    return Prediction(int(median), int(p05), int(p95))


def probability_reaching(enrolled: int, needed: int, shape: float, rate: float, exposure: float) -> float:
    """P(m + X >= needed), X negative binomial as in predict_enrolled."""
    return float(negbin_reaching(enrolled, needed, shape, rate, exposure))
