"""Bayesian accrual forecast (Gajewski, Simon & Carlson, Stat Med 2008; R package `accrual`).

Waiting times between enrolments are exponential with rate lambda per day. The plan (target n in T days)
is a prior lambda ~ Gamma(shape=n*P, rate=T*P), P in (0, 1] weighing it like P times the planned trial's
data. After m enrolments in t days the posterior is Gamma(a=n*P + m, b=T*P + t) and the remaining time R
to the target satisfies R/b ~ BetaPrime(n - m, a), so quantiles and P(on time) are exact.

Sites that open (or close) at other times are the multi-centre refinement (forecast_multicentre): the
elapsed time t becomes each site's share-weighted time open, and the future rate follows the sites open.
forecast_recent fits the same model to a recent window only (the recent pace); predict_enrolled gives the
number enrolled by a day, negative binomial under the same Gamma posterior (the `accrual` package's
prediction of n at a time).
Pure Python (no Streamlit) so the pages and the command line share it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

_PROBS = (0.05, 0.5, 0.95)


def _stats():
    """scipy.stats, imported on first use: half a second that a command without a forecast
    (the command line's `extracts`, `validate`, `ingest`) need not pay."""
    from scipy import stats

    return stats


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


@dataclass(frozen=True)
class SitePlan:
    """A site of a multi-centre trial, in days relative to now (the as-of date).

    opens_in_days: > 0 opens that many days from now; <= 0 opened that many days ago and recruited in
    the elapsed period from then on (-elapsed or earlier, -math.inf included: throughout); math.inf: no
    opening date. closes_in_days: it stops recruiting then (<= 0: closed already); math.inf: stays open.
    share: its planned fraction of the overall accrual rate lambda (the shares sum to 1).
    """

    opens_in_days: float
    share: float
    closes_in_days: float = math.inf


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
    p = np.array(_PROBS)
    # B/(1-B) with 1-B ~ Beta(a, k) taken from its own quantile: no cancellation when B is near 1.
    with np.errstate(divide="ignore", over="ignore"):  # inf days for a near-vague prior is the answer
        p05, median, p95 = b * _stats().beta.ppf(p, k, a) / _stats().beta.ppf(1 - p, a, k)
    p_on_time = float(_stats().beta.cdf(left / (b + left), k, a)) if left > 0 else 0.0
    return float(p05), float(median), float(p95), p_on_time


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
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    a, b, k = _posterior(target, enrolled, elapsed_days, planned_days, certainty)
    if k == 0:
        return _reached(a, b)
    return _summarise(_draw_remaining(k, a, b, draws, seed), planned_days - elapsed_days, a, b, k)


# ---- multi-centre: sites that open or close at other times ---------------------------------------


def open_share(sites: list[SitePlan], day: float) -> float:
    """The planned share of lambda recruiting on `day` (days from now)."""
    return sum(s.share for s in sites if s.opens_in_days <= day < s.closes_in_days)


def exposure_days(sites: list[SitePlan], elapsed_days: float) -> float:
    """Share-weighted days of recruitment in the elapsed period, the days [-elapsed, 0)."""
    total = 0.0
    for s in sites:
        start, stop = max(s.opens_in_days, -elapsed_days), min(s.closes_in_days, 0.0)
        if stop > start:
            total += s.share * (stop - start)
    return total


def _breaks(sites: list[SitePlan]) -> list[float]:
    """0 and every future day on which the open share changes."""
    days = {d for s in sites for d in (s.opens_in_days, s.closes_in_days) if 0 < d < math.inf}
    return sorted({0.0} | days)


def _check_sites(sites: list[SitePlan], enrolled: int, elapsed_days: float) -> None:
    if not sites:
        raise ValueError("sites must list at least one SitePlan")
    if any(not s.share >= 0 or math.isnan(s.opens_in_days) or math.isnan(s.closes_in_days) for s in sites):
        raise ValueError("sites: every share must be >= 0 and every opens_in_days and closes_in_days a number")
    if any(s.closes_in_days < s.opens_in_days for s in sites):
        raise ValueError("sites: a site closes before it opens")
    if not math.isclose(sum(s.share for s in sites), 1.0, abs_tol=1e-6):
        raise ValueError(f"sites: shares must sum to 1, got {sum(s.share for s in sites):g}")
    if enrolled > 0 and exposure_days(sites, elapsed_days) == 0:
        raise ValueError("sites: enrolled > 0 but no site with a share is open")
    if all(open_share(sites, day) == 0 for day in _breaks(sites)):
        raise ValueError("sites: no site with a share ever opens (again), the target cannot be reached")


def _days_needed(need: np.ndarray, sites: list[SitePlan]) -> np.ndarray:
    """Invert H(R) = integral of the open share over [0, R], piecewise linear, at `need` share-days."""
    days = np.full(np.shape(need), np.inf)
    breaks = _breaks(sites)
    done = 0.0  # H at the start of the piece
    for i, start in enumerate(breaks):
        share = open_share(sites, start)
        end = breaks[i + 1] if i + 1 < len(breaks) else math.inf
        if share > 0:
            within = (need >= done) & (need <= done + share * (end - start))
            days = np.where(within, start + (need - done) / share, days)
            done += share * (end - start)
    return days


def _constant_ahead(sites: list[SitePlan]) -> bool:
    return _breaks(sites) == [0.0]


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
    """Forecast when sites open (or close) at different times (after Jiang, Simon, Mayo & Gajewski 2015,
    simplified: one overall rate lambda split over sites by their planned shares, instead of a rate per
    site).

    Derivation. The prior on lambda is the plan's, Gamma(nP, TP): lambda is the rate with every site
    recruiting. Site i recruits at lambda*s_i while open, so the m enrolments of the elapsed period are
    Poisson with mean lambda*E, E the sum over sites of s_i times the days site i was open in it (its
    exposure), and conjugacy gives lambda ~ Gamma(nP + m, TP + E). Every site open throughout gives E = t,
    the single-centre model. Ahead, accrual has intensity lambda*S(u), S(u) the share open u days from
    now; the k-th enrolment comes when lambda*H(R) = G, G ~ Gamma(k, 1), H(R) the integral of S over
    [0, R]. When S is constant ahead (nobody opens or closes later), R = G/(lambda*S) and R*S/b ~
    BetaPrime(k, a): the closed form with rate b/S, exact. Otherwise H is piecewise linear and
    R = H^-1(G/lambda) is drawn piece by piece (Monte-Carlo, the same for a seed). Forecast.shape/rate
    are lambda's posterior.
    """
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    _check_sites(sites, enrolled, elapsed_days)
    if not draws >= 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    a, b, k = _posterior(target, enrolled, exposure_days(sites, elapsed_days), planned_days, certainty)
    return _from_posterior(a, b, k, planned_days - elapsed_days, sites, draws, seed)


def _from_posterior(a: float, b: float, k: int, left: float, sites: list[SitePlan], draws: int, seed: int) -> Forecast:
    """The time to k more enrolments when lambda ~ Gamma(a, b) and the sites recruit as planned ahead."""
    if k == 0:
        return _reached(a, b)
    if _constant_ahead(sites):
        p05, median, p95, p_on_time = _closed_form(a, b / open_share(sites, 0.0), k, left)
        return Forecast(median, p05, p95, p_on_time, a, b, k)
    days = _days_needed(_draw_remaining(k, a, b, draws, seed), sites)
    return _summarise(days, left, a, b, k)


def recent_posterior(
    target: int, recent_enrolled: int, window_days: float, planned_days: float, sites: list[SitePlan], certainty: float
) -> tuple[float, float]:
    """(shape, rate) of lambda fitted to the last `window_days` only: the same model, with the plan's rate
    n/T weighed like `certainty` times the window's worth of data, Gamma(nP*E/T, P*E), E the window's
    share-weighted exposure; then Gamma(nP*E/T + m_w, (1 + P)*E) after the m_w enrolments of the window.
    The posterior mean rate (P*n/T + m_w/E)/(1 + P) blends the plan's pace and the recent pace, P to 1."""
    exposure = exposure_days(sites, window_days)
    if not exposure > 0:
        raise ValueError("no site with a share was open in the recent window")
    return target * certainty * exposure / planned_days + recent_enrolled, (1 + certainty) * exposure


def forecast_recent(
    target: int,
    enrolled: int,
    recent_enrolled: int,
    elapsed_days: float,
    planned_days: float,
    sites: list[SitePlan],
    window_days: float,
    certainty: float = 0.5,
    draws: int = 20_000,
    seed: int = 0,
) -> Forecast:
    """The forecast at the recent pace: forecast_multicentre's model with lambda learnt from the last
    `window_days` (shortened to the time open) instead of the whole history (recent_posterior). Every site
    open throughout the window gives E = window: a = nP*W/T + m_w, b = (1 + P)*W, and the remaining time
    R = b*B/(1 - B), B ~ Beta(n - m, a), exactly as in forecast_completion."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    _check_sites(sites, enrolled, elapsed_days)
    if not (_is_whole(recent_enrolled) and 0 <= recent_enrolled <= enrolled):
        raise ValueError(f"recent_enrolled must be a whole number from 0 to enrolled, got {recent_enrolled!r}")
    if not window_days > 0:
        raise ValueError(f"window_days must be > 0, got {window_days!r}")
    a, b = recent_posterior(target, recent_enrolled, min(window_days, elapsed_days), planned_days, sites, certainty)
    return _from_posterior(a, b, max(int(target) - int(enrolled), 0), planned_days - elapsed_days, sites, draws, seed)


# ---- the number enrolled by a day (the `accrual` package's prediction of n at a time) -------------------


@dataclass(frozen=True)
class Prediction:
    """The number enrolled by a day: median and 90% interval (5% and 95% quantiles)."""

    median: int
    p05: int
    p95: int


def exposure_ahead(sites: list[SitePlan], days: float) -> float:
    """Share-weighted days of recruitment from now to `days` ahead: H(days), the integral of the open share."""
    if not days > 0:
        return 0.0
    total = 0.0
    for s in sites:
        start, stop = max(s.opens_in_days, 0.0), min(s.closes_in_days, days)
        if stop > start:
            total += s.share * (stop - start)
    return total


def predict_enrolled(enrolled: int, shape: float, rate: float, exposure: float) -> Prediction:
    """m + X where X | lambda ~ Poisson(lambda*H) and lambda ~ Gamma(a, b): X is negative binomial with
    size a and success probability b/(b + H), exactly (H = 0: nothing more)."""
    if not exposure > 0:
        return Prediction(int(enrolled), int(enrolled), int(enrolled))
    p05, median, p95 = _stats().nbinom.ppf(_PROBS, shape, rate / (rate + exposure))
    return Prediction(int(enrolled + median), int(enrolled + p05), int(enrolled + p95))


def probability_reaching(enrolled: int, needed: int, shape: float, rate: float, exposure: float) -> float:
    """P(m + X >= needed), X negative binomial as in predict_enrolled."""
    if enrolled >= needed:
        return 1.0
    if not exposure > 0:
        return 0.0
    return float(_stats().nbinom.sf(needed - enrolled - 1, shape, rate / (rate + exposure)))


def predict_enrolled_by_end(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, certainty: float = 0.5
) -> Prediction:
    """The number enrolled by the planned end under forecast_completion's posterior Gamma(nP + m, TP + t):
    m + NegBin(nP + m, b/(b + T - t)), not capped at the target (the model does not stop recruiting)."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    shape, rate = target * certainty + enrolled, planned_days * certainty + elapsed_days
    return predict_enrolled(enrolled, shape, rate, planned_days - elapsed_days)


def forecast_fan(
    target: int,
    enrolled: int,
    elapsed_days: float,
    planned_days: float,
    sites: list[SitePlan] | None = None,
    certainty: float = 0.5,
    points: int = 40,
    draws: int = 20_000,
    seed: int = 0,
    posterior: tuple[float, float] | None = None,
) -> list[tuple[int, float, float, float]]:
    """The forecast fan: for counts from just above `enrolled` up to `target`, (count, p05, median, p95)
    of the days from now until that count is reached, under forecast_multicentre's model (sites None:
    every site open throughout, forecast_completion's). At most `points` counts, always the target last,
    whose row equals the forecast's quantiles. Exact unless a site opens or closes later. `posterior`
    (shape, rate): lambda's posterior from elsewhere (the recent pace) instead of the whole history's."""
    sites = sites if sites is not None else [SitePlan(-math.inf, 1.0)]
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    _check_sites(sites, enrolled, elapsed_days)
    a, b, k = _posterior(target, enrolled, exposure_days(sites, elapsed_days), planned_days, certainty)
    if posterior is not None:  # lambda learnt otherwise (forecast_recent's recent_posterior)
        a, b = posterior
    if k == 0:
        return [(int(target), 0.0, 0.0, 0.0)]
    steps = np.unique(np.linspace(1, k, max(1, min(points, k))).round().astype(int))
    p = np.array(_PROBS)
    rows = []
    if _constant_ahead(sites):
        scale = b / open_share(sites, 0.0)
        with np.errstate(divide="ignore", over="ignore"):
            for j in steps:
                p05, median, p95 = scale * _stats().beta.ppf(p, j, a) / _stats().beta.ppf(1 - p, a, j)
                rows.append((int(enrolled + j), float(p05), float(median), float(p95)))
        return rows
    for j in steps:
        # The same seed per count as forecast_multicentre, so the target's row is its forecast.
        days = _days_needed(_draw_remaining(int(j), a, b, draws, seed), sites)
        p05, median, p95 = np.quantile(days, p)
        rows.append((int(enrolled + j), float(p05), float(median), float(p95)))
    return rows


def status_from_probability(p_on_time: float, green: float, amber: float) -> str:
    """Traffic light: 'green' at or above `green`, 'amber' at or above `amber`, else 'red'."""
    if amber > green:
        raise ValueError(f"amber ({amber}) must not be above green ({green})")
    return "green" if p_on_time >= green else "amber" if p_on_time >= amber else "red"
