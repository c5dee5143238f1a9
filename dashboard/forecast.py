"""Bayesian accrual forecast (Gajewski, Simon & Carlson, Stat Med 2008; R package `accrual`).

Waiting times between enrolments are exponential with rate lambda per day. The plan (target n in T days)
is a prior lambda ~ Gamma(shape=n*P, rate=T*P), P in (0, 1] weighing it like P times the planned trial's
data. After m enrolments in t days the posterior is Gamma(a=n*P + m, b=T*P + t) and the remaining time R
to the target satisfies R/b ~ BetaPrime(n - m, a), so quantiles and P(on time) are exact.
Pure Python (no Streamlit) so the pages and the command line share it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

_PROBS = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class Forecast:
    """Days from now to the target (quantiles), P(target by the planned end), posterior of lambda."""

    median_days: float
    p05_days: float
    p95_days: float
    p_on_time: float
    shape: float  # posterior Gamma shape of the overall rate lambda
    rate: float  # posterior Gamma rate of lambda, per day
    remaining: int  # enrolments still needed, never negative

    def dates(self, today: dt.date) -> dict[str, str | float | None]:
        """ISO dates `median`, `p05`, `p95` and `p_on_time`.

        Each date is today + ceil(days): the first calendar day by which the forecast time has fully
        elapsed, so a date is never optimistic by a fraction of a day (0 days -> today). A date beyond
        the calendar (a near-vague prior with no enrolments) is None.
        """
        out: dict[str, str | float | None] = {}
        for key, days in (("median", self.median_days), ("p05", self.p05_days), ("p95", self.p95_days)):
            try:
                out[key] = (today + dt.timedelta(days=math.ceil(days))).isoformat()
            except (OverflowError, ValueError):
                out[key] = None
        out["p_on_time"] = self.p_on_time
        return out


@dataclass(frozen=True)
class SitePlan:
    """A site of a multi-centre trial: opens_in_days <= 0 means open already (and during the elapsed
    period), > 0 opens that many days from now, math.inf has no opening date; share is its planned
    fraction of the overall accrual rate (shares sum to 1)."""

    opens_in_days: float
    share: float


def _is_whole(x: object) -> bool:
    # Counts may come from pandas as numpy ints or integral floats; bools and NaN are mistakes.
    return (
        isinstance(x, (int, float, np.integer, np.floating))
        and not isinstance(x, bool)
        and float(x).is_integer()
    )


def _validate(target: int, enrolled: int, elapsed_days: float, planned_days: float, certainty: float) -> None:
    # `not (x > 0)` style so that NaN is rejected too.
    if not _is_whole(target) or not target > 0:
        raise ValueError(f"target must be a positive whole number, got {target!r}")
    if not _is_whole(enrolled) or not enrolled >= 0:
        raise ValueError(f"enrolled must be a whole number >= 0, got {enrolled!r}")
    if not (math.isfinite(elapsed_days) and elapsed_days >= 0):
        raise ValueError(f"elapsed_days must be finite and >= 0, got {elapsed_days!r}")
    if not (math.isfinite(planned_days) and planned_days > 0):
        raise ValueError(f"planned_days must be finite and > 0, got {planned_days!r}")
    if not 0 < certainty <= 1:
        raise ValueError(f"certainty must be in (0, 1], got {certainty!r}")


def _posterior(
    target: int,
    enrolled: int,
    elapsed_days: float,
    planned_days: float,
    certainty: float,
    open_share: float = 1.0,
) -> tuple[float, float, int]:
    """(shape, rate) of lambda and the enrolments still needed; data seen at rate lambda * open_share."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    shape = target * certainty + enrolled
    rate = planned_days * certainty + open_share * elapsed_days
    return shape, rate, max(int(target) - int(enrolled), 0)


def _reached(shape: float, rate: float) -> Forecast:
    return Forecast(0.0, 0.0, 0.0, 1.0, shape, rate, 0)


def forecast_completion(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, certainty: float = 0.5
) -> Forecast:
    """Exact forecast: R = b*B/(1-B) with B ~ Beta(n - m, a)."""
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty)
    if k == 0:
        return _reached(a, b)
    p = np.array(_PROBS)
    # B/(1-B) with 1-B ~ Beta(a, k) taken from its own quantile: no cancellation when B is near 1.
    with np.errstate(divide="ignore", over="ignore"):  # inf days for a near-vague prior is the answer
        p05, median, p95 = b * stats.beta.ppf(p, k, a) / stats.beta.ppf(1 - p, a, k)
    left = planned_days - elapsed_days
    p_on_time = float(stats.beta.cdf(left / (b + left), k, a)) if left > 0 else 0.0
    return Forecast(float(median), float(p05), float(p95), p_on_time, a, b, k)


