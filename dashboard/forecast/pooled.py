"""The multi-centre refinement with one overall rate (forecast_multicentre): sites that open or close at other
times share the trial's rate lambda by their planned shares; the elapsed time t becomes each site's
share-weighted time open, and the future rate follows the sites open. forecast_recent fits the same model
to a recent window only (the recent pace); forecast_fan gives the dates of every count up to the target.
The status and headline forecast use this model when the trial's declared `forecast_model` is `single` (the
default for a trial with one site, where it is the single-rate model exactly). The per-site model of Jiang et
al. 2015, the default for a trial with more than one site, is in multi.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dashboard.forecast.distributions import PROBS, time_cdf, time_quantiles
from dashboard.forecast.single import (
    Forecast,
    _draw_remaining,
    _is_whole,
    _posterior,
    _reached,
    _summarise,
    _validate,
)


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
    return resolve([multicentre_pending(target, enrolled, elapsed_days, planned_days, sites, certainty, draws, seed)])[0]


def multicentre_pending(
    target: int, enrolled: int, elapsed_days: float, planned_days: float, sites: list[SitePlan], certainty: float = 0.5,
    draws: int = 20_000, seed: int = 0,
) -> Forecast | ClosedForm:
    """forecast_multicentre, its closed form left to `resolve` (many trials' at once)."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    _check_sites(sites, enrolled, elapsed_days)
    if not draws >= 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    a, b, k = _posterior(target, enrolled, exposure_days(sites, elapsed_days), planned_days, certainty)
    return _from_posterior(a, b, k, planned_days - elapsed_days, sites, draws, seed)


@dataclass(frozen=True)
class ClosedForm:
    """A forecast whose closed form is still to be evaluated: R = scale*B/(1-B), B ~ Beta(k, a), with
    lambda ~ Gamma(shape, rate) and scale = rate / the share open ahead (resolve: many at once)."""

    shape: float
    rate: float
    scale: float
    remaining: int
    left: float


def resolve(items: list[Forecast | ClosedForm | None]) -> list[Forecast | None]:
    """The forecasts, every closed form among them evaluated by one array call per distribution function
    (scipy's argument checking once, not once per trial); the others as they are."""
    pending = [x for x in items if isinstance(x, ClosedForm)]
    if not pending:
        return list(items)
    a, scale, k, left = (np.array([getattr(x, f) for x in pending], dtype=float) for f in ("shape", "scale", "remaining", "left"))
    quantiles, p_on_time = time_quantiles(a, scale, k), time_cdf(a, scale, k, left)
    done = iter(range(len(pending)))
    out: list[Forecast | None] = []
    for x in items:
        if isinstance(x, ClosedForm):
            i = next(done)
            out.append(Forecast(float(quantiles[i, 1]), float(quantiles[i, 0]), float(quantiles[i, 2]), float(p_on_time[i]), x.shape, x.rate, x.remaining))
        else:
            out.append(x)
    return out


def _from_posterior(a: float, b: float, k: int, left: float, sites: list[SitePlan], draws: int, seed: int) -> Forecast | ClosedForm:
    """The time to k more enrolments when lambda ~ Gamma(a, b) and the sites recruit as planned ahead:
    the closed form (pending) when nobody opens or closes later, else drawn."""
    if k == 0:
        return _reached(a, b)
    if _constant_ahead(sites):
        return ClosedForm(a, b, b / open_share(sites, 0.0), k, left)
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
    return resolve([recent_pending(target, enrolled, recent_enrolled, elapsed_days, planned_days, sites, window_days, certainty, draws, seed)])[0]


def recent_pending(
    target: int, enrolled: int, recent_enrolled: int, elapsed_days: float, planned_days: float, sites: list[SitePlan],
    window_days: float, certainty: float = 0.5, draws: int = 20_000, seed: int = 0,
) -> Forecast | ClosedForm:
    """forecast_recent, its closed form left to `resolve`."""
    _validate(target, enrolled, elapsed_days, planned_days, certainty)
    _check_sites(sites, enrolled, elapsed_days)
    if not (_is_whole(recent_enrolled) and 0 <= recent_enrolled <= enrolled):
        raise ValueError(f"recent_enrolled must be a whole number from 0 to enrolled, got {recent_enrolled!r}")
    if not window_days > 0:
        raise ValueError(f"window_days must be > 0, got {window_days!r}")
    a, b = recent_posterior(target, recent_enrolled, min(window_days, elapsed_days), planned_days, sites, certainty)
    return _from_posterior(a, b, max(int(target) - int(enrolled), 0), planned_days - elapsed_days, sites, draws, seed)


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
    p = np.array(PROBS)
    rows = []
    if _constant_ahead(sites):  # every count at once: one array call
        quantiles = time_quantiles(a, b / open_share(sites, 0.0), steps)
        return [(int(enrolled + j), float(q[0]), float(q[1]), float(q[2])) for j, q in zip(steps, quantiles, strict=True)]
    for j in steps:
        # The same seed per count as forecast_multicentre, so the target's row is its forecast.
        days = _days_needed(_draw_remaining(int(j), a, b, draws, seed), sites)
        p05, median, p95 = np.quantile(days, p)
        rows.append((int(enrolled + j), float(p05), float(median), float(p95)))
    return rows
