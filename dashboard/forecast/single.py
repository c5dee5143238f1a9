"""The single-rate model (Gajewski, Simon & Carlson, Stat Med 2008; R package `accrual`).

Waiting times between enrolments are exponential with rate lambda per day. The plan (target n in T days)
is a prior lambda ~ Gamma(shape=n*P, rate=T*P), P in (0, 1] weighing it like P times the planned trial's
data. After m enrolments in t days the posterior is Gamma(a=n*P + m, b=T*P + t) and the remaining time R
to the target satisfies R/b ~ BetaPrime(n - m, a), so quantiles and P(on time) are exact
(distributions.time_quantiles, time_cdf). The number enrolled by the planned end is m + NegBin(a,
b/(b + T - t)) (predict_enrolled_by_end).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from dashboard.forecast.distributions import PROBS, Prediction, predict_enrolled, time_cdf, time_quantiles


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
            out[key] = day_after(today, days)
        out["p_on_time"] = self.p_on_time
        return out


def day_after(today: dt.date, days: float) -> str | None:
    """ISO date of today + ceil(days); None beyond the calendar."""
    try:
        return (today + dt.timedelta(days=math.ceil(days))).isoformat()
    except (OverflowError, ValueError):
        return None


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
    target: int, enrolled: int, exposure_days: float, planned_days: float, certainty: float
) -> tuple[float, float, int]:
    """(shape, rate) of lambda and the enrolments still needed, after `exposure_days` of full-rate accrual."""
    shape = target * certainty + enrolled
    rate = planned_days * certainty + exposure_days
    return shape, rate, max(int(target) - int(enrolled), 0)


def _reached(shape: float, rate: float) -> Forecast:
    return Forecast(0.0, 0.0, 0.0, 1.0, shape, rate, 0)

def _closed_form(a: float, b: float, k: int, left: float) -> tuple[float, float, float, float]:
    """(p05, median, p95, P(R <= left)) of R = b*B/(1-B), B ~ Beta(k, a)."""
    p05, median, p95 = time_quantiles(a, b, k)
    return float(p05), float(median), float(p95), float(time_cdf(a, b, k, left))


def forecast_completion(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, certainty: float = 0.5
) -> Forecast:
    """Exact forecast: R = b*B/(1-B) with B ~ Beta(n - m, a)."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty)
    if k == 0:
        return _reached(a, b)
    p05, median, p95, p_on_time = _closed_form(a, b, k, planned_days - elapsed_days)
    return Forecast(median, p05, p95, p_on_time, a, b, k)


def _summarise(days: np.ndarray, left: float, shape: float, rate: float, remaining: int) -> Forecast:
    p05, median, p95 = np.quantile(days, PROBS)
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
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty)
    if k == 0:
        return _reached(a, b)
    return _summarise(_draw_remaining(k, a, b, draws, seed), planned_days - elapsed_days, a, b, k)


def predict_enrolled_by_end(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, certainty: float = 0.5
) -> Prediction:
    """The number enrolled by the planned end under forecast_completion's posterior Gamma(nP + m, TP + t):
    m + NegBin(nP + m, b/(b + T - t)), not capped at the target (the model does not stop recruiting)."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    shape, rate = target * certainty + enrolled, planned_days * certainty + elapsed_days
    return predict_enrolled(enrolled, shape, rate, planned_days - elapsed_days)


def status_from_probability(p_on_time: float, green: float, amber: float) -> str:
    """Traffic light: 'green' at or above `green`, 'amber' at or above `amber`, else 'red'."""
    if amber > green:
        raise ValueError(f"amber ({amber}) must not be above green ({green})")
    return "green" if p_on_time >= green else "amber" if p_on_time >= amber else "red"