def _summarise(days: np.ndarray, left: float, shape: float, rate: float, remaining: int) -> Forecast:
    p05, median, p95 = np.quantile(days, _PROBS)
    return Forecast(
        float(median), float(p05), float(p95), float(np.mean(days <= left)), shape, rate, remaining
    )


def _draw_remaining(remaining: int, shape: float, rate: float, draws: int, seed: int) -> np.ndarray:
    """Remaining days per draw: lambda from the posterior, then Gamma(k, 1)/lambda, the sum of k waits."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(shape, 1.0 / rate, draws)
    return rng.gamma(remaining, 1.0, draws) / lam


def simulate_completion(
    target: int,
    enrolled: int,
    elapsed_days: float,
    planned_days: float,
    certainty: float = 0.5,
    draws: int = 200_000,
    seed: int = 0,
) -> Forecast:
    """Monte-Carlo of the same model, to cross-check forecast_completion."""
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty)
    if k == 0:
        return _reached(a, b)
    return _summarise(_draw_remaining(k, a, b, draws, seed), planned_days - elapsed_days, a, b, k)


def forecast_multicentre(
    target: int,
    enrolled: int,
    elapsed_days: float,
    planned_days: float,
    sites: list[SitePlan],
    certainty: float = 0.5,
    draws: int = 20_000,
    seed: int = 0,
) -> Forecast:
    """Forecast when some sites open later (Jiang, Simon, Mayo & Gajewski 2015, simplified: one overall
    rate lambda split over sites by their planned shares, instead of a rate per site).

    Derivation. The prior on lambda is the plan's, Gamma(nP, TP). Only the sites open now (share S, taken
    as open throughout the elapsed t days) recruited, so the m enrolments are Poisson with mean lambda*S*t
    and conjugacy gives lambda ~ Gamma(nP + m, TP + S*t). Equivalently the open sites' rate lambda*S is
    Gamma(nP + m, TP/S + t): a prior mean of n*S/T, their planned part (TP*S + t would make it n/(T*S)).
    Ahead, accrual has intensity lambda*S(u), S(u) the shares open u days from now. The k-th enrolment
    comes when lambda * H(R) = G, G ~ Gamma(k, 1), H(R) = integral of S over [0, R]; H is piecewise linear,
    so R = H^-1(G/lambda) piece by piece. With every site open S = 1, H(R) = R and R = G/lambda, the draws
    of simulate_completion, which agree with forecast_completion. Forecast.shape/rate are lambda's.
    """
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    if not sites:
        raise ValueError("sites must list at least one SitePlan")
    if any(not s.share >= 0 or math.isnan(s.opens_in_days) for s in sites):
        raise ValueError("sites: every share must be >= 0 and every opens_in_days a number")
    if not math.isclose(sum(s.share for s in sites), 1.0, abs_tol=1e-6):
        raise ValueError(f"sites: shares must sum to 1, got {sum(s.share for s in sites):g}")
    if not draws >= 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    open_share = sum(s.share for s in sites if s.opens_in_days <= 0)
    if open_share == 0 and enrolled > 0:
        raise ValueError("sites: enrolled > 0 but no site with a share is open")
    if sum(s.share for s in sites if math.isfinite(s.opens_in_days)) == 0:
        raise ValueError("sites: no site with a share ever opens, the target cannot be reached")
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty, open_share)
    if k == 0:
        return _reached(a, b)

    need = _draw_remaining(k, a, b, draws, seed)  # G/lambda: share-weighted days of accrual needed
    starts = sorted({0.0} | {s.opens_in_days for s in sites if 0 < s.opens_in_days < math.inf})
    days = np.full(draws, np.inf)
    done = 0.0  # H at the start of the piece
    for i, start in enumerate(starts):
        share = sum(s.share for s in sites if s.opens_in_days <= start)
        if share > 0:  # later pieces overwrite: the last piece starting below `need` holds R
            days = np.where(need >= done, start + (need - done) / share, days)
        if i + 1 < len(starts):
            done += share * (starts[i + 1] - start)
    return _summarise(days, planned_days - elapsed_days, a, b, k)


def status_from_probability(p_on_time: float, green: float, amber: float) -> str:
    """Traffic light: 'green' at or above `green`, 'amber' at or above `amber`, else 'red'."""
    if amber > green:
        raise ValueError(f"amber ({amber}) must not be above green ({green})")
    return "green" if p_on_time >= green else "amber" if p_on_time >= amber else "red"
