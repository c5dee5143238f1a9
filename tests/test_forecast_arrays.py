"""The programme summary computes every trial's forecasts on arrays at once (metrics._forecasts_at_once): equal to
the same forecasts computed one by one with scalar scipy calls, to 1e-9, on every demo trial and at N = 100 (150
trials of 2,000 at two sites each, 300,000 participants, as `python -m dashboard bench` generates them), under the
model each trial declares (the per-site model, the default for these trials of two sites) and under the one-rate
model (`forecast_model: single`)."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboard import bench, demo, metrics
from dashboard.config import Programme
from dashboard.forecast import exposure_ahead, forecast_multicentre, forecast_recent, forecast_sites, multi, open_share
from dashboard.forecast.multi import Site, site_parameters

AS_OF = dt.date(2026, 11, 21)


def scalar_quantiles(a: float, scale: float, k: int) -> tuple[float, float, float]:
    """p05, median, p95 of scale*B/(1-B), B ~ Beta(k, a), one scalar scipy call per number."""
    return tuple(scale * stats.beta.ppf(p, k, a) / stats.beta.ppf(1 - p, a, k) for p in (0.05, 0.5, 0.95))


def scalar_by_end(m: int, shape: float, rate: float, ahead: float) -> tuple[int, int, int]:
    if not ahead > 0:
        return m, m, m
    return tuple(int(m + stats.nbinom.ppf(p, shape, rate / (rate + ahead))) for p in (0.05, 0.5, 0.95))


def close(x: float, y: float) -> bool:
    return (math.isinf(x) and x == y) or abs(x - y) <= 1e-9 * max(1.0, abs(y))


def scalar_below(target: int, planned: float, certainty: float, sites, days: float, need: int) -> float:
    """P(sum of the sites' negative binomials by `days` < need), each site's pmf one scalar scipy call."""
    size, rate, ahead = site_parameters(target, planned, certainty, sites, days)
    pmf = np.ones(1)
    for a, b, h in zip(size, rate, ahead, strict=True):
        if h > 0 and a > 0:
            pmf = np.convolve(pmf, stats.nbinom.pmf(np.arange(need), a, b / (b + h)))[:need]
    return float(pmf[:need].sum())


def check_per_site(programme: Programme, trial, accrual, got: dict) -> int:
    """The per-site model's forecasts of the summary against forecast_sites one by one, and against scalar scipy pmfs:
    the chance on time, the number by the planned end, and each completion day the first whose chance reaches q."""
    certainty, months = programme.forecast_prior_certainty, programme.forecast_recent_months
    target, enrolled, elapsed, planned = metrics._outlook_args(trial, accrual)
    compared = 0
    for key, window in (("since", None), ("recent", months)):
        sites = metrics.basis_sites(trial, accrual, certainty, window)
        want, have = forecast_sites(target, enrolled, elapsed, planned, sites, certainty, per_site=False), got[key]
        days = [math.inf if d is None else d for d in (want.median_days, want.p05_days, want.p95_days)]
        assert (have.median_days, have.p05_days, have.p95_days) == tuple(days)
        assert close(have.p_on_time, want.p_on_time)
        need = target - enrolled
        if need > 0:
            assert close(have.p_on_time, 1 - scalar_below(target, planned, certainty, sites, planned - elapsed, need))
            for q, day in zip((0.5, 0.05, 0.95), days, strict=True):
                if math.isfinite(day):
                    assert 1 - scalar_below(target, planned, certainty, sites, day, need) >= q > 1 - scalar_below(target, planned, certainty, sites, day - 1, need)
        if key == ("recent" if programme.status_basis == "recent" else "since"):
            assert [got["by_end"][k] for k in metrics.BY_END_KEYS] == [want.enrolled_by_end_median, want.enrolled_by_end_p05, want.enrolled_by_end_p95]
        compared += 7
    return compared


def check_every_trial(programme: Programme, participants: pd.DataFrame) -> int:
    """Compares every trial's batched forecasts with scalar ones; returns the number of numbers compared."""
    accruals = metrics.accruals(participants, AS_OF)
    items = [(programme.trials[c], accruals.get(c, metrics.Accrual(AS_OF)), True) for c in programme.trials]
    batched = metrics._forecasts_at_once(programme, items)
    certainty, months = programme.forecast_prior_certainty, programme.forecast_recent_months
    compared = 0
    for (trial, accrual, _), got in zip(items, batched, strict=True):
        if metrics.declared_model(programme, trial) == "multicentre":
            compared += check_per_site(programme, trial, accrual, got)
            continue
        target, enrolled, elapsed, planned, sites = metrics._forecast_args(trial, accrual)
        recent = min(metrics.recent_enrolled(accrual, months), enrolled)
        one_by_one = {
            "since": forecast_multicentre(target, enrolled, elapsed, planned, sites, certainty),
            "recent": forecast_recent(target, enrolled, recent, elapsed, planned, sites, metrics.window_days(months), certainty),
        }
        for key, want in one_by_one.items():
            have = got[key]
            assert (have.median_days, have.p05_days, have.p95_days, have.p_on_time) == pytest.approx(
                (want.median_days, want.p05_days, want.p95_days, want.p_on_time), rel=1e-9, abs=1e-9)
            if want.remaining and metrics._site_plans(trial, accrual) and all(s.opens_in_days <= 0 for s in sites):
                scale = want.rate / open_share(sites, 0.0)
                p05, median, p95 = scalar_quantiles(want.shape, scale, want.remaining)
                assert all(close(a, b) for a, b in ((have.p05_days, p05), (have.median_days, median), (have.p95_days, p95)))
                left = planned - elapsed
                p_on_time = stats.beta.cdf(left / (scale + left), want.remaining, want.shape) if left > 0 else 0.0
                assert close(have.p_on_time, p_on_time)
                compared += 4
        basis = one_by_one["recent" if programme.status_basis == "recent" else "since"]
        left = (trial.planned_end_on(AS_OF) - AS_OF).days
        m = accrual.enrolled()
        want = scalar_by_end(m, basis.shape, basis.rate, exposure_ahead(sites, left))
        assert (got["by_end"]["enrolled_by_end_p05"], got["by_end"]["enrolled_by_end_median"], got["by_end"]["enrolled_by_end_p95"]) == want
        _, inputs = metrics._site_forecast_inputs(trial, accrual, certainty, months if programme.status_basis == "recent" else None)
        for site, m_site, shape, rate, ahead, own in inputs:
            row = got["per_site"][site]
            p05, median, p95 = scalar_by_end(m_site, shape, rate, ahead)
            assert (row["enrolled_by_end_p05"], row["enrolled_by_end_median"], row["enrolled_by_end_p95"]) == (p05, median, p95)
            chance = 1.0 if m_site >= own else stats.nbinom.sf(own - m_site - 1, shape, rate / (rate + ahead)) if ahead > 0 else 0.0
            assert row["p_target_by_end"] == round(float(chance), 4)
            compared += 4
        compared += 11
    return compared


def test_the_arrays_equal_the_scalar_forecasts_on_every_demo_trial(programme):
    participants = demo.simulate_programme(programme, AS_OF)
    assert all(metrics.declared_model(programme, t) == "multicentre" for t in programme.trials.values())
    assert check_every_trial(programme, participants) >= 3 * 14
    single = programme.model_copy(update={"forecast_model": "single"})
    assert check_every_trial(single, participants) >= 3 * 11


def test_the_arrays_equal_the_scalar_forecasts_at_national_scale():
    programme = Programme.model_validate(bench.scaled_config(100))
    rows = []
    for code, trial in programme.trials.items():
        for site, plan in trial.sites.items():
            rng = np.random.default_rng([2026, len(rows)])
            rows += [[code, *r] for r in bench._rows(rng, code, site, bench.PER_PAIR, plan.activated_on or trial.opened_on, AS_OF - dt.timedelta(days=30))]
    participants = pd.DataFrame(rows, columns=["trial", *bench.HEADER.split(",")]).replace("", None)
    assert len(programme.trials) == 150 and len(participants) == 300_000
    assert check_every_trial(programme, participants) >= 150 * 14
    assert check_every_trial(programme.model_copy(update={"forecast_model": "single"}), participants) >= 150 * 11


def test_the_completion_days_on_arrays_equal_the_bisection_where_the_sites_recruit_unalike():
    """The arrays start from the one-rate approximation of the answer and widen from there: exact wherever
    it misses (a site opening in two years, sites closing soon, one site ten times another's pace, a target
    out of reach), as the scalar bisection from [0, LONGEST_DAYS] gives them."""
    cases = [
        (300, 40, 400, 1200, [Site(400, 38), Site(-700, 0, 0.5)]),  # most of the way is the planned site's
        (300, 40, 400, 1200, [Site(400, 30, 0.5, 60), Site(400, 10, 0.5)]),  # the fast site closes in 60 days
        (200, 20, 300, 900, [Site(300, 19, 0.5, 30), Site(300, 1, 0.5, 90)]),  # both close: never
        (500, 110, 365, 1500, [Site(365, 100, 0.3), Site(365, 10, 0.3), Site(-30, 0, 0.4)]),
        (120, 119, 700, 720, [Site(700, 60), Site(700, 59)]),  # one to go
    ]
    problems = [multi.problem(n, m, elapsed, planned, sites, 0.5) for n, m, elapsed, planned, sites in cases]
    got = multi.outlooks_at_once(problems)
    for (n, m, elapsed, planned, sites), have in zip(cases, got, strict=True):
        want = forecast_sites(n, m, elapsed, planned, sites, 0.5, per_site=False)
        assert (have.median_days, have.p05_days, have.p95_days) == (want.median_days, want.p05_days, want.p95_days)
        assert close(have.p_on_time, want.p_on_time)
    assert got[2].median_days is None  # never, not a day found beyond the sites' closing
    assert got[0].median_days > 700  # the planned site's opening is most of the wait
